// The NetworkView (model/network_view.h) of every node, derived from one
// snapshot of the cluster state: one walk over the tasks indexes each
// network's endpoints, then each node gets the networks its live tasks are
// attached to (and ingress while a service publishes through the routing
// mesh). Pure; thread-safe. Cost: O(tasks + nodes x their networks'
// endpoints).
#pragma once

#include <string>
#include <unordered_map>

#include "model/network_view.h"
#include "store/store.h"

namespace shoal::dispatcher {

std::unordered_map<std::string, session::NetworkView> build_network_views(const StoreSnapshot& snap);

}  // namespace shoal::dispatcher
