// Allocator: gives new tasks the network resources they need and moves them
// from new to pending. Today no network is attached (overlay networks come
// with the networking issue), so allocation only advances the state; the
// step exists so that IPAM slots in here without changing the pipeline.
#pragma once

#include <vector>

#include "common/clock.h"
#include "model/objects.h"

namespace shoal::allocator {

// Allocates every task in state new; returns how many moved to pending.
size_t allocate(std::vector<Task*>& tasks, SysTime now);

}  // namespace shoal::allocator
