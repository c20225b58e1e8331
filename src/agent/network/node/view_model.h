// What one node's datapath should hold, derived from its NetworkView
// (model/network_view.h): pure functions from the view to the inputs of the
// datapath parts (overlay peers, DNS scopes, VIP rotations). Kept apart from
// NodeNetwork so the rules can be unit-tested without root or a kernel.
// Thread-safe (no shared state).
#pragma once

#include <set>
#include <string>
#include <vector>

#include "agent/network/dns/scope.h"
#include "agent/network/lb/ruleset.h"
#include "agent/network/overlay/datapath.h"
#include "model/network_view.h"

namespace shoal::netnode {

// The network `id` of the view, or nullptr.
const session::NetworkInfo* find_network(const session::NetworkView& v, const std::string& id);

// The datapath's configuration of a network.
netoverlay::NetworkConfig network_config(const session::NetworkInfo& n);

// The endpoints of `n` on nodes other than `self_node`, as static VXLAN
// peers (every live one, serving or not: a task being stopped still
// finishes its established connections). Endpoints on a node whose address
// cannot be a tunnel endpoint (loopback, 0/8, multicast) are left out.
std::vector<netoverlay::RemotePeer> remote_peers(const session::NetworkInfo& n, const std::string& self_node);

// The DNS names a task attached to `networks` (ids) may resolve: the
// services sharing one of those networks, with their serving tasks only.
// The ingress network gives no names (as in Docker: it carries only the
// routing mesh).
netdns::Scope task_scope(const session::NetworkView& v, const std::set<std::string>& networks);

// The VIPs such a task balances over, with their serving backends on the
// shared network (ingress excluded, as for names).
std::vector<netlb::VipBackends> task_vips(const session::NetworkView& v, const std::set<std::string>& networks);

}  // namespace shoal::netnode
