#include "manager/api/json_cache.h"

namespace shoal::api {

std::shared_ptr<const std::string> JsonCache::find(const std::string& id, uint64_t version) const {
  std::lock_guard lk(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.version != version) return nullptr;
  return it->second.text;
}

std::shared_ptr<const std::string> JsonCache::put(const std::string& id, uint64_t version, std::string text) {
  auto shared = std::make_shared<const std::string>(std::move(text));
  std::lock_guard lk(mu_);
  size_t add = shared->size() + id.size();
  auto it = entries_.find(id);
  if (it != entries_.end()) {
    bytes_ -= it->second.text->size() + id.size();
    entries_.erase(it);
  }
  if (bytes_ + add > max_bytes_) {
    entries_.clear();
    bytes_ = 0;
  }
  if (add <= max_bytes_) {
    entries_.emplace(id, Entry{version, shared});
    bytes_ += add;
  }
  return shared;
}

size_t JsonCache::bytes() const {
  std::lock_guard lk(mu_);
  return bytes_;
}

}  // namespace shoal::api
