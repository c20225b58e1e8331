#include "manager/dispatcher/assignment_log.h"

namespace shoal::dispatcher {

uint64_t AssignmentLog::changed(const std::string& id) {
  live_[id] = ++gen_;
  return gen_;
}

uint64_t AssignmentLog::removed(const std::string& id) {
  live_.erase(id);
  removed_.emplace_back(++gen_, id);
  while (removed_.size() > live_.size() + kSpareTombstones) {
    floor_ = removed_.front().first;
    removed_.pop_front();
  }
  return gen_;
}

AssignmentLog::Delta AssignmentLog::since(uint64_t since) const {
  Delta d;
  d.full = since == 0 || since < floor_;
  d.network_view = d.full || since < net_gen_;
  for (const auto& [id, g] : live_)
    if (d.full || g > since) d.changed.push_back(id);
  if (!d.full) {
    for (auto it = removed_.rbegin(); it != removed_.rend() && it->first > since; ++it) d.removed.push_back(it->second);
  }
  return d;
}

}  // namespace shoal::dispatcher
