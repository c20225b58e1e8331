#include "manager/leader/elector.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "store/fault_backend.h"
#include "store/memory_backend.h"
#include "store/stuck_backend_test_util.h"

namespace shoal::leader {
namespace {

// Drives electors by step() on the fake clock: no threads, no sleeps.
class ElectorTest : public ::testing::Test {
 protected:
  std::unique_ptr<Elector> make(const std::string& id) {
    ElectorOptions o;
    o.candidate_id = id;
    return std::make_unique<Elector>(
        faults, clock, o,
        [this, id](const Fence& f) {
          elected[id] = f;
          ++elections;
        },
        [this, id] { deposed.push_back(id); });
  }
  int64_t leader_key_create_revision() {
    auto r = memory.range("/shoal/leader", false);
    return r->kvs.empty() ? 0 : r->kvs[0].create_revision;
  }

  MemoryBackend memory;
  FaultBackend faults{memory};
  FakeClock clock;
  std::map<std::string, Fence> elected;
  int elections = 0;
  std::vector<std::string> deposed;
};

TEST_F(ElectorTest, ALostResponseToItsOwnCreateStillMakesItTheLeader) {
  auto e = make("m1");
  faults.fail_write(1, FaultBackend::Fault::kTimeoutApplied);  // the create commits, its answer is lost
  e->step();
  ASSERT_EQ(faults.faults_injected(), 1u) << "the create's answer was lost";
  EXPECT_FALSE(e->is_leader());
  for (int i = 0; i < 3 && !e->is_leader(); ++i) {
    clock.advance(std::chrono::seconds(1));
    e->step();
  }
  ASSERT_TRUE(e->is_leader()) << "the key holds our id and lease: it is ours";
  EXPECT_EQ(elections, 1);
  EXPECT_EQ(elected["m1"].key, "/shoal/leader");
  EXPECT_EQ(elected["m1"].create_revision, leader_key_create_revision());
  EXPECT_EQ(e->leader_id(), "m1");
}

TEST_F(ElectorTest, AnExceptionInAStepDoesNotEndTheElectorAndItLeadsAfterwards) {
  auto e = make("m1");
  faults.fail_write(1, FaultBackend::Fault::kThrow);  // the campaign's create throws
  EXPECT_EQ(e->guarded_step(), std::chrono::seconds(1)) << "it backs off after the exception";
  ASSERT_EQ(faults.faults_injected(), 1u);
  EXPECT_FALSE(e->is_leader());
  for (int i = 0; i < 3 && !e->is_leader(); ++i) {
    clock.advance(std::chrono::seconds(1));
    e->guarded_step();
  }
  EXPECT_TRUE(e->is_leader());
  EXPECT_EQ(elections, 1);
}

TEST_F(ElectorTest, AnotherCandidateWaitsWhileTheLeaderHoldsTheKey) {
  auto a = make("m1");
  auto b = make("m2");
  a->step();
  ASSERT_TRUE(a->is_leader());
  for (int i = 0; i < 5; ++i) {
    clock.advance(std::chrono::seconds(1));
    b->step();
    a->step();
  }
  EXPECT_FALSE(b->is_leader());
  EXPECT_EQ(b->leader_id(), "m1");
  a->stop();  // steps down: revokes its lease, the key goes
  EXPECT_EQ(deposed, std::vector<std::string>{"m1"});
  b->step();
  EXPECT_TRUE(b->is_leader());
  EXPECT_GT(elected["m2"].create_revision, elected["m1"].create_revision);
}

// The failover budget (docs/cluster.md): a follower asks for the key every
// retry_interval, so once the dead leader's lease is gone it leads within
// one; the leader's lease lasts a TTL past its last keepalive.
TEST_F(ElectorTest, AFollowerTakesTheKeyWithinOneRetryOfTheLeadersLeaseEnding) {
  ElectorOptions defaults;
  EXPECT_EQ(defaults.lease_ttl_seconds, 5);
  EXPECT_EQ(defaults.retry_interval, std::chrono::milliseconds(250));
  auto a = make("m1");
  auto b = make("m2");
  a->step();
  ASSERT_TRUE(a->is_leader());
  EXPECT_EQ(b->step(), defaults.retry_interval) << "a follower's next round";
  // The leader's lease ends (etcd expired it: its keepalives stopped).
  auto leader = memory.range("/shoal/leader", false);
  ASSERT_TRUE(memory.lease_revoke(leader->kvs.at(0).lease).ok());
  clock.advance(defaults.retry_interval);
  b->step();
  EXPECT_TRUE(b->is_leader());
}

TEST_F(ElectorTest, KeepalivesFailingForALeaseTtlDepose) {
  auto e = make("m1");
  e->step();
  ASSERT_TRUE(e->is_leader());
  memory.set_down(true);
  const std::chrono::milliseconds ttl = std::chrono::seconds(ElectorOptions{}.lease_ttl_seconds);
  clock.advance(ttl / 2);
  e->step();
  EXPECT_TRUE(e->is_leader()) << "within the TTL";
  clock.advance(ttl / 2 + std::chrono::milliseconds(1));
  e->step();
  EXPECT_FALSE(e->is_leader());
  EXPECT_EQ(deposed, std::vector<std::string>{"m1"});
}

// resign() revokes the lease from the caller's thread while the elector's
// thread is stuck in a call (a hung keepalive): the key goes at once, and
// stop() (once the stuck call is cancelled) revokes nothing twice.
TEST(ElectorStopTest, ResignRevokesTheLeaseWhileTheElectorsThreadIsStuck) {
  StuckBackend backend;
  int deposed = 0;
  ElectorOptions o;
  o.candidate_id = "m1";
  Elector e(backend, o, [](const Fence&) {}, [&] { ++deposed; });
  backend.hang_keepalives();  // the keepalive right after the win hangs
  e.start();
  ASSERT_TRUE(backend.wait_blocked(std::chrono::seconds(10)));
  ASSERT_TRUE(e.is_leader());
  ASSERT_FALSE(backend.MemoryBackend::range("/shoal/leader", false)->kvs.empty());
  e.resign();
  EXPECT_EQ(backend.revoked(), 1);
  EXPECT_TRUE(backend.MemoryBackend::range("/shoal/leader", false)->kvs.empty()) << "the leader key outlived resign()";
  backend.cancel();  // what the owner's StopBound does after its grace
  e.stop();
  EXPECT_FALSE(e.is_leader());
  EXPECT_EQ(deposed, 1);
  EXPECT_EQ(backend.revoked(), 1);
}

// A memory backend whose lease grants wait until released (at most 5 s).
class GatedGrantBackend : public MemoryBackend {
 public:
  Result<int64_t> lease_grant(int64_t ttl) override {
    std::unique_lock lk(mu_);
    waiting_ = true;
    cv_.notify_all();
    cv_.wait_for(lk, std::chrono::seconds(5), [&] { return open_; });
    lk.unlock();
    return MemoryBackend::lease_grant(ttl);
  }
  bool wait_granting() {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, std::chrono::seconds(10), [&] { return waiting_; });
  }
  void open() {
    std::lock_guard lk(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool waiting_ = false;
  bool open_ = false;
};

// resign() comes while the thread's lease grant is in flight (it sees no
// lease to revoke): the granted lease must not then win the leader key,
// written after the stop began (and, on a hung etcd, left to expire).
TEST(ElectorStopTest, ALeaseGrantedDuringResignIsNotElected) {
  GatedGrantBackend backend;
  int elected = 0;
  ElectorOptions o;
  o.candidate_id = "m1";
  Elector e(backend, o, [&](const Fence&) { ++elected; }, [] {});
  e.start();
  ASSERT_TRUE(backend.wait_granting());
  e.resign();
  backend.open();
  e.stop();
  EXPECT_EQ(elected, 0) << "elected after resign()";
  EXPECT_TRUE(backend.range("/shoal/leader", false)->kvs.empty());
}

}  // namespace
}  // namespace shoal::leader
