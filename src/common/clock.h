// Clock: the only source of time for control loops, so that unit tests can
// drive time with FakeClock instead of sleeping.
//
// Thread-safe. Timers registered with after() fire on the clock's thread
// (RealClock) or inside FakeClock::advance() (tests), never while a Clock
// lock is held, so callbacks may call back into the clock. RealClock runs
// every timer of the process on its one thread: a callback must only post
// work (set a flag, wake the owner's thread), never do it (no store
// commits, no I/O, no waits), or it delays every other timer.
//
// cancel(id) is final: when it returns, the timer's callback has not started
// and never will, or it has finished. If the callback is running on another
// thread at that moment, cancel() waits for it to return, so an owner that
// cancels its timers in stop() may free what the callbacks use. Hence: never
// call cancel() while holding a lock the callback takes (deadlock); a
// callback may cancel its own timer or others (no wait on its own thread).
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
  // Cancels a timer: a pending one never fires; a running one is waited
  // for (unless cancel is called from that callback); a no-op if it fired.
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
  TimerId running_ = 0;  // the timer whose callback runs now (0: none)
  std::condition_variable done_cv_;
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
  TimerId running_ = 0;  // the timer whose callback advance() runs now
  std::thread::id running_on_;
  std::condition_variable done_cv_;
};

}  // namespace shoal
