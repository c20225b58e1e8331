// Scheduler: assigns pending tasks to nodes.
//
// Filters (as Swarm): the node is Ready and Active; placement constraints
// (node.id, node.hostname, node.role, node.labels.KEY, with == or !=) hold;
// the node's platform is one of Placement.Platforms (platform_matches);
// resource reservations fit what the node has left; max replicas per node;
// no live task on the node publishes one of the task's host-mode ports.
// Strategy: spread — fewest live tasks of the same service, then fewest live
// tasks overall, then node id. Batch-aware: assignments made in one call count
// for the next task. A task that fits nowhere stays pending with Docker's
// "no suitable node (...)" message saying why.
#pragma once

#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "model/objects.h"

namespace shoal::scheduler {

// Live load already on the nodes, before this batch.
struct NodeLoad {
  std::unordered_map<std::string, size_t> total;  // node -> live tasks
  std::unordered_map<std::string, std::unordered_map<std::string, size_t>> by_service;  // node -> service -> n
  std::unordered_map<std::string, int64_t> reserved_cpu;
  std::unordered_map<std::string, int64_t> reserved_mem;
  // node -> the host-mode ports (protocol, port) its live tasks publish
  std::unordered_map<std::string, std::set<std::pair<std::string, uint32_t>>> host_ports;
};

// Validates one constraint expression ("node.role==manager"); the API uses it.
Status validate_constraint(const std::string& c);

// Validates Placement.Platforms (the API uses it): at most 64 entries, each
// field empty or up to 32 letters, digits, '_', '-' or '.' ("linux",
// "amd64", "unknown" as the docker CLI copies them from an image index).
Status validate_platforms(const std::vector<PlacementPlatform>& platforms);

// Swarm's platform filter: true when `platforms` is empty or one entry
// matches the node's Description.Platform (an empty field matches anything;
// x86_64 is amd64 and aarch64 is arm64 on either side). Pure.
bool platform_matches(const std::vector<PlacementPlatform>& platforms, const NodeDescription& node);

// Cost: O(nodes) array work per task, plus one look-up per node for each
// service first seen in a call (a burst of 1,000 tasks on 1,000 nodes is a
// few milliseconds).
class Scheduler {
 public:
  // `load` is read, not copied: it must outlive the Scheduler.
  Scheduler(std::vector<Node> nodes, const NodeLoad& load);
  // Assigns each pending task without a node; returns how many were placed.
  size_t schedule(std::vector<Task*>& tasks, SysTime now);

 private:
  struct Slot {  // one node and what it carries, by position in nodes_
    size_t total = 0;
    int64_t cpu = 0, mem = 0;
    std::set<std::pair<std::string, uint32_t>> host_ports;  // taken there (load and this batch)
  };
  // Live tasks of `service` per node position, built on first use.
  std::vector<size_t>& service_counts(const std::string& service);

  std::vector<Node> nodes_;  // sorted by id: position order is the tie-break
  std::vector<Slot> slots_;
  const NodeLoad& load_;
  std::unordered_map<std::string, std::vector<size_t>> by_service_;
};

}  // namespace shoal::scheduler
