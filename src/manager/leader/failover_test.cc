// Fast failover (ElectorOptions::probe_leader): followers that cannot reach
// the leader depose it within about suspect_after rounds, but only as a
// majority of the managers and from etcd's quorum side. Driven by step() on
// the fake clock: no threads, no sleeps.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "manager/leader/elector.h"
#include "store/memory_backend.h"

namespace shoal::leader {
namespace {

using std::chrono::milliseconds;

// A backend whose writes fail while `cut` (a member on etcd's minority side:
// its proposals never commit); reads and lease calls still answer.
class MinorityBackend : public Backend {
 public:
  explicit MinorityBackend(Backend& inner) : inner_(inner) {}
  Result<RangeResult> range(const std::string& key, bool prefix) override { return inner_.range(key, prefix); }
  Result<TxnResult> txn(const std::vector<Compare>& c, const std::vector<TxnOp>& s,
                        const std::vector<TxnOp>& f) override {
    if (cut) return unavailable("etcd: no leader (minority side)");
    if (lose_suspicion_answer && !s.empty() && s[0].type == TxnOp::Type::kPut &&
        s[0].key.find("/leader-suspects/") != std::string::npos) {
      lose_suspicion_answer = false;
      (void)inner_.txn(c, s, f);  // applied; the answer (a deadline) says nothing
      return unavailable("etcd: context deadline exceeded");
    }
    return inner_.txn(c, s, f);
  }
  std::unique_ptr<WatchHandle> watch(const std::string& p, int64_t r,
                                     std::function<void(const std::vector<WatchEvent>&)> e,
                                     std::function<void(const Status&)> err) override {
    return inner_.watch(p, r, std::move(e), std::move(err));
  }
  Result<int64_t> lease_grant(int64_t ttl) override { return inner_.lease_grant(ttl); }
  Status lease_keepalive(int64_t id) override { return inner_.lease_keepalive(id); }
  Status lease_revoke(int64_t id) override { return inner_.lease_revoke(id); }
  size_t max_txn_ops() const override { return inner_.max_txn_ops(); }
  bool cut = false;
  bool lose_suspicion_answer = false;  // the next suspicion put applies, its answer is lost

 private:
  Backend& inner_;
};

class FailoverTest : public ::testing::Test {
 protected:
  // A candidate whose probe of the leader answers unless `unreachable` holds
  // (this candidate, the leader) and the leader is not dead.
  std::unique_ptr<Elector> make(const std::string& id) {
    backends_[id] = std::make_unique<MinorityBackend>(memory);
    ElectorOptions o;
    o.candidate_id = id;
    o.probe_leader = [this, id](const std::string& leader) {
      ++probes[id];
      return !dead.count(leader) && !unreachable.count({id, leader});
    };
    o.managers = [] { return size_t{3}; };
    return std::make_unique<Elector>(
        *backends_[id], clock, o, [this, id](const Fence& f) { elected[id] = f; },
        [this, id] { deposed.push_back(id); });
  }
  // One round of every elector named in `live`, then the follower interval.
  void round(const std::vector<Elector*>& live) {
    for (Elector* e : live) e->step();
    clock.advance(ElectorOptions{}.retry_interval);
  }
  std::string leader_key_value() {
    auto r = memory.range("/shoal/leader", false);
    return r->kvs.empty() ? "" : r->kvs[0].value;
  }
  size_t suspicions() { return memory.range("/shoal/leader-suspects/", true)->kvs.size(); }

