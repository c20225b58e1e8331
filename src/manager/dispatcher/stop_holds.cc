#include "manager/dispatcher/stop_holds.h"

#include <algorithm>

namespace shoal::dispatcher {

void StopHolds::hold(const std::string& task, const std::string& node, uint64_t next_refresh, Time now) {
  Hold h;
  h.node = node;
  h.after_refresh = next_refresh;
  h.deadline = now + opts_.max_hold;
  holds_.insert_or_assign(task, std::move(h));
}

void StopHolds::view_changed(const std::string& node, const session::NetworkView* before, uint64_t refresh,
                             uint64_t gen) {
  if (holds_.empty() || before == nullptr) return;
  std::set<std::string> serving;  // the tasks the old view sent traffic to
  for (const auto& n : before->networks)
    for (const auto& e : n.endpoints)
      if (e.serving) serving.insert(e.task_id);
  for (auto& [task, h] : holds_) {
    if (refresh < h.after_refresh || !serving.count(task)) continue;
    h.need.emplace(node, gen);  // the first view without it: a later one keeps the earlier need
  }
}

void StopHolds::refreshed(uint64_t refresh, Time now) {
  for (auto& [_, h] : holds_)
    if (refresh >= h.after_refresh && !h.refreshed_at) h.refreshed_at = now;
}

void StopHolds::acked(const std::string& node, uint64_t gen) {
  uint64_t& a = acks_[node];
  a = std::max(a, gen);
}

std::vector<std::pair<std::string, std::string>> StopHolds::take_due(
    Time now, const std::function<bool(const std::string&)>& here) {
  std::vector<std::pair<std::string, std::string>> due;
  for (auto it = holds_.begin(); it != holds_.end();) {
    const Hold& h = it->second;
    bool go = now >= h.deadline;
    if (!go && h.refreshed_at) {
      go = std::all_of(h.need.begin(), h.need.end(), [&](const auto& need) {
        if (!here(need.first)) return now >= *h.refreshed_at + opts_.remote_allowance;
        auto a = acks_.find(need.first);
        return a != acks_.end() && a->second >= need.second;
      });
    }
    if (!go) {
      ++it;
      continue;
    }
    due.emplace_back(it->first, h.node);
    it = holds_.erase(it);
  }
  return due;
}

std::optional<StopHolds::Time> StopHolds::next_wake(Time now) const {
  std::optional<Time> wake;
  for (const auto& [_, h] : holds_) {
    Time t = h.deadline;
    // Once passed, the allowance wakes no one again: only an ack or the deadline can.
    if (h.refreshed_at && *h.refreshed_at + opts_.remote_allowance > now)
      t = std::min(t, *h.refreshed_at + opts_.remote_allowance);
    if (!wake || t < *wake) wake = t;
  }
  return wake;
}

}  // namespace shoal::dispatcher
