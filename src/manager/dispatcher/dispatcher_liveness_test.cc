// When the dispatcher marks a silent node Down (issue 6 point 7): as soon as
// its 3 heartbeat periods run out, not at the next tick of a fixed timer;
// with the period the swarm has now (`swarm update --dispatcher-heartbeat`);
// and, after an election, within a recheck of a grace held by a session key
// once that key goes. Time comes from the FakeClock; the check runs on the
// dispatcher's own thread, so the tests move time in small steps and read
// the time the check used from the Down it wrote (Node::updated_at).
#include <gtest/gtest.h>

#include <thread>

#include "manager/dispatcher/dispatcher.h"
#include "manager/dispatcher/dispatcher_test_util.h"

namespace shoal::dispatcher {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class LivenessTest : public DispatcherFixture {
 protected:
  LivenessTest() : DispatcherFixture(milliseconds(2000)) {}

  http::Response call(const std::string& op, const json& body) { return send("POST", op, body.dump()).get(); }
  std::string register_node(const std::string& id) {
    session::RegisterRequest req;
    req.node_id = id;
    req.description.hostname = id;
    auto r = call("session", json(req));
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body).get<session::RegisterResponse>().session_id;
  }
  bool down(const std::string& id) { return store.node(id)->state == NodeState::kDown; }
  // Moves the clock by d, then waits until the liveness check that fell due
  // has run (on the dispatcher's thread): each check sees the time it was due
  // at, however loaded the machine.
  void step(Nanos d) {
    clock.advance(d);
    for (int i = 0; i < 2000 && !d_settled(); ++i) std::this_thread::sleep_for(milliseconds(1));
    ASSERT_TRUE(d_settled()) << "a liveness check did not finish within 2 s";
  }
  bool d_settled() { return d->liveness_settled(); }
  // Moves the clock in `each_step`s until `id` is Down or `most` has passed;
  // `each` runs after every step.
  void advance_until_down(const std::string& id, Nanos each_step, Nanos most, const std::function<void()>& each = {}) {
    for (Nanos moved{0}; moved < most && !down(id); moved += each_step) {
      step(each_step);
      if (each) each();
    }
  }
  // How long after `from` the check that marked `id` Down ran.
  Nanos down_after(const std::string& id, SysTime from) { return store.node(id)->updated_at - from; }
  // `swarm update --dispatcher-heartbeat P` (the Cluster created with it),
  // then waits until the dispatcher applied it (a register's answer says the
  // period); the period it reached.
  Nanos set_period(Nanos p) {
    Cluster c;
    c.id = "cluster1";
    c.spec.heartbeat_period = p;
    Batch b;
    b.create(c);
    EXPECT_TRUE(store.commit(b).ok());
    Nanos period{0};
    for (int i = 0; i < 200 && period != p; ++i) {
      session::RegisterRequest req;
      req.node_id = "probe";
      period = json::parse(call("session", json(req)).body).get<session::RegisterResponse>().heartbeat_period;
      if (period != p) std::this_thread::sleep_for(milliseconds(5));
    }
    return period;
  }
};

TEST_F(LivenessTest, ASilentNodeIsDownWhenItsThreePeriodsRunOutNotAtTheNextTick) {
  const SysTime t0 = clock.now();
  register_node("n1");
  advance_until_down("n1", milliseconds(50), seconds(25));
  ASSERT_TRUE(down("n1"));
  // A check every period (5 s) found it at 20 s: 15 s is not "more than" 15 s.
  EXPECT_GE(down_after("n1", t0), seconds(15)) << "marked down before 3 periods passed";
  EXPECT_LT(down_after("n1", t0), milliseconds(15500)) << "marked down well after its 3 periods ran out";
}

