// Daemon: one node. Serves the Docker Engine API, and when the node is in a
// swarm, runs the manager role and the agent. Implements the API's
// SwarmControl (init/leave) and LocalContainers (this node's containers), and
// serves the node-local image routes.
//
// Restart contract: the swarm state file makes a restarted shoald (also
// after kill -9) rejoin its swarm; containers keep running meanwhile (their
// shims outlive shoald) and are adopted by the agent.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "daemon/options.h"
#include "daemon/swarm_state.h"
#include "http/message.h"
#include "manager/api/local_containers.h"
#include "manager/api/swarm_control.h"

namespace shoal::http {
class Server;
}
namespace shoal::api {
class Api;
}
namespace shoal::runtime {
class ImageStore;
class RuncRuntime;
}
namespace shoal::agent {
class Agent;
class RuntimeExecutor;
}

namespace shoal::daemon {

class ManagerRole;

class Daemon : public api::SwarmControl, public api::LocalContainers {
 public:
  explicit Daemon(DaemonOptions options);
  ~Daemon() override;

  // Opens the image store and runtime, rejoins the swarm if the state file
  // says so, and starts serving. Errors name what failed and how to fix it.
  Status start();
  // Stops serving and the roles; containers keep running.
  void stop();

  // api::SwarmControl
  Result<std::string> init(const api::InitRequest& req) override;
  Status leave(bool force) override;
  bool active() const override;
  std::string node_id() const override;
  Store* store() override;
  api::LocalInfo local_info() const override;

  // api::LocalContainers
  std::vector<api::ContainerSummary> list(bool all) override;
  Status kill(const std::string& id_or_name, int signal) override;

 private:
  void serve(http::Exchange ex);          // the Docker API listener
  void serve_session(http::Exchange ex);  // the session listener (agents)
  std::string session_endpoint() const;
  Status start_roles(const SwarmState& state);
  void stop_roles();

  DaemonOptions options_;
  RealClock clock_;
  std::unique_ptr<runtime::ImageStore> images_;
  std::unique_ptr<runtime::RuncRuntime> runtime_;
  std::unique_ptr<api::Api> api_;
  std::unique_ptr<http::Server> server_;
  // Agent sessions on their own listener and threads (as Swarm's 2377 is
  // apart from the API socket): a burst of node traffic never queues
  // operators' requests.
  std::unique_ptr<http::Server> session_server_;

  mutable std::mutex mu_;  // guards the roles and state_
  std::optional<SwarmState> state_;
  std::unique_ptr<ManagerRole> manager_;
  std::unique_ptr<agent::RuntimeExecutor> executor_;
  std::unique_ptr<agent::Agent> agent_;
};

}  // namespace shoal::daemon
