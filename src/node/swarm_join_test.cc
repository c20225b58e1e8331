#include <gtest/gtest.h>

#include <future>

#include "http/server.h"
#include "node/join.h"

namespace shoal::node {
namespace {

// The swarm listener never takes descriptors the rest of shoald needs.
TEST(SwarmConnectionCap, LeavesHeadroomBelowTheFileLimit) {
  EXPECT_EQ(swarm_connection_cap(1048576), http::kSessionMaxConnections);  // a large limit: the fixed cap
  EXPECT_EQ(swarm_connection_cap(65536), 49152u);                         // a quarter kept back
  EXPECT_EQ(swarm_connection_cap(4096), 3072u);
  EXPECT_EQ(swarm_connection_cap(2048), 1024u);  // at least 1024 kept back
  EXPECT_EQ(swarm_connection_cap(1024), 16u);    // a tiny limit: still a few sessions
  EXPECT_EQ(swarm_connection_cap(0), 16u);
  for (uint64_t n : {1100ull, 5000ull, 70000ull}) EXPECT_LT(swarm_connection_cap(n), n) << n;
}

}  // namespace
}  // namespace shoal::node

namespace shoal::node {
namespace {

// Anonymous joins read the unsealed tokens from memory: one load per store
// revision, again after a rotation here, never a kept error.
TEST(JoinTokenCache, OneLoadPerRevisionAndAfterARotation) {
  JoinTokenCache cache;
  int loads = 0;
  JoinTokens current{"SWMTKN-1-w1", "SWMTKN-1-m1"};
  auto load = [&]() -> Result<JoinTokens> {
    ++loads;
    return current;
  };
  for (int i = 0; i < 100; ++i) EXPECT_EQ(cache.get("c1", 7, load)->worker, "SWMTKN-1-w1");
  EXPECT_EQ(loads, 1);
  current.worker = "SWMTKN-1-w2";  // rotated through this manager
  cache.invalidate();
  EXPECT_EQ(cache.get("c1", 7, load)->worker, "SWMTKN-1-w2");
  EXPECT_EQ(loads, 2);
  current.worker = "SWMTKN-1-w3";  // rotated elsewhere: the store's revision moved
  EXPECT_EQ(cache.get("c1", 8, load)->worker, "SWMTKN-1-w3");
  EXPECT_EQ(loads, 3);
  auto failing = [&]() -> Result<JoinTokens> {
    ++loads;
    return unavailable("etcd is down");
  };
  EXPECT_FALSE(cache.get("c1", 9, failing).ok());
  EXPECT_EQ(loads, 4);
  EXPECT_EQ(cache.get("c1", 10, load)->worker, "SWMTKN-1-w3");  // a failure is kept for its revision only
}

// A failed load (etcd slow or down) is kept a second: a flood of anonymous
// joins makes one load a second, not one each.
TEST(JoinTokenCache, AFailureIsKeptOneSecond) {
  FakeClock clock;
  JoinTokenCache cache(&clock);
  int loads = 0;
  bool up = false;
  auto load = [&]() -> Result<JoinTokens> {
    ++loads;
    if (!up) return unavailable("etcd is down");
    return JoinTokens{"SWMTKN-1-w", "SWMTKN-1-m"};
  };
  for (int i = 0; i < 50; ++i) EXPECT_EQ(cache.get("c1", 3, load).status().code(), Code::kUnavailable);
  EXPECT_EQ(loads, 1);
  up = true;
  clock.advance(std::chrono::milliseconds(1001));
  EXPECT_EQ(cache.get("c1", 3, load)->worker, "SWMTKN-1-w");
  EXPECT_EQ(loads, 2);
}

// The load runs without the cache's lock: others are not serialised behind
// a slow etcd read (here: invalidate() from another thread returns at once).
TEST(JoinTokenCache, TheLoadRunsWithoutTheLock) {
  JoinTokenCache cache;
  bool other_ran = false;
  std::future<void> f;  // outlives the load: without the fix it waits for the lock
  auto load = [&]() -> Result<JoinTokens> {
    f = std::async(std::launch::async, [&] { cache.invalidate(); });
    other_ran = f.wait_for(std::chrono::seconds(2)) == std::future_status::ready;
    return JoinTokens{"SWMTKN-1-w", "SWMTKN-1-m"};
  };
  EXPECT_EQ(cache.get("c1", 1, load)->worker, "SWMTKN-1-w");
  EXPECT_TRUE(other_ran) << "the load held the cache's lock";
}

// After leave and a new init the new store counts revisions from 1 again: the
// old swarm's tokens, cached at a revision the new swarm reaches, must not be
// served for it (a holder of the old worker token would join the new swarm).
TEST(JoinTokenCache, AnotherSwarmAtTheSameRevisionLoadsItsOwnTokens) {
  JoinTokenCache cache;
  JoinTokens current{"SWMTKN-1-old", "SWMTKN-1-oldm"};
  auto load = [&]() -> Result<JoinTokens> { return current; };
  EXPECT_EQ(cache.get("swarmA", 12, load)->worker, "SWMTKN-1-old");
  current = {"SWMTKN-1-new", "SWMTKN-1-newm"};  // swarm B, its store at revision 12 too
  EXPECT_EQ(cache.get("swarmB", 12, load)->worker, "SWMTKN-1-new");
}

}  // namespace
}  // namespace shoal::node
