#include "node/membership_rules.h"

namespace shoal::node {

bool changing_role(const Node& n) {
  return (n.spec.role == NodeRole::kManager) != n.manager_status.has_value();
}

Status check_no_change_in_progress(const std::vector<Node>& nodes, bool learner) {
  for (const auto& n : nodes) {
    if (!changing_role(n)) continue;
    std::string name = n.description.hostname.empty() ? n.id : n.description.hostname;
    bool promoting = n.spec.role == NodeRole::kManager;
    return failed_precondition("node " + name + " (" + n.id + ") is still being " +
                               (promoting ? "promoted to a manager" : "demoted to a worker") +
                               ": shoal changes the managers one at a time; retry once `node ls` shows it " +
                               (promoting ? "Reachable" : "without a manager status"));
  }
  if (learner) {
    return failed_precondition("a manager is joining the swarm (its etcd member is still a learner): shoal changes "
                               "the managers one at a time; retry in a few seconds");
  }
  return ok_status();
}

Status check_removal_keeps_quorum(const std::set<std::string>& voters, const std::set<std::string>& healthy,
                                  const std::string& target) {
  if (!voters.count(target)) return ok_status();
  size_t remaining = voters.size() - 1, alive = 0;
  for (const auto& v : voters) alive += v != target && healthy.count(v);
  if (remaining > 0 && alive >= quorum_of(remaining)) return ok_status();
  return failed_precondition("can't remove member from the raft: this would result in a loss of quorum (" +
                             std::to_string(alive) + " of the " + std::to_string(remaining) +
                             " remaining managers are reachable; " + std::to_string(quorum_of(remaining)) +
                             " are needed): bring the unreachable managers back first");
}

}  // namespace shoal::node
