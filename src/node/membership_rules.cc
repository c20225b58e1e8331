#include "node/membership_rules.h"

namespace shoal::node {

bool changing_role(const Node& n) {
  return (n.spec.role == NodeRole::kManager) != n.manager_status.has_value();
}

Status check_not_demoting_itself(const Node& n, bool voter, std::chrono::system_clock::time_point now) {
  if (n.spec.role != NodeRole::kWorker || n.manager_status || !voter || now - n.updated_at >= kSelfDemoteWindow) {
    return ok_status();
  }
  // The message never says "etcd": error_response reads that as a lost quorum.
  std::string name = n.description.hostname.empty() ? n.id : n.description.hostname;
  return unavailable("the demote of node " + name + " (" + n.id + ") is in progress: it is leaving the managers' " +
                     "raft cluster; retry in a few seconds");
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

Status check_force_new_cluster(const std::set<std::string>& voters, const std::set<std::string>& answering,
                               const std::string& self, const std::vector<Node>& nodes) {
  size_t alive = 0;
  std::string others;
  for (const auto& v : voters) {
    if (v != self && !answering.count(v)) continue;
    ++alive;
    if (v == self) continue;
    std::string name = v;
    for (const auto& n : nodes) {
      if (n.id == v && !n.description.hostname.empty()) name = n.description.hostname + " (" + v + ")";
    }
    others += (others.empty() ? "" : ", ") + name;
  }
  if (others.empty() || alive < quorum_of(voters.size())) return ok_status();
  return failed_precondition("--force-new-cluster would split the swarm in two: the managers " + others +
                             " still answer, and with this one they are " + std::to_string(alive) + " of the " +
                             std::to_string(voters.size()) +
                             " managers, a quorum, so they would go on as a second swarm. The swarm has not lost "
                             "quorum: remove a manager with `node demote` (and `node rm`) instead; "
                             "--force-new-cluster is for a swarm whose majority of managers is gone");
}

}  // namespace shoal::node
