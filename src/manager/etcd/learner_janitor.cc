#include "manager/etcd/learner_janitor.h"

#include <algorithm>

#include <set>

namespace shoal::etcd {

std::vector<LearnerAction> plan_learner_cleanup(const std::vector<Member>& members, std::optional<uint64_t> owned,
                                                SysTime now, Duration remove_after,
                                                std::map<uint64_t, SysTime>& first_seen) {
  std::vector<LearnerAction> out;
  std::set<uint64_t> unowned;
  for (const auto& m : members) {
    if (!m.learner || (owned && m.id == *owned)) continue;
    unowned.insert(m.id);
    SysTime since = first_seen.try_emplace(m.id, now).first->second;
    LearnerAction a;
    a.id = m.id;
    a.name = m.name;
    a.peer_url = m.peer_urls.empty() ? "" : m.peer_urls.front();
    a.seen_for = now - since;
    a.kind = a.seen_for >= remove_after ? LearnerAction::Kind::kRemove : LearnerAction::Kind::kPromote;
    out.push_back(std::move(a));
  }
  for (auto it = first_seen.begin(); it != first_seen.end();) {
    it = unowned.count(it->first) ? std::next(it) : first_seen.erase(it);
  }
  return out;
}

std::vector<StaleVoter> plan_stale_voter_removal(const std::vector<Member>& members,
                                                 const std::map<std::string, bool>& wants_manager,
                                                 const std::set<std::string>& healthy,
                                                 const std::set<std::string>& down) {
  size_t voters = 0, alive = 0;
  std::vector<StaleVoter> stale;
  for (const auto& m : members) {
    if (m.learner) continue;
    ++voters;
    const bool answers = healthy.count(m.name) > 0;
    alive += answers;
    if (m.name.empty() || answers) continue;
    auto it = wants_manager.find(m.name);
    if (it == wants_manager.end() || !it->second) {
      stale.push_back({m.id, m.name, it != wants_manager.end() && !down.count(m.name)});
    }
  }
  // The stale one is not alive, so removing it leaves `alive` healthy
  // voters of voters - 1.
  if (stale.empty() || voters < 2 || alive < (voters - 1) / 2 + 1) return {};
  // A dead or gone one first: an up one may still be removing itself.
  std::stable_partition(stale.begin(), stale.end(), [](const StaleVoter& v) { return !v.up; });
  stale.resize(1);
  return stale;
}

}  // namespace shoal::etcd
