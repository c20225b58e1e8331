// MemoryBackend: an in-process Backend with etcd's revision semantics, for
// unit tests and in-process benchmarks. Watches deliver synchronously-queued
// events on a dedicated thread per watch, in revision order.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>

#include "store/backend.h"

namespace shoal {

class MemoryBackend : public Backend {
 public:
  explicit MemoryBackend(size_t max_txn_ops = 1024) : max_txn_ops_(max_txn_ops) {}
  ~MemoryBackend() override;

  Result<RangeResult> range(const std::string& key, bool prefix) override;
  Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                        const std::vector<TxnOp>& failure) override;
  std::unique_ptr<WatchHandle> watch(const std::string& prefix, int64_t from_revision,
                                     std::function<void(const std::vector<WatchEvent>&)> on_events,
                                     std::function<void(const Status&)> on_error) override;
  Result<int64_t> lease_grant(int64_t ttl_seconds) override;
  Status lease_keepalive(int64_t lease_id) override;
  Status lease_revoke(int64_t lease_id) override;
  size_t max_txn_ops() const override { return max_txn_ops_; }

  // Test hook: makes every call fail with kUnavailable while true.
  void set_down(bool down);

  struct Watcher;  // internal
 private:
  std::mutex mu_;
  size_t max_txn_ops_;
  bool down_ = false;
  int64_t revision_ = 1;
  int64_t next_lease_ = 1;
  std::map<std::string, KeyValue> kvs_;
  std::map<int64_t, int64_t> leases_;  // id -> ttl
  std::vector<WatchEvent> history_;    // every event, for watches from old revisions
  std::vector<std::shared_ptr<Watcher>> watchers_;
};

}  // namespace shoal
