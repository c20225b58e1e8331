// JsonCache: the served JSON text of objects, by id and version (the etcd
// mod_revision, which changes with every write), so a listing serializes
// only the objects that changed since the last listing. `docker service ps`
// on a large service, polled while its tasks start, is the case it is for.
//
// Bounded by bytes: when a put would exceed the budget the cache starts
// over (entries of deleted objects go then too). Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace shoal::api {

class JsonCache {
 public:
  explicit JsonCache(size_t max_bytes = 64u << 20) : max_bytes_(max_bytes) {}

  // The text stored for `id` at exactly `version`, or null.
  std::shared_ptr<const std::string> find(const std::string& id, uint64_t version) const;
  // Stores `text` for (id, version), replacing an older version; returns it.
  std::shared_ptr<const std::string> put(const std::string& id, uint64_t version, std::string text);
  size_t bytes() const;

 private:
  struct Entry {
    uint64_t version;
    std::shared_ptr<const std::string> text;
  };
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  size_t bytes_ = 0;
  size_t max_bytes_;
};

}  // namespace shoal::api
