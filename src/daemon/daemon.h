// Daemon: one node. Serves the Docker Engine API, and when the node is in a
// swarm, runs the manager role and the agent, built by the composition root
// (node::SwarmNode, which implements init/leave) from shoald's parts: the
// etcd member as the manager's backend (ManagerRole), runc as the executor,
// the real clock, the swarm state file. Implements the API's LocalContainers
// (this node's containers), and serves the node-local image routes.
//
// Restart contract: the swarm state file makes a restarted shoald (also
// after kill -9) rejoin its swarm; containers keep running meanwhile (their
// shims outlive shoald) and are adopted by the agent.
#pragma once

#include <memory>
#include <string>

#include "common/clock.h"
#include "daemon/options.h"
#include "daemon/swarm_state.h"
#include "http/message.h"
#include "manager/api/local_containers.h"
#include "node/swarm_node.h"

namespace shoal::http {
class Server;
}
namespace shoal::api {
class Api;
}
namespace shoal::runtime {
class ImageStore;
class RuncRuntime;
struct ContainerState;
}
namespace shoal::agent {
class RegistryClient;
class ImagePuller;
}
namespace shoal::daemon {

class ExecSessions;

class Daemon : public api::LocalContainers {
 public:
  explicit Daemon(DaemonOptions options);
  ~Daemon() override;

  // Opens the image store and runtime, rejoins the swarm if the state file
  // says so, and starts serving. Errors name what failed and how to fix it.
  Status start();
  // Stops serving and the roles; containers keep running. Bounded: parked
  // long polls are answered and client requests cancelled. Idempotent.
  void stop();

  // api::LocalContainers
  std::vector<api::ContainerSummary> list(bool all) override;
  Status kill(const std::string& id_or_name, int signal) override;
  Result<api::ContainerDetails> inspect(const std::string& id_or_name) override;
  Result<std::string> exec_create(const std::string& id_or_name, const api::ExecOptions& options) override;
  Result<std::shared_ptr<http::Hijack>> exec_start(const std::string& exec_id, int rows, int cols) override;
  Status exec_resize(const std::string& exec_id, int height, int width) override;
  Result<api::ExecInfo> exec_inspect(const std::string& exec_id) override;

 private:
  void serve(http::Exchange ex);  // the Docker API listener
  std::string session_endpoint() const;
  node::NodeParts node_parts();
  api::LocalInfo local_info() const;
  // By id, name ("/name" too) or unique id prefix.
  Result<runtime::ContainerState> find_container(const std::string& ref);

  DaemonOptions options_;
  RealClock clock_;
  // etcd ports: the state file's when rejoining, else the options'
  int etcd_client_port_ = 0;
  int etcd_peer_port_ = 0;
  std::unique_ptr<runtime::ImageStore> images_;
  std::unique_ptr<runtime::RuncRuntime> runtime_;
  std::unique_ptr<ExecSessions> execs_;  // over runtime_
  std::unique_ptr<agent::RegistryClient> registry_;  // pulls: tasks' images, POST /images/create
  std::unique_ptr<agent::ImagePuller> puller_;
  std::unique_ptr<node::SwarmNode> node_;
  std::unique_ptr<api::Api> api_;
  std::unique_ptr<http::Server> server_;
  // Agent sessions on their own listener and threads (as Swarm's 2377 is
  // apart from the API socket): a burst of node traffic never queues
  // operators' requests.
  std::unique_ptr<http::Server> session_server_;
};

}  // namespace shoal::daemon
