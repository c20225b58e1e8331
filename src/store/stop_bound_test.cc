// StopBound: a healthy backend is never cancelled; a call hung past the
// grace is, and the cancel ends with the bound (later calls are sent again).
#include "store/stop_bound.h"

#include <gtest/gtest.h>

#include <future>

#include "store/stuck_backend_test_util.h"

namespace shoal {
namespace {

constexpr std::chrono::milliseconds kGrace{2000};

TEST(StopBoundTest, AHealthyBackendIsNeverCancelled) {
  StuckBackend backend;
  FakeClock clock;
  {
    StopBound bound(backend, clock, kGrace);
    EXPECT_TRUE(backend.range("/a", false).ok());
    clock.advance(kGrace - std::chrono::milliseconds(1));
    EXPECT_FALSE(bound.cancelled());
  }
  clock.advance(kGrace);  // the bound's timer went with it
  EXPECT_EQ(backend.cancels(), 0);
  EXPECT_TRUE(backend.range("/a", false).ok());
}

TEST(StopBoundTest, ACallHungPastTheGraceIsCancelledAndTheCancelEndsWithTheBound) {
  StuckBackend backend;
  FakeClock clock;
  auto lease = backend.lease_grant(10);
  ASSERT_TRUE(lease.ok());
  backend.hang();
  {
    StopBound bound(backend, clock, kGrace);
    auto hung = std::async(std::launch::async, [&] { return backend.range("/a", false).status(); });
    ASSERT_TRUE(backend.wait_blocked(std::chrono::seconds(10)));
    backend.heal();  // etcd answers again, but the call in flight is lost
    clock.advance(kGrace);
    EXPECT_TRUE(bound.cancelled());
    ASSERT_EQ(hung.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_FALSE(hung.get().ok());
    // Within the bound a cancelled backend sends nothing: the stop ends fast.
    EXPECT_FALSE(backend.lease_keepalive(*lease).ok());
  }
  // Past the bound (the next step of a shutdown, a later stop) calls work.
  EXPECT_TRUE(backend.lease_revoke(*lease).ok());
  EXPECT_EQ(backend.revoked(), 1);
}

}  // namespace
}  // namespace shoal
