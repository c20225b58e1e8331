// FaultBackend: a Backend that wraps another (a MemoryBackend in tests) and
// injects the faults etcd shows in production, deterministically:
//
// - fail_write(n, fault): the n-th write transaction from now (1 = the next;
//   a write is a txn with a put or delete in either branch; reads and
//   lease calls do not count) fails with kUnavailable, either before it
//   reaches the store (kFail, kTimeoutNotApplied) or after it was applied
//   (kTimeoutApplied: the outcome the caller cannot know, as when etcd
//   commits and the response is lost), or kTimeoutAppliedLate: not applied
//   when the caller hears of the timeout, but just before the next write
//   transaction reaches the store (a proposal etcd committed after the
//   client's deadline, seen by neither the caller nor its re-read);
// - hold_watches(): watches silently stop delivering (a stream that died
//   without an error); the changes meanwhile are lost to them;
// - drop_watches(): every open watch ends with on_error (as when etcd
//   restarts); a watch started later works again;
// - compact(revision): a watch that starts below `revision` fails at once
//   with kFailedPrecondition ("required revision has been compacted").
//
// All methods are thread-safe. on_error of a watch runs on the thread that
// called drop_watches() or watch(), never after a watch's handle is gone,
// and no event follows it.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "store/backend.h"

namespace shoal {

class FaultBackend : public Backend {
 public:
  // kThrow: the write throws std::runtime_error before reaching the store
  // (a bug or a library throw somewhere below a loop's step).
  enum class Fault { kFail, kTimeoutNotApplied, kTimeoutApplied, kTimeoutAppliedLate, kThrow };

  explicit FaultBackend(Backend& inner) : inner_(inner) {}
  ~FaultBackend() override;

  Result<RangeResult> range(const std::string& key, bool prefix) override;
  Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                        const std::vector<TxnOp>& failure) override;
  // As txn() (the same faults, counted as writes); the retry numbers seen
  // are kept (resend_retries()).
  Result<TxnResult> resend_txn(int retry, const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                               const std::vector<TxnOp>& failure) override;
  std::unique_ptr<WatchHandle> watch(const std::string& prefix, int64_t from_revision,
                                     std::function<void(const std::vector<WatchEvent>&)> on_events,
                                     std::function<void(const Status&)> on_error) override;
  Result<int64_t> lease_grant(int64_t ttl_seconds) override { return inner_.lease_grant(ttl_seconds); }
  Status lease_keepalive(int64_t lease_id) override { return inner_.lease_keepalive(lease_id); }
  Status lease_revoke(int64_t lease_id) override { return inner_.lease_revoke(lease_id); }
  size_t max_txn_ops() const override { return inner_.max_txn_ops(); }
  void cancel() override { inner_.cancel(); }
  void resume() override { inner_.resume(); }

  void fail_write(int nth, Fault fault);
  // Each injected write fault is answered only after `d` (a deadline that
  // ran out: real time, for the store's resend budget). Default: at once.
  void set_fault_delay(std::chrono::milliseconds d);
  // `fn` runs after each injected write fault took effect (the write
  // applied or not) and before its caller hears of it, on the caller's
  // thread and without the backend's lock: another writer acting while the
  // caller waits for its answer. Empty: none (the default).
  void set_fault_hook(std::function<void()> fn);
  // The next `n` range reads fail (kUnavailable), e.g. the re-read after a timeout.
  void fail_reads(int n);
  void hold_watches();
  void drop_watches();
  void compact(int64_t revision);

  size_t writes() const;         // write transactions seen (failed ones included)
  size_t faults_injected() const;
  std::vector<int> resend_retries() const;  // the `retry` of every resend_txn, in order

  struct Watch;  // internal

 private:
  struct Txn {
    std::vector<Compare> compares;
    std::vector<TxnOp> success, failure;
  };
  // txn() and resend_txn() (retry > 0): the planned fault, then the inner store.
  Result<TxnResult> faulty_txn(int retry, const Txn& t);
  Backend& inner_;
  mutable std::mutex mu_;
  size_t writes_ = 0;
  size_t faults_ = 0;
  int reads_to_fail_ = 0;
  std::chrono::milliseconds fault_delay_{0};
  std::function<void()> fault_hook_;
  std::map<size_t, Fault> planned_;  // write number -> fault
  std::optional<Txn> late_;          // a kTimeoutAppliedLate write not applied yet
  std::vector<int> resend_retries_;
  int64_t compacted_ = 0;
  std::set<std::shared_ptr<Watch>> watches_;
};

}  // namespace shoal
