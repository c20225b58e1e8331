#include "manager/dispatcher/session_presence.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <set>
#include <thread>
#include <vector>

#include "store/fault_backend.h"
#include "store/memory_backend.h"

namespace shoal::dispatcher {
namespace {

// A memory backend that counts transactions and can hold the first one
// until a condition holds (at most 5 s, so a build without the behaviour
// under test fails instead of hanging).
class GatedBackend : public MemoryBackend {
 public:
  std::function<bool()> release_first_when;
  std::atomic<int> txns{0};

  Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                        const std::vector<TxnOp>& failure) override {
    if (txns++ == 0 && release_first_when) {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (!release_first_when() && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    }
    return MemoryBackend::txn(compares, success, failure);
  }
};

TEST(SessionPresence, ConcurrentPublishesShareOneTransaction) {
  GatedBackend backend;
  SessionPresence presence(backend, "owner1", std::chrono::seconds(10));
  constexpr int kWaiting = 9;
  // The first publish holds the backend until the others wait behind it.
  backend.release_first_when = [&] { return presence.queued() == kWaiting; };
  std::thread first([&] { EXPECT_TRUE(presence.publish("n0").ok()); });
  while (backend.txns == 0) std::this_thread::yield();
  std::vector<std::thread> rest;
  for (int i = 1; i <= kWaiting; ++i) {
    rest.emplace_back([&, i] { EXPECT_TRUE(presence.publish("n" + std::to_string(i)).ok()); });
  }
  first.join();
  for (auto& t : rest) t.join();
  // n0's transaction, then one for the nine that waited (was one each: 10).
  EXPECT_EQ(backend.txns, 2);
  auto holders = presence.holders();
  ASSERT_TRUE(holders.ok());
  EXPECT_EQ(holders->size(), 10u);
}

TEST(SessionPresence, APublishThenAWithdrawLeavesNoKey) {
  GatedBackend backend;
  SessionPresence presence(backend, "owner1", std::chrono::seconds(10));
  ASSERT_TRUE(presence.publish("n1").ok());
  ASSERT_TRUE(presence.withdraw("n1").ok());
  ASSERT_TRUE(presence.keepalive().ok());  // writes what is still pending: nothing
  auto holders = presence.holders();
  ASSERT_TRUE(holders.ok());
  EXPECT_TRUE(holders->empty());
}

// A memory backend that records the TTL of every lease granted and the
// leases revoked.
class LeaseLog : public MemoryBackend {
 public:
  std::vector<int64_t> granted_ttls;
  std::vector<int64_t> revoked;
  Result<int64_t> lease_grant(int64_t ttl_seconds) override {
    granted_ttls.push_back(ttl_seconds);
    return MemoryBackend::lease_grant(ttl_seconds);
  }
  Status lease_revoke(int64_t lease_id) override {
    revoked.push_back(lease_id);
    return MemoryBackend::lease_revoke(lease_id);
  }
  int64_t lease_of(const std::string& node) {
    auto r = range(std::string(kSessionPrefix) + node, false);
    return r.ok() && !r->kvs.empty() ? r->kvs[0].lease : 0;
  }
};

// swarm update --dispatcher-heartbeat (review: the lease kept the TTL of the
// period the dispatcher started with): the next keepalive moves every key to
// a lease with the new TTL and only then revokes the old one.
TEST(SessionPresence, ANewTtlIsAppliedAtTheNextKeepalive) {
  LeaseLog backend;
  SessionPresence presence(backend, "owner1", std::chrono::seconds(15));
  ASSERT_TRUE(presence.publish("n1").ok());
  ASSERT_TRUE(presence.publish("n2").ok());
  const int64_t first = backend.lease_of("n1");
  ASSERT_EQ(backend.granted_ttls, std::vector<int64_t>{15});
  presence.set_ttl(std::chrono::seconds(30));
  ASSERT_TRUE(presence.keepalive().ok());
  EXPECT_EQ(backend.granted_ttls, (std::vector<int64_t>{15, 30}));
  const int64_t second = backend.lease_of("n1");
  EXPECT_NE(second, first);
  EXPECT_EQ(backend.lease_of("n2"), second);
  EXPECT_EQ(backend.revoked, std::vector<int64_t>{first});
  auto holders = presence.holders();
  ASSERT_TRUE(holders.ok());
  EXPECT_EQ(*holders, (std::set<std::string>{"n1", "n2"}));
  // A shorter period too; an unchanged one grants nothing.
  presence.set_ttl(std::chrono::seconds(3));
  ASSERT_TRUE(presence.keepalive().ok());
  ASSERT_TRUE(presence.keepalive().ok());
  EXPECT_EQ(backend.granted_ttls, (std::vector<int64_t>{15, 30, 3}));
  EXPECT_EQ(backend.lease_of("n2"), backend.lease_of("n1"));
  EXPECT_EQ(backend.revoked, (std::vector<int64_t>{first, second}));
}

// A LeaseLog whose keepalive of the leases in `keepalive_unavailable` fails
// with kUnavailable (a deadline on a slow etcd: the lease is still there).
class FlakyLeases : public LeaseLog {
 public:
  std::set<int64_t> keepalive_unavailable;
  Status lease_keepalive(int64_t lease_id) override {
    if (keepalive_unavailable.count(lease_id)) return unavailable("injected: the keepalive timed out");
    return LeaseLog::lease_keepalive(lease_id);
  }
};

// A TTL change whose move of the keys failed leaves them on the old lease:
// revoke() (a stop that cannot wait for mu_) revokes that one too, so the
// keys go now, not when its TTL runs out (review: it knew only the new one).
TEST(SessionPresence, RevokeAfterAnUnfinishedTtlChangeRevokesTheOldLeaseToo) {
  FlakyLeases leases;
  FaultBackend backend(leases);
  SessionPresence presence(backend, "owner1", std::chrono::seconds(15));
  ASSERT_TRUE(presence.publish("n1").ok());
  const int64_t first = leases.lease_of("n1");
  presence.set_ttl(std::chrono::seconds(30));
  backend.fail_write(1, FaultBackend::Fault::kFail);  // the move to the new lease
  EXPECT_FALSE(presence.keepalive().ok());
  ASSERT_EQ(leases.granted_ttls, (std::vector<int64_t>{15, 30}));
  EXPECT_EQ(leases.lease_of("n1"), first);  // still on the old lease
  presence.revoke();
  EXPECT_EQ(std::count(leases.revoked.begin(), leases.revoked.end(), first), 1) << "the old lease was not revoked";
  auto holders = presence.holders();
  ASSERT_TRUE(holders.ok());
  EXPECT_TRUE(holders->empty());
  presence.close();
}

// A transient keepalive error on the retiring lease does not forget it: it
// is revoked once the keys have moved (was: dropped at once, never kept
// alive nor revoked).
TEST(SessionPresence, ATransientKeepaliveErrorKeepsTheRetiringLease) {
  FlakyLeases leases;
  FaultBackend backend(leases);
  SessionPresence presence(backend, "owner1", std::chrono::seconds(15));
  ASSERT_TRUE(presence.publish("n1").ok());
  const int64_t first = leases.lease_of("n1");
  presence.set_ttl(std::chrono::seconds(30));
  backend.fail_write(1, FaultBackend::Fault::kFail);
  EXPECT_FALSE(presence.keepalive().ok());  // new lease granted, keys not moved
  leases.keepalive_unavailable.insert(first);
  backend.fail_write(1, FaultBackend::Fault::kFail);
  EXPECT_FALSE(presence.keepalive().ok());  // a deadline on the old lease, the move fails again
  leases.keepalive_unavailable.clear();
  ASSERT_TRUE(presence.keepalive().ok());  // the keys move: the old lease goes
  EXPECT_NE(leases.lease_of("n1"), first);
  EXPECT_EQ(leases.revoked, std::vector<int64_t>{first});
}

}  // namespace
}  // namespace shoal::dispatcher
