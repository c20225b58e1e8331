// Wire messages of the agent <-> dispatcher session protocol (JSON over HTTP
// under /_shoal/dispatcher/v1/, on the manager's session listener: a unix
// socket <data-root>/dispatcher.sock for its own agent, mTLS TCP once nodes
// join across the network; never on the Docker API socket). Shared by src/agent and
// src/manager/dispatcher; built on the object model only.
//
//   POST /_shoal/dispatcher/v1/session     RegisterRequest -> RegisterResponse
//   POST /_shoal/dispatcher/v1/heartbeat   {"SessionID"}   -> {"HeartbeatPeriod", "Managers", "Role"} | 404 unknown session
//        (Managers: every manager's "ip:port", at most ~1 s old; Role: "manager" or
//        "worker", the role the node should have: node promote/demote)
//   GET  /_shoal/dispatcher/v1/assignments?session=S&since=G
//        long poll: answers when the node's assignment set changed after
//        generation G (or after ~25 s), with AssignmentSet: the changes since
//        G (as SwarmKit's incremental assignments), or the whole set when G
//        is 0 or older than the dispatcher remembers.
//   POST /_shoal/dispatcher/v1/status      StatusBatch -> {} once stored
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/network_view.h"
#include "model/objects.h"

namespace shoal::session {

constexpr char kPrefix[] = "/_shoal/dispatcher/v1/";

struct RegisterRequest {
  std::string node_id;  // the node's identity (from its swarm state / certificate)
  std::string addr;     // the node's address as seen by the cluster
  NodeDescription description;
};

struct RegisterResponse {
  std::string session_id;
  Nanos heartbeat_period{std::chrono::seconds(5)};
  // "ip:port" of every manager's swarm listener: the agent keeps its list of
  // managers to reach current with it.
  std::vector<std::string> managers;
};

struct AssignmentSet {
  uint64_t generation = 0;
  // true: `tasks` is every task assigned to the node. false: `tasks` are the
  // tasks added or changed since the asked generation and `removed` the ids
  // no longer assigned; the agent applies them to the set it holds.
  bool full = true;
  std::vector<Task> tasks;
  std::vector<std::string> removed;
  // Service id -> the service's --with-registry-auth credentials (an
  // X-Registry-Auth header value), for the services of `tasks` that have
  // them: sent only to the node those tasks are assigned to, over its
  // session. from_json copies each into its tasks' Task::registry_auth.
  std::map<std::string, std::string> registry_auth;
  // The node's networks (network_view.h): present when the view changed
  // since the asked generation (and in every full set); absent: keep the
  // one held.
  std::optional<NetworkView> network_view;
};

struct StatusUpdate {
  std::string task_id;
  TaskStatus status;
};

struct StatusBatch {
  std::string session_id;
  std::vector<StatusUpdate> updates;
};

void to_json(json& j, const RegisterRequest& v);
void from_json(const json& j, RegisterRequest& v);
void to_json(json& j, const RegisterResponse& v);
void from_json(const json& j, RegisterResponse& v);
void to_json(json& j, const AssignmentSet& v);
void from_json(const json& j, AssignmentSet& v);
void to_json(json& j, const StatusBatch& v);
void from_json(const json& j, StatusBatch& v);

}  // namespace shoal::session
