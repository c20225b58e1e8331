#include "manager/etcd/learner_janitor.h"

#include <gtest/gtest.h>

namespace shoal::etcd {
namespace {

using namespace std::chrono_literals;
using Kind = LearnerAction::Kind;

constexpr Duration kRemoveAfter = 70s;  // kPromoteDeadline (60 s) + a 10 s margin

Member voter(uint64_t id, std::string name) { return Member{id, std::move(name), {"https://198.18.0.1:2380"}, {}, false}; }
Member learner(uint64_t id, std::string peer) { return Member{id, "", {std::move(peer)}, {}, true}; }

class LearnerJanitorTest : public ::testing::Test {
 protected:
  std::vector<LearnerAction> plan(const std::vector<Member>& ms, std::optional<uint64_t> owned = std::nullopt) {
    return plan_learner_cleanup(ms, owned, clock_.now(), kRemoveAfter, first_seen_);
  }
  FakeClock clock_;
  std::map<uint64_t, SysTime> first_seen_;
};

TEST_F(LearnerJanitorTest, NoLearnerNoAction) {
  EXPECT_TRUE(plan({voter(1, "m1"), voter(2, "m2")}).empty());
  EXPECT_TRUE(first_seen_.empty());
}

TEST_F(LearnerJanitorTest, AnOrphanIsPromotedUntilItsDeadlineThenRemoved) {
  const std::vector<Member> ms = {voter(1, "m1"), learner(7, "https://198.18.0.250:2380")};
  auto a = plan(ms);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, Kind::kPromote);
  EXPECT_EQ(a[0].id, 7u);
  EXPECT_EQ(a[0].peer_url, "https://198.18.0.250:2380");
  EXPECT_EQ(a[0].seen_for, Duration(0));
  clock_.advance(69s);
  a = plan(ms);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, Kind::kPromote) << "69 s seen: not yet";
  EXPECT_EQ(a[0].seen_for, Duration(69s));
  clock_.advance(1s);
  a = plan(ms);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, Kind::kRemove) << "70 s seen: removed";
  clock_.advance(2s);
  a = plan(ms);  // a remove that failed is tried again at the next tick
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, Kind::kRemove);
}

TEST_F(LearnerJanitorTest, TheLearnerOfThisManagersOwnPromoterIsLeftToIt) {
  const std::vector<Member> ms = {voter(1, "m1"), learner(7, "https://198.18.0.3:2380")};
  for (int i = 0; i < 40; ++i) {
    EXPECT_TRUE(plan(ms, 7).empty());
    clock_.advance(2s);
  }
  EXPECT_TRUE(first_seen_.empty());
  // Its promoter ended without promoting or removing it: counted from now.
  auto a = plan(ms);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, Kind::kPromote);
  EXPECT_EQ(a[0].seen_for, Duration(0));
}

TEST_F(LearnerJanitorTest, FirstSeenIsForgottenOnceTheMemberVotesOrIsGone) {
  plan({voter(1, "m1"), learner(7, "https://198.18.0.3:2380"), learner(8, "https://198.18.0.4:2380")});
  EXPECT_EQ(first_seen_.size(), 2u);
  clock_.advance(50s);
  Member promoted = voter(7, "m3");
  EXPECT_TRUE(plan({voter(1, "m1"), promoted}).empty());
  EXPECT_TRUE(first_seen_.empty()) << "7 votes, 8 was removed: nothing remembered";
  // A member id seen again later (never in practice: etcd ids are random)
  // starts afresh rather than at its old first-seen time.
  clock_.advance(50s);
  auto a = plan({voter(1, "m1"), learner(8, "https://198.18.0.4:2380")});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, Kind::kPromote);
}

TEST_F(LearnerJanitorTest, ANewJanitorCountsAfresh) {
  const std::vector<Member> ms = {voter(1, "m1"), learner(7, "https://198.18.0.250:2380")};
  clock_.advance(60s);
  plan(ms);
  clock_.advance(60s);
  std::map<uint64_t, SysTime> fresh;  // a restarted manager's janitor
  auto a = plan_learner_cleanup(ms, std::nullopt, clock_.now(), kRemoveAfter, fresh);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, Kind::kPromote) << "never earlier than the owner's own removal";
  EXPECT_EQ(plan(ms)[0].kind, Kind::kPromote) << "60 s seen by the first one";
  clock_.advance(10s);
  EXPECT_EQ(plan(ms)[0].kind, Kind::kRemove);
}

