// The rules of manager membership changes (node promote/demote, docs/cluster.md
// "Managers"), as pure functions over what the node knows: the stored Nodes,
// the etcd cluster's voting members and which managers are alive. etcd runs
// with --strict-reconfig-check=false, so these checks are shoal's guard.
//
// A Node's spec.role is the role it should have; its manager_status is set
// while it actually is a manager (written when its etcd member is admitted,
// cleared when it is removed). A node whose two disagree is changing role.
// Pure; thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/objects.h"

namespace shoal::node {

// Votes a cluster of `voters` members needs to commit anything.
constexpr size_t quorum_of(size_t voters) { return voters / 2 + 1; }

// True when `n` is between roles: promoted but not yet a manager (role
// manager, no manager_status) or demoted and not yet a worker (role worker,
// manager_status still set).
bool changing_role(const Node& n);

// One membership change at a time: kFailedPrecondition naming the node whose
// change is still going on (or the etcd learner) when one is, else ok.
// `learner`: etcd lists a learner (a manager joining or being promoted).
Status check_no_change_in_progress(const std::vector<Node>& nodes, bool learner);

// Whether removing the etcd member of `target` (a node id) leaves a majority
// of the remaining voting members healthy. `voters`: the voting members'
// names (node ids); `healthy`: the managers known alive. A target that is not
// a voter changes no membership: ok. Refused with Docker's wording
// (kFailedPrecondition "can't remove member from the raft: this would result
// in a loss of quorum"), plus the counts and what to do.
Status check_removal_keeps_quorum(const std::set<std::string>& voters, const std::set<std::string>& healthy,
                                  const std::string& target);

// A demoted manager clears its manager status, stops its manager, then
// removes its own etcd member: in between it is a voter that answers no
// probe, and a `node demote` re-drive taking it for dead would remove its
// member under it (its own removal then failed and left it on removed etcd
// data). So a re-drive of `n` (stored as a worker; `voter`: etcd still lists
// it as a voting member) is refused with kUnavailable (503, retry) while its
// Node last changed (updated_at: the status clear, or a later write such as
// the dispatcher's Ready/Down) less than kSelfDemoteWindow before `now`; ok
// otherwise. After the window it died mid-way: re-drive it. A node that
// keeps its Node fresh this way cannot keep its seat: the leader's janitor
// removes an up stale voter after ManagerOptions::stale_up_voter_margin.
constexpr std::chrono::seconds kSelfDemoteWindow{30};
Status check_not_demoting_itself(const Node& n, bool voter, std::chrono::system_clock::time_point now);

// `swarm init --force-new-cluster` on `self` makes its etcd member the only
// one. Refused while the voting members that answer (`answering`, `self`
// included) are still a quorum of `voters`: the others would go on as a
// second swarm. kFailedPrecondition naming those managers (hostnames from
// `nodes`) and saying to use `node demote` instead. ok when quorum is lost
// (or `self` is the only voter).
Status check_force_new_cluster(const std::set<std::string>& voters, const std::set<std::string>& answering,
                               const std::string& self, const std::vector<Node>& nodes);

}  // namespace shoal::node
