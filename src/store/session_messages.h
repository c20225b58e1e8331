// Wire messages of the agent <-> dispatcher session protocol (JSON over HTTP,
// on the manager's API listener under /_shoal/dispatcher/v1/; over mTLS TCP
// once nodes join across the network). Shared by src/agent and
// src/manager/dispatcher; built on the object model only.
//
//   POST /_shoal/dispatcher/v1/session     RegisterRequest -> RegisterResponse
//   POST /_shoal/dispatcher/v1/heartbeat   {"SessionID"}   -> {"HeartbeatPeriod"} | 404 unknown session
//   GET  /_shoal/dispatcher/v1/assignments?session=S&since=G
//        long poll: answers when the node's assignment set changed after
//        generation G (or after ~25 s), with AssignmentSet.
//   POST /_shoal/dispatcher/v1/status      StatusBatch -> {} once stored
#pragma once

#include <string>
#include <vector>

#include "store/objects.h"

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
};

struct AssignmentSet {
  uint64_t generation = 0;
  std::vector<Task> tasks;  // every task assigned to the node
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