TEST_F(LearnerJanitorTest, EachUnownedLearnerIsPlannedOnItsOwnClock) {
  plan({learner(7, "https://198.18.0.3:2380")});
  clock_.advance(40s);
  auto a = plan({learner(7, "https://198.18.0.3:2380"), learner(8, "https://198.18.0.4:2380"), voter(1, "m1")});
  clock_.advance(30s);
  a = plan({learner(7, "https://198.18.0.3:2380"), learner(8, "https://198.18.0.4:2380"), voter(1, "m1")});
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].id, 7u);
  EXPECT_EQ(a[0].kind, Kind::kRemove);
  EXPECT_EQ(a[1].id, 8u);
  EXPECT_EQ(a[1].kind, Kind::kPromote);
  EXPECT_EQ(a[1].seen_for, Duration(30s));
}

// Review (demote windows): a voter whose node is a worker now and Down (the
// demoted manager died before removing its member) or is gone, and which
// does not answer, is removed, one at a time, only while a quorum is left.
TEST(StaleVoters, ADeadVoterOfAWorkerOrOfARemovedNodeIsRemovedKeepingQuorum) {
  const std::vector<Member> ms = {voter(1, "m1"), voter(2, "m2"), voter(3, "m3")};
  const std::map<std::string, bool> demoted = {{"m1", true}, {"m2", true}, {"m3", false}};
  // m3 was demoted and is dead (Down): removed (2 of the 2 left answer).
  auto r = plan_stale_voter_removal(ms, demoted, {"m1", "m2"}, {"m3"});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].id, 3u);
  EXPECT_EQ(r[0].name, "m3");
  EXPECT_FALSE(r[0].up);
  // Still answering: it is demoting itself, left to it.
  EXPECT_TRUE(plan_stale_voter_removal(ms, demoted, {"m1", "m2", "m3"}, {"m3"}).empty());
  // A node gone from the store counts as not wanting a manager, Down or not.
  r = plan_stale_voter_removal(ms, {{"m1", true}, {"m2", true}}, {"m1", "m2"}, {});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].name, "m3");
  // A dead voter whose node is still a manager is never removed here.
  EXPECT_TRUE(plan_stale_voter_removal(ms, {{"m1", true}, {"m2", true}, {"m3", true}}, {"m1", "m2"}, {"m3"}).empty());
  // Quorum: with m2 dead too only 1 of the 2 left answers: nothing removed.
  EXPECT_TRUE(plan_stale_voter_removal(ms, demoted, {"m1"}, {"m2", "m3"}).empty());
  // Never the last voter; learners and unnamed members are not counted.
  EXPECT_TRUE(plan_stale_voter_removal({voter(3, "m3")}, {}, {}, {}).empty());
  EXPECT_TRUE(plan_stale_voter_removal({voter(1, "m1"), learner(9, "https://198.18.0.9:2380")}, {{"m1", true}},
                                       {"m1"}, {}).empty());
  // Two stale ones: one at a time.
  r = plan_stale_voter_removal({voter(1, "m1"), voter(2, "m2"), voter(3, "m3"), voter(4, "m4"), voter(5, "m5")},
                               {{"m1", true}, {"m2", true}, {"m3", true}}, {"m1", "m2", "m3"}, {});
  EXPECT_EQ(r.size(), 1u);
}

// Review (critical, demote race): a demoted manager that is up (its Node is
// not Down) but answers no probe is between clearing its status and
// removing its own member: marked up (the caller gives it much longer),
// and a dead one is planned first.
TEST(StaleVoters, AnUpWorkerThatAnswersNoProbeIsMarkedUpAndComesLast) {
  const std::vector<Member> ms = {voter(1, "m1"), voter(2, "m2"), voter(3, "m3")};
  const std::map<std::string, bool> demoted = {{"m1", true}, {"m2", true}, {"m3", false}};
  auto r = plan_stale_voter_removal(ms, demoted, {"m1", "m2"}, {});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].up);
  r = plan_stale_voter_removal(ms, demoted, {"m1", "m2"}, {"m2"});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].up) << "another node's Down does not count";
  r = plan_stale_voter_removal(ms, demoted, {"m1", "m2"}, {"m3"});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].up);
  // A gone node is not up.
  r = plan_stale_voter_removal(ms, {{"m1", true}, {"m2", true}}, {"m1", "m2"}, {});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].up);
  // Of two stale ones, the dead one first whatever the member order.
  const std::vector<Member> five = {voter(1, "m1"), voter(2, "m2"), voter(3, "m3"), voter(4, "m4"), voter(5, "m5")};
  r = plan_stale_voter_removal(five, {{"m1", true}, {"m2", true}, {"m3", true}, {"m4", false}, {"m5", false}},
                               {"m1", "m2", "m3"}, {"m5"});
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].name, "m5");
  EXPECT_FALSE(r[0].up);
}

}  // namespace
}  // namespace shoal::etcd
