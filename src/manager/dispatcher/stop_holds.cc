#include "manager/dispatcher/stop_holds.h"

#include <algorithm>

namespace shoal::dispatcher {

void StopHolds::hold(const std::string& task, const std::string& node, TaskState prev_desired, int64_t revision,
                     int64_t views_at, const std::vector<std::pair<std::string, uint64_t>>& listed, Time now) {
  Hold h;
  h.node = node;
  h.prev_desired = prev_desired;
  h.revision = revision;
  h.deadline = now + opts_.max_hold;
  if (views_at >= revision) {
    // The views already drop it: each node holding it in its view must ack
    // that view (its generation is at or past the one that dropped it).
    h.refreshed_at = now;
    for (const auto& [n, gen] : listed) h.need.emplace(n, gen);
  }
  holds_.insert_or_assign(task, std::move(h));
}

std::optional<TaskState> StopHolds::held_desired(const std::string& task) const {
  auto it = holds_.find(task);
  if (it == holds_.end()) return std::nullopt;
  return it->second.prev_desired;
}

void StopHolds::view_changed(const std::string& node, const session::NetworkView* before, int64_t revision,
                             uint64_t gen) {
  if (holds_.empty() || before == nullptr) return;
  std::set<std::string> serving;  // the tasks the old view sent traffic to
  for (const auto& n : before->networks)
    for (const auto& e : n.endpoints)
      if (e.serving) serving.insert(e.task_id);
  for (auto& [task, h] : holds_) {
    if (revision < h.revision || !serving.count(task)) continue;
    h.need.emplace(node, gen);  // the first view without it: a later one keeps the earlier need
  }
}

void StopHolds::refreshed(int64_t revision, Time now) {
  for (auto& [_, h] : holds_)
    if (revision >= h.revision && !h.refreshed_at) h.refreshed_at = now;
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
