// The global orchestrator: one task per eligible node (Ready, Active, the
// placement constraints hold, the reservations fit), as SwarmKit's. A pure
// decision function per service, like reconcile_service (replicated.h), whose
// restart supervision, rolling update and reaper it reuses with one
// "virtual slot" per node (so restart attempts count per node); the
// ControlLoops (pipeline.h) feed it.
//
// New tasks are created already assigned to their node (a global task is
// never placed by the scheduler). A live task on a node that no longer
// qualifies (its constraints fail, the node was drained or removed) is shut
// down. Not thread-safe: one GlobalMemory per service, used by one caller.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "manager/orchestrator/replicated.h"

namespace shoal::orchestrator {

struct GlobalMemory {
  ServiceMemory inner;                                 // what reconcile_service keeps, by virtual slot
  std::unordered_map<std::string, uint64_t> slot_of;  // node id -> virtual slot (stable)
};

// `service` must be in global mode. `ctx.nodes` is every node of the swarm.
Plan reconcile_global(const Service& service, const std::vector<const Task*>& tasks, const Context& ctx,
                      GlobalMemory& memory);

// Whether `node` can run a task of `service` (Ready, Active, constraints,
// reservations against the node's capacity).
bool eligible_for(const Service& service, const Node& node, SysTime now);

}  // namespace shoal::orchestrator