TEST_F(LivenessTest, AHeartbeatPeriodChangeAppliesAtOnceToNewAndOpenSessions) {
  std::string sid = register_node("n1");
  Cluster c;
  c.id = "cluster1";
  c.spec.heartbeat_period = seconds(1);  // `swarm update --dispatcher-heartbeat 1s`
  Batch b;
  b.create(c);
  ASSERT_TRUE(store.commit(b).ok());
  int64_t period = 0;
  for (int i = 0; i < 200 && period != 1000000000; ++i) {
    auto r = call("heartbeat", {{"SessionID", sid}});
    ASSERT_EQ(r.status, 200) << r.body;
    period = json::parse(r.body).value("HeartbeatPeriod", int64_t{0});
    if (period != 1000000000) std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_EQ(period, 1000000000) << "a heartbeat answer tells an open session the new period";
  const SysTime t0 = clock.now();
  session::RegisterRequest req;
  req.node_id = "n2";
  auto r = call("session", json(req));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body).get<session::RegisterResponse>().heartbeat_period, seconds(1));
  // n1 beats at the new period (twice per period, as agents do); n2 never.
  advance_until_down("n2", milliseconds(50), seconds(20), [&, n = 0]() mutable {
    if (++n % 10 == 0) {
      EXPECT_EQ(call("heartbeat", {{"SessionID", sid}}).status, 200);
    }
  });
  ASSERT_TRUE(down("n2"));
  EXPECT_GE(down_after("n2", t0), seconds(3));
  EXPECT_LT(down_after("n2", t0), milliseconds(3500)) << "3 periods of 1 s, not of the 5 s the dispatcher began with";
  EXPECT_EQ(store.node("n1")->state, NodeState::kReady) << "a node beating every 0.5 s was marked down";
}

TEST_F(LivenessTest, AShorterPeriodMarksNoLiveNodeDownBeforeItsAgentHearsOfIt) {
  std::string sid = register_node("n1");
  step(milliseconds(2400));  // its last beat, at the 5 s period, was 2.4 s ago
  ASSERT_EQ(set_period(seconds(1)), seconds(1));
  // Its agent, still at the old period, beats 0.8 s late (a loaded machine):
  // 3.2 s after its last beat, past 3 periods of 1 s but not of 5 s.
  for (int i = 0; i < 16; ++i) step(milliseconds(50));
  EXPECT_EQ(store.node("n1")->state, NodeState::kReady) << "marked down by a limit its agent had not heard of";
  EXPECT_EQ(call("heartbeat", {{"SessionID", sid}}).status, 200) << "its session ended before its next beat";
}

TEST_F(LivenessTest, AShorterPeriodGivesOpenSessionsTheOldLimitFromTheChange) {
  register_node("n1");
  ASSERT_EQ(set_period(milliseconds(500)), milliseconds(500));  // a tenth of the 5 s the agents beat at
  const SysTime changed = clock.now();
  // n1's agent, at the old period, would beat again within 5 s: silent for
  // 10 s it is still Ready (3 new periods, 1.5 s, ran out long ago).
  for (int i = 0; i < 200; ++i) step(milliseconds(50));
  EXPECT_EQ(store.node("n1")->state, NodeState::kReady) << "a shorter period marked a live node Down";
  advance_until_down("n1", milliseconds(50), seconds(20));
  ASSERT_TRUE(down("n1")) << "a silent node is still marked Down, after the old limit";
  EXPECT_GE(down_after("n1", changed), seconds(15));
}

TEST_F(LivenessTest, AfterAnElectionAGraceHeldByAKeyEndsWithinASecondOfTheKeyGoing) {
  // n1 was Ready; its session key is a dead manager's, under a lease that
  // etcd expires 16 s after this manager's election.
  Node n;
  n.id = "n1";
  n.state = NodeState::kReady;
  n.updated_at = clock.now();
  Batch b;
  b.create(n);
  ASSERT_TRUE(store.commit(b).ok());
  auto lease = backend.lease_grant(3600);
  ASSERT_TRUE(lease.ok());
  ASSERT_TRUE(backend.txn({}, {{TxnOp::Type::kPut, std::string(kSessionPrefix) + "n1", "dead-manager", *lease}}, {}).ok());
  const SysTime t0 = clock.now();
  d->begin_grace();
  for (Nanos moved{0}; moved < seconds(16); moved += milliseconds(100)) step(milliseconds(100));
  ASSERT_FALSE(down("n1")) << "a node held by a session key was marked down";
  ASSERT_TRUE(backend.lease_revoke(*lease).ok());
  advance_until_down("n1", milliseconds(50), seconds(10));
  ASSERT_TRUE(down("n1"));
  // Rechecked at every period (5 s) it was found at 20 s.
  EXPECT_LT(down_after("n1", t0), milliseconds(17300)) << "judged again only at the next period";
}

}  // namespace
}  // namespace shoal::dispatcher