  MemoryBackend memory;
  std::map<std::string, std::unique_ptr<MinorityBackend>> backends_;
  FakeClock clock;
  std::set<std::string> dead;
  std::set<std::pair<std::string, std::string>> unreachable;  // {prober, leader}
  std::map<std::string, int> probes;
  std::map<std::string, Fence> elected;
  std::vector<std::string> deposed;
};

TEST_F(FailoverTest, ADeadLeaderIsDeposedByTheOthersWithinTwoSeconds) {
  auto m1 = make("m1"), m2 = make("m2"), m3 = make("m3");
  m1->step();
  ASSERT_TRUE(m1->is_leader());
  for (int i = 0; i < 8; ++i) round({m1.get(), m2.get(), m3.get()});
  ASSERT_TRUE(m1->is_leader()) << "a leader that answers is never suspected";
  EXPECT_EQ(suspicions(), 0u);
  EXPECT_GT(probes["m2"], 0);

  // m1 dies: it steps no more, its lease would live on for a TTL (5 s) and
  // longer (etcd's new raft leader renews every lease).
  dead.insert("m1");
  const SysTime killed = clock.now();
  while (!m2->is_leader() && !m3->is_leader() && clock.now() - killed < std::chrono::seconds(5))
    round({m2.get(), m3.get()});
  ASSERT_TRUE(m2->is_leader() || m3->is_leader()) << "deposed by the followers, not by the TTL";
  EXPECT_LE(clock.now() - killed, milliseconds(2000));
  const std::string next = m2->is_leader() ? "m2" : "m3";
  EXPECT_EQ(leader_key_value(), next);
  EXPECT_GT(elected[next].create_revision, elected["m1"].create_revision) << "a new fence";
  // Once the new leader answers, the other follower withdraws its suspicion.
  for (int i = 0; i < 3; ++i) round({m2.get(), m3.get()});
  EXPECT_EQ(suspicions(), 0u);
}

TEST_F(FailoverTest, OneManagerThatCannotReachAHealthyLeaderDoesNotDeposeIt) {
  auto m1 = make("m1"), m2 = make("m2"), m3 = make("m3");
  m1->step();
  ASSERT_TRUE(m1->is_leader());
  const int64_t fence = elected["m1"].create_revision;
  unreachable.insert({"m2", "m1"});  // only the m2-m1 link is cut
  for (int i = 0; i < 40; ++i) round({m1.get(), m2.get(), m3.get()});
  EXPECT_EQ(suspicions(), 1u) << "m2 suspects";
  EXPECT_TRUE(m1->is_leader()) << "one suspicion of three managers deposes nobody";
  EXPECT_EQ(leader_key_value(), "m1");
  auto key = memory.range("/shoal/leader", false);
  EXPECT_EQ(key->kvs.at(0).create_revision, fence);
  EXPECT_TRUE(deposed.empty());
  // The link heals: m2 withdraws.
  unreachable.clear();
  round({m1.get(), m2.get(), m3.get()});
  round({m1.get(), m2.get(), m3.get()});
  EXPECT_EQ(suspicions(), 0u);
}

// A suspicion put whose answer was lost (a write deadline on a loaded
// etcd) may have applied: the follower whose probe answers again withdraws
// it all the same, so it never counts as a vote later, when one other
// follower alone cannot reach the healthy leader.
TEST_F(FailoverTest, ASuspicionWhosePutAnswerWasLostIsWithdrawnToo) {
  auto m1 = make("m1"), m2 = make("m2"), m3 = make("m3");
  m1->step();
  ASSERT_TRUE(m1->is_leader());
  backends_["m2"]->lose_suspicion_answer = true;
  unreachable.insert({"m2", "m1"});
  for (int i = 0; i < 40 && suspicions() == 0; ++i) round({m1.get(), m2.get(), m3.get()});
  ASSERT_EQ(suspicions(), 1u) << "m2's put applied";
  ASSERT_FALSE(backends_["m2"]->lose_suspicion_answer);
  unreachable.clear();  // m2 reaches m1 again at once
  for (int i = 0; i < 3; ++i) round({m1.get(), m2.get(), m3.get()});
  EXPECT_EQ(suspicions(), 0u) << "m2 withdrew the suspicion whose answer it never got";
  unreachable.insert({"m3", "m1"});  // later, m3 alone cannot reach m1
  for (int i = 0; i < 40; ++i) round({m1.get(), m2.get(), m3.get()});
  EXPECT_TRUE(m1->is_leader()) << "one manager's doubt plus a stale vote deposed a healthy leader";
  EXPECT_EQ(leader_key_value(), "m1");
  EXPECT_TRUE(deposed.empty());
}

TEST_F(FailoverTest, FollowersOnEtcdsMinoritySideSuspectNothing) {
  auto m1 = make("m1"), m2 = make("m2"), m3 = make("m3");
  m1->step();
  ASSERT_TRUE(m1->is_leader());
  unreachable.insert({"m2", "m1"});
  unreachable.insert({"m3", "m1"});
  backends_["m3"]->cut = true;  // m3's writes never commit
  for (int i = 0; i < 40; ++i) round({m1.get(), m2.get(), m3.get()});
  EXPECT_EQ(suspicions(), 1u) << "only m2 could record its suspicion";
  EXPECT_TRUE(m1->is_leader());
  EXPECT_EQ(leader_key_value(), "m1");
}

TEST_F(FailoverTest, ALeaderWhoseLeaseWasRevokedStepsDownAtOnce) {
  auto m1 = make("m1");
  m1->step();
  ASSERT_TRUE(m1->is_leader());
  // The followers revoked it (they could not reach it; it was alive).
  auto key = memory.range("/shoal/leader", false);
  ASSERT_TRUE(memory.lease_revoke(key->kvs.at(0).lease).ok());
  clock.advance(milliseconds(1));
  m1->step();
  EXPECT_FALSE(m1->is_leader()) << "etcd says its lease is gone: no TTL to wait";
  EXPECT_EQ(deposed, std::vector<std::string>{"m1"});
}

TEST_F(FailoverTest, WithoutAProbeOnlyTheLeaseDeposes) {
  ElectorOptions o;
  o.candidate_id = "m2";
  Elector m2(memory, clock, o, [](const Fence&) {}, [] {});
  auto m1 = make("m1");
  m1->step();
  ASSERT_TRUE(m1->is_leader());
  dead.insert("m1");
  for (int i = 0; i < 20; ++i) round({&m2});
  EXPECT_FALSE(m2.is_leader());
  EXPECT_EQ(leader_key_value(), "m1");
}

}  // namespace
}  // namespace shoal::leader
