// Manager::stop is bounded when etcd hangs (every call blocks until
// cancelled), and revokes the leader lease whenever etcd can answer it.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "node/manager.h"
#include "store/stuck_backend_test_util.h"

namespace shoal::node {
namespace {

TEST(ManagerStop, IsBoundedWhenTheBackendHangs) {
  StuckBackend backend;
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


// The leader key and its lease, read past the backend's gate.
int64_t leader_lease(StuckBackend& backend) {
  auto r = backend.MemoryBackend::range("/shoal/leader", false);
  return r.ok() && !r->kvs.empty() ? r->kvs[0].lease : 0;
}

// Moves `clock` on by `step` until `f` is ready (at most 10 s): fires a
// StopBound's timer once the stop has made it, whenever that is.
bool advance_until_ready(std::future<void>& f, FakeClock& clock, std::chrono::milliseconds step) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (f.wait_for(std::chrono::milliseconds(10)) != std::future_status::ready) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    clock.advance(step);
  }
  return true;
}

ManagerConfig stop_config() {
  ManagerConfig config;
  config.node_id = "m1";
  config.stop_grace = std::chrono::milliseconds(2000);
  config.dispatcher.heartbeat_period = std::chrono::seconds(1);
  config.dispatcher.missed_heartbeats = 1;
  return config;
}

// One call stuck (the elector's keepalive), the rest of etcd answers: the
// revoke is sent first, before the bound's cancel frees the stuck call, so
// the next leader does not wait out the lease.
TEST(ManagerStop, RevokesTheLeaderLeaseBeforeAStuckCallIsCancelled) {
  StuckBackend backend;
  FakeClock clock;
  ManagerConfig config = stop_config();
  Manager m(backend, clock, config);
  backend.hang_keepalives();  // the elector's first keepalive (right after it won) hangs
  ASSERT_TRUE(m.start().ok());
  ASSERT_TRUE(backend.wait_blocked(std::chrono::seconds(10)));
  ASSERT_TRUE(m.is_leader());
  const int64_t lease = leader_lease(backend);
  ASSERT_NE(lease, 0);
  auto stopped = std::async(std::launch::async, [&] { m.stop(); });
  // The fake clock has not moved: no cancel yet, the revoke is answered.
  bool revoked_before_cancel = backend.wait_revoked(std::chrono::seconds(5));
  EXPECT_TRUE(revoked_before_cancel) << "stop() waited on the stuck call before revoking the lease";
  EXPECT_EQ(backend.cancels(), 0);
  ASSERT_TRUE(advance_until_ready(stopped, clock, config.stop_grace)) << "stop() is not bounded";
  EXPECT_EQ(backend.cancels(), 1);  // the stuck keepalive was cancelled
  EXPECT_EQ(leader_lease(backend), 0) << "the leader key outlived the stop";
  EXPECT_FALSE(backend.MemoryBackend::lease_keepalive(lease).ok()) << "the leader lease is still granted";
}

// stop_sessions() cancels a status write stuck past the grace; etcd then
// answers again. The cancel ended with that bound: stop() revokes the lease.
TEST(ManagerStop, ACancelInStopSessionsDoesNotFailTheLeaseRevokeOfStop) {
  StuckBackend backend;
  FakeClock clock;
  {  // a Ready node without a session: the leader marks it down (a write) after the grace
    Store seed(backend);
    ASSERT_TRUE(seed.start().ok());
    Node n;
    n.id = "w1";
    n.state = NodeState::kReady;
    Batch b;
    b.create(n);
    ASSERT_TRUE(seed.commit(b).ok());
    seed.stop();
  }
  ManagerConfig config = stop_config();
  Manager m(backend, clock, config);
  backend.hang_keepalives();
  ASSERT_TRUE(m.start().ok());
  ASSERT_TRUE(backend.wait_blocked(std::chrono::seconds(10)));  // the elector's keepalive: it leads
  ASSERT_TRUE(m.is_leader());
  backend.hang();
  clock.advance(config.dispatcher.heartbeat_period);  // the liveness check's node-down write hangs
  ASSERT_TRUE(backend.wait_blocked(std::chrono::seconds(10), 2)) << "the dispatcher wrote nothing";
  auto sessions = std::async(std::launch::async, [&] { m.stop_sessions(); });
  ASSERT_TRUE(advance_until_ready(sessions, clock, config.stop_grace)) << "stop_sessions() is not bounded";
  ASSERT_EQ(backend.cancels(), 1);
  backend.heal();  // etcd answers again
  ASSERT_NE(leader_lease(backend), 0);
  m.stop();
  EXPECT_EQ(backend.cancels(), 1);  // a healthy etcd is never cancelled
  EXPECT_EQ(leader_lease(backend), 0) << "the leader lease was not revoked: the cancel outlived its bound";
}

}  // namespace
}  // namespace shoal::node
