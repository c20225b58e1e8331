// Managers' status (Leader / Reachable / Unreachable) from the live state,
// not from what was stored at join: `node ls` and `node inspect` show it.
//
// A manager is the Leader when it holds the leader key (the elector's,
// /shoal/leader). It is Reachable when it leads, or when it is a voting etcd
// member (its name is its node id) and its shoald is alive: its own agent's
// session key (/shoal-sessions/<id>, under the etcd lease of that manager's
// dispatcher, which expires when the manager dies) exists. Otherwise it is
// Unreachable. Pure; thread-safe.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model/objects.h"

namespace shoal::node {

struct ManagerLiveness {
  std::string leader_id;                      // "" when no manager leads
  std::optional<std::set<std::string>> voters;  // etcd voting members' names; nullopt: not known (in-memory storage)
  std::set<std::string> sessions;             // nodes with a session key alive
};

// The status of every manager node of `nodes`, by node id. Addr: the stored
// one, else the node's address on the default swarm port.
std::map<std::string, ManagerStatus> derive_manager_statuses(const std::vector<Node>& nodes, const ManagerLiveness& l);

}  // namespace shoal::node
