#include "node/manager_status.h"

#include "node/join.h"

namespace shoal::node {

std::map<std::string, ManagerStatus> derive_manager_statuses(const std::vector<Node>& nodes, const ManagerLiveness& l) {
  std::map<std::string, ManagerStatus> out;
  for (const auto& n : nodes) {
    if (n.spec.role != NodeRole::kManager) continue;
    ManagerStatus s;
    s.leader = !l.leader_id.empty() && n.id == l.leader_id;
    bool voter = !l.voters || l.voters->count(n.id) > 0;
    s.reachability = s.leader || (voter && l.sessions.count(n.id) > 0) ? "reachable" : "unreachable";
    s.addr = n.manager_status && !n.manager_status->addr.empty() ? n.manager_status->addr : with_swarm_port(n.addr);
    out[n.id] = s;
  }
  return out;
}

}  // namespace shoal::node
