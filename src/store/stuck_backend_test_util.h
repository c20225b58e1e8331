// StuckBackend (tests only): a MemoryBackend whose calls can be made to hang
// as on a hung etcd, and that cancels as EtcdGrpcBackend does: cancel() ends the
// calls in flight (kUnavailable) and fails every call started before the
// next resume() unsent; after resume() calls are served again (a call that
// is still meant to hang hangs again, until the next cancel()).
// Thread-safe. The base MemoryBackend's methods (called qualified, e.g.
// b.MemoryBackend::range) read the state without the gate.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "store/memory_backend.h"

namespace shoal {

class StuckBackend : public MemoryBackend {
 public:
  Result<RangeResult> range(const std::string& key, bool prefix) override {
    if (Status st = gate(Call::kOther); !st.ok()) return st;
    return MemoryBackend::range(key, prefix);
  }
  Result<TxnResult> txn(const std::vector<Compare>& c, const std::vector<TxnOp>& s,
                        const std::vector<TxnOp>& f) override {
    if (Status st = gate(Call::kOther); !st.ok()) return st;
    return MemoryBackend::txn(c, s, f);
  }
  Result<int64_t> lease_grant(int64_t ttl) override {
    if (Status st = gate(Call::kOther); !st.ok()) return st;
    return MemoryBackend::lease_grant(ttl);
  }
  Status lease_keepalive(int64_t id) override {
    if (Status st = gate(Call::kKeepalive); !st.ok()) return st;
    return MemoryBackend::lease_keepalive(id);
  }
  Status lease_revoke(int64_t id) override {
    if (Status st = gate(Call::kRevoke); !st.ok()) return st;
    Status st = MemoryBackend::lease_revoke(id);
    std::lock_guard lk(mu_);
    if (st.ok()) ++revoked_;
    cv_.notify_all();
    return st;
  }
  void cancel() override {
    std::lock_guard lk(mu_);
    cancelled_ = true;
    ++cancels_;
    cv_.notify_all();
  }
  void resume() override {
    std::lock_guard lk(mu_);
    cancelled_ = false;
  }

  // Every call from now on hangs (until a cancel()).
  void hang() {
    std::lock_guard lk(mu_);
    hang_all_ = true;
  }
  // Every lease keepalive from now on hangs; the other calls are served.
  void hang_keepalives() {
    std::lock_guard lk(mu_);
    hang_keepalives_ = true;
  }
  // Serves every call again (those hanging now still wait for a cancel()).
  void heal() {
    std::lock_guard lk(mu_);
    hang_all_ = hang_keepalives_ = false;
  }
  // Waits (at most `limit`) until `calls` calls hang at once.
  bool wait_blocked(std::chrono::seconds limit, int calls = 1) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, limit, [&] { return blocked_ >= calls; });
  }
  // Waits (at most `limit`) until a lease revoke has succeeded.
  bool wait_revoked(std::chrono::seconds limit) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, limit, [&] { return revoked_ > 0; });
  }
  int revoked() const {
    std::lock_guard lk(mu_);
    return revoked_;
  }
  int cancels() const {
    std::lock_guard lk(mu_);
    return cancels_;
  }

 private:
  enum class Call { kKeepalive, kRevoke, kOther };
  Status gate(Call call) {
    std::unique_lock lk(mu_);
    if (cancelled_) return unavailable("cancelled (not sent)");
    if (!hang_all_ && !(hang_keepalives_ && call == Call::kKeepalive)) return ok_status();
    const int cancels = cancels_;
    ++blocked_;
    cv_.notify_all();
    cv_.wait(lk, [&] { return cancels_ != cancels; });
    --blocked_;
    return unavailable("cancelled");
  }
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool hang_all_ = false;
  bool hang_keepalives_ = false;
  bool cancelled_ = false;
  int cancels_ = 0;
  int blocked_ = 0;
  int revoked_ = 0;
};

}  // namespace shoal
