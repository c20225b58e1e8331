// Manager::stop is bounded when etcd hangs (every call blocks until cancelled).
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "node/manager.h"
#include "store/memory_backend.h"

namespace shoal::node {
namespace {

// Once hang() is called, every call blocks until cancel() (then fails, as
// EtcdBackend's cancelled requests do).
class HangingBackend : public MemoryBackend {
 public:
  Result<RangeResult> range(const std::string& key, bool prefix) override {
    if (Status st = wait(); !st.ok()) return st;
    return MemoryBackend::range(key, prefix);
  }
  Result<TxnResult> txn(const std::vector<Compare>& c, const std::vector<TxnOp>& s,
                        const std::vector<TxnOp>& f) override {
    if (Status st = wait(); !st.ok()) return st;
    return MemoryBackend::txn(c, s, f);
  }
  Result<int64_t> lease_grant(int64_t ttl) override {
    if (Status st = wait(); !st.ok()) return st;
    return MemoryBackend::lease_grant(ttl);
  }
  Status lease_keepalive(int64_t id) override {
    if (Status st = wait(); !st.ok()) return st;
    return MemoryBackend::lease_keepalive(id);
  }
  Status lease_revoke(int64_t id) override {
    if (Status st = wait(); !st.ok()) return st;
    return MemoryBackend::lease_revoke(id);
  }
  void cancel() override {
    std::lock_guard lk(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }
  void hang() {
    std::lock_guard lk(mu_);
    hang_ = true;
  }
  bool wait_blocked(std::chrono::seconds limit) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, limit, [&] { return blocked_ > 0; });
  }

 private:
  Status wait() {
    std::unique_lock lk(mu_);
    if (!hang_ && !cancelled_) return ok_status();
    ++blocked_;
    cv_.notify_all();
    cv_.wait(lk, [&] { return cancelled_; });
    --blocked_;
    return unavailable("cancelled");
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool hang_ = false;
  bool cancelled_ = false;
  int blocked_ = 0;
};

TEST(ManagerStop, IsBoundedWhenTheBackendHangs) {
  HangingBackend backend;
  RealClock clock;
  ManagerConfig config;
  config.node_id = "m1";
  config.elector.lease_ttl_seconds = 1;  // keepalives every 333 ms: one soon blocks
  config.stop_grace = std::chrono::milliseconds(200);
  Manager m(backend, clock, config);
  ASSERT_TRUE(m.start().ok());
  for (int i = 0; i < 1000 && !m.is_leader(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(m.is_leader());
  backend.hang();
  ASSERT_TRUE(backend.wait_blocked(std::chrono::seconds(10))) << "no manager thread called the backend";
  auto started = std::chrono::steady_clock::now();
  auto stopped = std::async(std::launch::async, [&] { m.stop(); });
  bool bounded = stopped.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  if (!bounded) backend.cancel();  // let the test end
  stopped.wait();
  EXPECT_TRUE(bounded) << "stop waited on a hung backend call";
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
}

}  // namespace
}  // namespace shoal::node
