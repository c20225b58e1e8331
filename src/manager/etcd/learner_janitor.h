// The learner janitor's decision (docs/architecture.md "Manager join"): what
// a manager does about etcd learners that its own promoter does not own.
//
// A manager that admits another adds its etcd member as a learner and its
// promoter thread promotes it once caught up, or removes it after
// kPromoteDeadline. If that manager dies first, nobody would: the learner
// stays and every later membership change is refused ("one at a time"). So
// every manager's janitor, every few seconds, plans for each learner it does
// not own:
//   - promote: always tried (etcd refuses a learner that has not caught up).
//     A learner that caught up runs an etcd member with the joiner's own
//     key, which the joiner holds only once its admission answered, i.e.
//     after its Node was recorded: promoting it finishes that join;
//   - remove: once this janitor has seen it as a learner for `remove_after`
//     (kPromoteDeadline plus a margin). The first-seen times live only in
//     the janitor's memory, so a new janitor counts afresh and is never
//     earlier than the owner's own removal.
// Two janitors acting at once are harmless: etcd refuses the second promote
// (the member votes) and the second remove (no such member).
//
// Pure; not thread-safe (`first_seen` belongs to one janitor).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "manager/etcd/etcd_membership.h"

namespace shoal::etcd {

struct LearnerAction {
  enum class Kind { kPromote, kRemove };
  Kind kind = Kind::kPromote;
  uint64_t id = 0;
  std::string name;      // the member's name (its node id); empty if it never started
  std::string peer_url;  // its first peer URL, for logs
  Duration seen_for{0};  // how long this janitor has seen it as a learner
};

// The actions for `members` at `now`. `owned`: the learner this manager's
// promoter handles (skipped). `first_seen` maps member ids to when this
// janitor first saw them as learners it does not own: a new one is added
// (at `now`), an entry whose member is gone, votes, or is owned is erased.
// Each unowned learner gets a kRemove if seen for at least `remove_after`,
// else a kPromote.
std::vector<LearnerAction> plan_learner_cleanup(const std::vector<Member>& members, std::optional<uint64_t> owned,
                                                SysTime now, Duration remove_after,
                                                std::map<uint64_t, SysTime>& first_seen);

// Voters left behind by a demote that did not finish (docs/cluster.md
// "Managers"): the target died after its role=worker was stored, or between
// clearing its manager status and removing its member, so an etcd voter
// whose node should be a worker (or whose node is gone) never leaves.
struct StaleVoter {
  uint64_t id = 0;
  std::string name;  // its node id
  // Its Node is a worker that is not Down: it may be between clearing its
  // manager status and removing its own member (a demote in progress), so
  // the caller waits much longer before removing it (ManagerOptions::
  // stale_up_voter_margin); one that never finishes still goes then.
  bool up = false;
};

// The voting `members` to remove now: those that are not in `healthy` (the
// managers that answer now) and whose name is either not in `wants_manager`
// (node id -> its Node's spec.role is manager: a node that is gone is
// absent) or maps to false. One whose Node is a worker and not in `down`
// (its agent's session is live) is marked `up`: a demoting manager that
// answers no probe while it removes its own member; dead or gone ones come
// first. One at a time and only while the voters left after it keep a
// quorum of healthy ones (never the last voter). Unnamed members (never
// started) are the learner cleanup's, not this one's.
std::vector<StaleVoter> plan_stale_voter_removal(const std::vector<Member>& members,
                                                 const std::map<std::string, bool>& wants_manager,
                                                 const std::set<std::string>& healthy,
                                                 const std::set<std::string>& down);

}  // namespace shoal::etcd
