// Scheduler: assigns pending tasks to nodes.
//
// Filters (as Swarm): the node is Ready and Active; placement constraints
// (node.id, node.hostname, node.role, node.labels.KEY, with == or !=) hold;
// resource reservations fit what the node has left; max replicas per node.
// Strategy: spread — fewest live tasks of the same service, then fewest live
// tasks overall, then node id. Batch-aware: assignments made in one call count
// for the next task. A task that fits nowhere stays pending with Docker's
// "no suitable node (...)" message saying why.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "store/objects.h"

namespace shoal::scheduler {

// Live load already on the nodes, before this batch.
struct NodeLoad {
  std::unordered_map<std::string, size_t> total;  // node -> live tasks
  std::unordered_map<std::string, std::unordered_map<std::string, size_t>> by_service;  // node -> service -> n
  std::unordered_map<std::string, int64_t> reserved_cpu;
  std::unordered_map<std::string, int64_t> reserved_mem;
};

// Validates one constraint expression ("node.role==manager"); the API uses it.
Status validate_constraint(const std::string& c);

class Scheduler {
 public:
  Scheduler(std::vector<Node> nodes, NodeLoad load);
  // Assigns each pending task without a node; returns how many were placed.
  size_t schedule(std::vector<Task*>& tasks, SysTime now);

 private:
  bool constraints_hold(const Task& t, const Node& n) const;
  std::vector<Node> nodes_;
  NodeLoad load_;
};

}  // namespace shoal::scheduler
