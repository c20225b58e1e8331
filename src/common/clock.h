// Clock: the only source of time for control loops, so that unit tests can
// drive time with FakeClock instead of sleeping.
//
// Thread-safe. Timers registered with after() fire on the clock's thread
// (RealClock) or inside FakeClock::advance() (tests), never while a Clock
// lock is held, so callbacks may call back into the clock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

namespace shoal {

using SysTime = std::chrono::system_clock::time_point;
using Duration = std::chrono::nanoseconds;

class Clock {
 public:
  using TimerId = uint64_t;
  virtual ~Clock() = default;
  virtual SysTime now() const = 0;
  // Runs fn once, no earlier than d from now. Returns an id for cancel().
  virtual TimerId after(Duration d, std::function<void()> fn) = 0;
  // Cancels a pending timer; a no-op if it already fired.
  virtual void cancel(TimerId id) = 0;
};

// Wall clock with a timer thread.
class RealClock : public Clock {
 public:
  RealClock();
  ~RealClock() override;
  SysTime now() const override { return std::chrono::system_clock::now(); }
  TimerId after(Duration d, std::function<void()> fn) override;
  void cancel(TimerId id) override;

 private:
  void loop();
  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<std::chrono::steady_clock::time_point, std::pair<TimerId, std::function<void()>>> timers_;
  TimerId next_id_ = 1;
  bool stop_ = false;
  std::thread thread_;
};

// Manually advanced clock for tests. Timers fire inside advance(), in order.
class FakeClock : public Clock {
 public:
  explicit FakeClock(SysTime start = SysTime(std::chrono::seconds(1700000000)));
  SysTime now() const override;
  TimerId after(Duration d, std::function<void()> fn) override;
  void cancel(TimerId id) override;
  // Moves time forward by d, firing every timer that falls due, in due order.
  void advance(Duration d);
  size_t pending_timers() const;

 private:
  mutable std::mutex mu_;
  SysTime now_;
  std::multimap<SysTime, std::pair<TimerId, std::function<void()>>> timers_;
  TimerId next_id_ = 1;
};

}  // namespace shoal
