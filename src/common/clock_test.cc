#include "common/clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

namespace shoal {
namespace {

// cancel() of a timer whose callback runs on another thread returns only
// after the callback did: an owner's stop() may then free what it uses.
TEST(ClockTest, RealClockCancelWaitsForARunningCallback) {
  RealClock clock;
  std::promise<void> started, release;
  std::atomic<bool> finished{false};
  auto id = clock.after(Duration::zero(), [&] {
    started.set_value();
    release.get_future().wait();
    finished = true;
  });
  started.get_future().wait();
  auto cancelled = std::async(std::launch::async, [&] { clock.cancel(id); });
  EXPECT_EQ(cancelled.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout)
      << "cancel() returned while the callback still ran";
  release.set_value();
  cancelled.wait();
  EXPECT_TRUE(finished);
}

TEST(ClockTest, CancelFromInsideTheCallbackDoesNotWaitForItself) {
  FakeClock clock;
  Clock::TimerId id = 0;
  int fired = 0;
  id = clock.after(std::chrono::seconds(1), [&] {
    ++fired;
    clock.cancel(id);
  });
  clock.advance(std::chrono::seconds(2));
  EXPECT_EQ(fired, 1);
}

TEST(ClockTest, FakeClockCancelWaitsForACallbackRunningInAdvance) {
  FakeClock clock;
  std::promise<void> started, release;
  std::atomic<bool> finished{false};
  auto id = clock.after(std::chrono::seconds(1), [&] {
    started.set_value();
    release.get_future().wait();
    finished = true;
  });
  auto advancing = std::async(std::launch::async, [&] { clock.advance(std::chrono::seconds(1)); });
  started.get_future().wait();
  auto cancelled = std::async(std::launch::async, [&] { clock.cancel(id); });
  EXPECT_EQ(cancelled.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  release.set_value();
  cancelled.wait();
  EXPECT_TRUE(finished);
  advancing.wait();
}

TEST(ClockTest, CancelledTimersNeverFire) {
  FakeClock clock;
  int fired = 0;
  auto id = clock.after(std::chrono::seconds(1), [&] { ++fired; });
  clock.cancel(id);
  clock.advance(std::chrono::seconds(5));
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(clock.pending_timers(), 0u);
}

}  // namespace
}  // namespace shoal
