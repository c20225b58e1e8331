// SwarmNode::Roles: one membership's running roles (storage, manager,
// executor, agent, swarm listener), shared by swarm_node.cc, swarm_join.cc
// and role_change.cc. Internal to src/node. Not thread-safe itself: SwarmNode
// hands a Roles to one owner at a time (its mu_ guards the pointer).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "http/server.h"
#include "node/swarm_node.h"

namespace shoal::node {

// One membership's roles. Members are destroyed agent first, storage last.
struct SwarmNode::Roles {
  std::unique_ptr<ManagerStorage> storage;  // managers only
  std::unique_ptr<Manager> manager;         // managers only
  std::unique_ptr<agent::Executor> executor;
  std::unique_ptr<agent::Agent> agent;
  std::unique_ptr<http::Server> listener;  // managers with a certs dir; declared last: destroyed first

  // Stops everything in the order that keeps each wait short: the dispatcher
  // first (it answers the agent's parked long poll), then the agent (it
  // cancels its requests in flight), then the manager and its storage.
  // `erase` removes the node's containers and the storage's data (leave);
  // `before_erase` runs once the containers are gone and before the
  // storage's data is: leave forgets the membership there, so a crash while
  // the data is deleted never leaves a membership whose storage is gone
  // (shoald would refuse to start), only leftovers the next init wipes.
  void stop(bool erase, const std::function<void()>& before_erase = {}) {
    if (listener) listener->stop();  // no new joins or sessions from other nodes
    if (manager) manager->stop_sessions();
    if (agent) agent->stop();
    // Listed once the agent stopped: its worker finishes the container
    // operations it had queued before stop() returns, so a list taken
    // earlier missed the containers those created (left running on leave).
    std::vector<std::string> tasks;
    if (erase && executor) tasks = executor->known_tasks();
    if (erase) remove_containers(tasks);
    if (erase && executor) executor->erase_node_state();  // its networks, once no task uses them
    if (manager) manager->stop();
    if (erase && before_erase) before_erase();
    if (storage) erase ? storage->destroy() : storage->stop();
  }

  // Every task container at once, each with its own grace period.
  void remove_containers(const std::vector<std::string>& tasks) {
    std::vector<std::thread> stoppers;
    stoppers.reserve(tasks.size());
    for (const auto& t : tasks) {
      stoppers.emplace_back([this, t] {
        Status s = executor->remove(t);
        if (!s.ok()) LOG_WARN("node", "removing the container of task " << t << ": " << s.message());
      });
    }
    for (auto& th : stoppers) th.join();
  }
};

}  // namespace shoal::node
