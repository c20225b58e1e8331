#include "store/fault_backend.h"

#include <thread>

#include <optional>
#include <stdexcept>

namespace shoal {

// One open watch: events pass through while it is neither held nor dead.
struct FaultBackend::Watch {
  std::mutex mu;  // held while an event batch or the error is delivered
  bool held = false;
  bool dead = false;
  std::function<void(const std::vector<WatchEvent>&)> on_events;
  std::function<void(const Status&)> on_error;
  std::unique_ptr<WatchHandle> inner;

  void deliver(const std::vector<WatchEvent>& evs) {
    std::lock_guard lk(mu);
    if (held || dead) return;
    on_events(evs);
  }
  void kill(const Status& why) {
    std::function<void(const Status&)> fn;
    {
      std::lock_guard lk(mu);
      if (dead) return;
      dead = true;
      fn = std::move(on_error);
    }
    if (fn) fn(why);
  }
};

namespace {

bool is_write(const std::vector<TxnOp>& ops) {
  for (const auto& op : ops)
    if (op.type != TxnOp::Type::kGet) return true;
  return false;
}

class FaultWatchHandle : public WatchHandle {
 public:
  FaultWatchHandle(std::shared_ptr<FaultBackend::Watch> w, std::function<void()> detach)
      : w_(std::move(w)), detach_(std::move(detach)) {}
  ~FaultWatchHandle() override {
    detach_();
    {
      std::lock_guard lk(w_->mu);
      w_->dead = true;  // no callback after this
    }
    w_->inner.reset();
  }

 private:
  std::shared_ptr<FaultBackend::Watch> w_;
  std::function<void()> detach_;
};

}  // namespace

FaultBackend::~FaultBackend() = default;

Result<RangeResult> FaultBackend::range(const std::string& key, bool prefix) {
  {
    std::lock_guard lk(mu_);
    if (reads_to_fail_ > 0) {
      --reads_to_fail_;
      ++faults_;
      return unavailable("injected fault: the read timed out");
    }
  }
  return inner_.range(key, prefix);
}

Result<TxnResult> FaultBackend::txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                                    const std::vector<TxnOp>& failure) {
  return faulty_txn(0, {compares, success, failure});
}

Result<TxnResult> FaultBackend::resend_txn(int retry, const std::vector<Compare>& compares,
                                           const std::vector<TxnOp>& success, const std::vector<TxnOp>& failure) {
  {
    std::lock_guard lk(mu_);
    resend_retries_.push_back(retry);
  }
  return faulty_txn(retry, {compares, success, failure});
}

Result<TxnResult> FaultBackend::faulty_txn(int retry, const Txn& t) {
  // Plain references, not a structured binding: a lambda below captures
  // them (clang refuses to capture structured bindings before C++20's P1091).
  const std::vector<Compare>& compares = t.compares;
  const std::vector<TxnOp>& success = t.success;
  const std::vector<TxnOp>& failure = t.failure;
  std::optional<Fault> fault;
  std::optional<Txn> late;
  {
    std::lock_guard lk(mu_);
    if (!is_write(success) && !is_write(failure)) {
      if (reads_to_fail_ > 0) {
        --reads_to_fail_;
        ++faults_;
        return unavailable("injected fault: the read timed out");
      }
    } else {
      late.swap(late_);
      size_t n = ++writes_;
      if (auto it = planned_.find(n); it != planned_.end()) {
        fault = it->second;
        planned_.erase(it);
        ++faults_;
      }
    }
  }
  if (late) (void)inner_.txn(late->compares, late->success, late->failure);  // committed late
  auto send = [&] { return retry > 0 ? inner_.resend_txn(retry, compares, success, failure)
                                     : inner_.txn(compares, success, failure); };
  if (!fault) return send();
  std::chrono::milliseconds delay;
  std::function<void()> hook;
  {
    std::lock_guard lk(mu_);
    delay = fault_delay_;
    hook = fault_hook_;
  }
  if (delay.count() > 0) std::this_thread::sleep_for(delay);
  auto answer = [&](Status st) -> Result<TxnResult> {
    if (hook) hook();
    return st;
  };
  switch (*fault) {
    case Fault::kFail: return answer(unavailable("injected fault: connection refused"));
    case Fault::kTimeoutNotApplied: return answer(unavailable("injected fault: the request timed out"));
    case Fault::kTimeoutApplied: {
      auto r = send();
      (void)r;
      return answer(unavailable("injected fault: the request timed out (it was applied)"));
    }
    case Fault::kTimeoutAppliedLate: {
      {
        std::lock_guard lk(mu_);
        late_ = t;
      }
      return answer(unavailable("injected fault: the request timed out (it will be applied later)"));
    }
    case Fault::kThrow: throw std::runtime_error("injected fault: an exception below the store");
  }
  return internal_error("unreachable");
}

void FaultBackend::set_fault_hook(std::function<void()> fn) {
  std::lock_guard lk(mu_);
  fault_hook_ = std::move(fn);
}

std::unique_ptr<WatchHandle> FaultBackend::watch(const std::string& prefix, int64_t from_revision,
                                                 std::function<void(const std::vector<WatchEvent>&)> on_events,
                                                 std::function<void(const Status&)> on_error) {
  auto w = std::make_shared<Watch>();
  w->on_events = std::move(on_events);
  w->on_error = std::move(on_error);
  int64_t compacted;
  {
    std::lock_guard lk(mu_);
    compacted = compacted_;
    watches_.insert(w);
  }
  auto detach = [this, w] {
    std::lock_guard lk(mu_);
    watches_.erase(w);
  };
  if (from_revision < compacted) {
    w->kill(failed_precondition("etcdserver: mvcc: required revision has been compacted"));
    return std::make_unique<FaultWatchHandle>(w, detach);
  }
  Watch* raw = w.get();
  w->inner = inner_.watch(
      prefix, from_revision, [raw](const std::vector<WatchEvent>& evs) { raw->deliver(evs); },
      [raw](const Status& st) { raw->kill(st); });
  return std::make_unique<FaultWatchHandle>(w, detach);
}

void FaultBackend::fail_write(int nth, Fault fault) {
  std::lock_guard lk(mu_);
  planned_[writes_ + static_cast<size_t>(nth)] = fault;
}

void FaultBackend::fail_reads(int n) {
  std::lock_guard lk(mu_);
  reads_to_fail_ = n;
}

void FaultBackend::hold_watches() {
  std::lock_guard lk(mu_);
  for (const auto& w : watches_) {
    std::lock_guard wl(w->mu);
    w->held = true;
  }
}

void FaultBackend::drop_watches() {
  std::set<std::shared_ptr<Watch>> ws;
  {
    std::lock_guard lk(mu_);
    ws = watches_;
  }
  for (const auto& w : ws) w->kill(unavailable("injected fault: the watch stream was closed"));
}

void FaultBackend::compact(int64_t revision) {
  std::lock_guard lk(mu_);
  compacted_ = std::max(compacted_, revision);
}

size_t FaultBackend::writes() const {
  std::lock_guard lk(mu_);
  return writes_;
}

void FaultBackend::set_fault_delay(std::chrono::milliseconds d) {
  std::lock_guard lk(mu_);
  fault_delay_ = d;
}

size_t FaultBackend::faults_injected() const {
  std::lock_guard lk(mu_);
  return faults_;
}

std::vector<int> FaultBackend::resend_retries() const {
  std::lock_guard lk(mu_);
  return resend_retries_;
}

}  // namespace shoal
