#include "store/memory_backend.h"

#include <thread>

namespace shoal {

// One delivery thread per watch, fed from the backend under its lock so events
// stay in revision order.
struct MemoryBackend::Watcher {
  std::string prefix;
  std::function<void(const std::vector<WatchEvent>&)> on_events;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::vector<WatchEvent>> queue;
  bool stop = false;
  std::thread thread;

  void push(std::vector<WatchEvent> batch) {
    {
      std::lock_guard lk(mu);
      queue.push_back(std::move(batch));
    }
    cv.notify_all();
  }
  void run() {
    std::unique_lock lk(mu);
    for (;;) {
      cv.wait(lk, [&] { return stop || !queue.empty(); });
      if (stop) return;
      auto batch = std::move(queue.front());
      queue.pop_front();
      lk.unlock();
      on_events(batch);
      lk.lock();
    }
  }
};

namespace {

bool has_prefix(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

class MemoryWatchHandle : public WatchHandle {
 public:
  MemoryWatchHandle(std::shared_ptr<MemoryBackend::Watcher> w,
                    std::function<void()> detach)
      : w_(std::move(w)), detach_(std::move(detach)) {}
  ~MemoryWatchHandle() override {
    detach_();
    {
      std::lock_guard lk(w_->mu);
      w_->stop = true;
    }
    w_->cv.notify_all();
    if (w_->thread.joinable()) w_->thread.join();
  }

 private:
  std::shared_ptr<MemoryBackend::Watcher> w_;
  std::function<void()> detach_;
};

}  // namespace

MemoryBackend::~MemoryBackend() = default;

void MemoryBackend::set_down(bool down) {
  std::lock_guard lk(mu_);
  down_ = down;
}

Result<RangeResult> MemoryBackend::range(const std::string& key, bool prefix) {
  std::lock_guard lk(mu_);
  if (down_) return unavailable("memory backend is down");
  RangeResult r;
  r.revision = revision_;
  if (!prefix) {
    auto it = kvs_.find(key);
    if (it != kvs_.end()) r.kvs.push_back(it->second);
    return r;
  }
  for (auto it = kvs_.lower_bound(key); it != kvs_.end() && has_prefix(it->first, key); ++it) {
    r.kvs.push_back(it->second);
  }
  return r;
}

Result<TxnResult> MemoryBackend::txn(const std::vector<Compare>& compares,
                                     const std::vector<TxnOp>& success,
                                     const std::vector<TxnOp>& failure) {
  std::lock_guard lk(mu_);
  if (down_) return unavailable("memory backend is down");
  if (success.size() > max_txn_ops_ || failure.size() > max_txn_ops_) {
    return invalid_argument("too many operations in txn request");
  }
  bool ok = true;
  for (const auto& c : compares) {
    auto it = kvs_.find(c.key);
    if (c.target == Compare::Target::kValue) {
      if (it == kvs_.end() || it->second.value != c.text) {
        ok = false;
        break;
      }
      continue;
    }
    int64_t actual = 0;
    if (it != kvs_.end()) {
      actual = c.target == Compare::Target::kCreateRevision ? it->second.create_revision
                                                            : it->second.mod_revision;
    }
    if (actual != c.value) {
      ok = false;
      break;
    }
  }
  const auto& ops = ok ? success : failure;
  TxnResult result;
  result.succeeded = ok;
  std::vector<WatchEvent> events;
  bool writes = false;
  for (const auto& op : ops) writes |= op.type != TxnOp::Type::kGet;
  int64_t rev = writes ? revision_ + 1 : revision_;
  for (const auto& op : ops) {
    switch (op.type) {
      case TxnOp::Type::kGet: {
        auto it = kvs_.find(op.key);
        if (it != kvs_.end()) result.get_results.push_back(it->second);
        break;
      }
      case TxnOp::Type::kPut: {
        KeyValue& kv = kvs_[op.key];
        if (kv.create_revision == 0) kv.create_revision = rev;
        kv.key = op.key;
        kv.value = op.value;
        kv.mod_revision = rev;
        kv.lease = op.lease;
        events.push_back({WatchEvent::Type::kPut, kv});
        break;
      }
      case TxnOp::Type::kDelete: {
        auto it = kvs_.find(op.key);
        if (it == kvs_.end()) break;
        KeyValue kv = it->second;
        kv.mod_revision = rev;
        kvs_.erase(it);
        events.push_back({WatchEvent::Type::kDelete, kv});
        break;
      }
    }
  }
  if (writes) revision_ = rev;
  result.revision = revision_;
  if (!events.empty()) {
    history_.insert(history_.end(), events.begin(), events.end());
    for (auto& w : watchers_) {
      std::vector<WatchEvent> mine;
      for (const auto& e : events) {
        if (has_prefix(e.kv.key, w->prefix)) mine.push_back(e);
      }
      if (!mine.empty()) w->push(std::move(mine));
    }
  }
  return result;
}

std::unique_ptr<WatchHandle> MemoryBackend::watch(
    const std::string& prefix, int64_t from_revision,
    std::function<void(const std::vector<WatchEvent>&)> on_events,
    std::function<void(const Status&)> /*on_error*/) {
  auto w = std::make_shared<Watcher>();
  w->prefix = prefix;
  w->on_events = std::move(on_events);
  {
    std::lock_guard lk(mu_);
    // Replay history from from_revision, grouped by revision.
    std::vector<WatchEvent> batch;
    for (const auto& e : history_) {
      if (e.kv.mod_revision < from_revision || !has_prefix(e.kv.key, prefix)) continue;
      if (!batch.empty() && batch.back().kv.mod_revision != e.kv.mod_revision) {
        w->queue.push_back(std::move(batch));
        batch.clear();
      }
      batch.push_back(e);
    }
    if (!batch.empty()) w->queue.push_back(std::move(batch));
    watchers_.push_back(w);
  }
  w->thread = std::thread([w] { w->run(); });
  auto detach = [this, raw = w.get()] {
    std::lock_guard lk(mu_);
    std::erase_if(watchers_, [&](const auto& p) { return p.get() == raw; });
  };
  return std::make_unique<MemoryWatchHandle>(w, detach);
}

Result<int64_t> MemoryBackend::lease_grant(int64_t ttl_seconds) {
  std::lock_guard lk(mu_);
  if (down_) return unavailable("memory backend is down");
  int64_t id = next_lease_++;
  leases_[id] = ttl_seconds;
  return id;
}

Status MemoryBackend::lease_keepalive(int64_t lease_id) {
  std::lock_guard lk(mu_);
  if (down_) return unavailable("memory backend is down");
  if (!leases_.count(lease_id)) return not_found("lease not found");
  return ok_status();
}

Status MemoryBackend::lease_revoke(int64_t lease_id) {
  std::vector<TxnOp> deletes;
  {
    std::lock_guard lk(mu_);
    if (down_) return unavailable("memory backend is down");
    if (!leases_.erase(lease_id)) return not_found("lease not found");
    for (const auto& [k, kv] : kvs_) {
      if (kv.lease == lease_id) deletes.push_back({TxnOp::Type::kDelete, k, "", 0});
    }
  }
  if (!deletes.empty()) {
    auto r = txn({}, deletes, {});
    if (!r.ok()) return r.status();
  }
  return ok_status();
}

}  // namespace shoal
