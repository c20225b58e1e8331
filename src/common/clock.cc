#include "common/clock.h"

#include <vector>

namespace shoal {

RealClock::RealClock() : thread_([this] { loop(); }) {}

RealClock::~RealClock() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Clock::TimerId RealClock::after(Duration d, std::function<void()> fn) {
  std::lock_guard lk(mu_);
  TimerId id = next_id_++;
  timers_.emplace(std::chrono::steady_clock::now() + d, std::make_pair(id, std::move(fn)));
  cv_.notify_all();
  return id;
}

void RealClock::cancel(TimerId id) {
  if (id == 0) return;  // no timer (0 is never an id; running_ is 0 when none runs)
  std::unique_lock lk(mu_);
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->second.first == id) {
      timers_.erase(it);
      return;
    }
  }
  // Running now on the clock thread: wait until it returns (never from
  // inside a callback, which would wait for itself).
  if (std::this_thread::get_id() == thread_.get_id()) return;
  done_cv_.wait(lk, [&] { return running_ != id; });
}

void RealClock::loop() {
  std::unique_lock lk(mu_);
  while (!stop_) {
    if (timers_.empty()) {
      cv_.wait(lk);
      continue;
    }
    auto due = timers_.begin()->first;
    if (std::chrono::steady_clock::now() < due) {
      cv_.wait_until(lk, due);
      continue;
    }
    auto fn = std::move(timers_.begin()->second.second);
    running_ = timers_.begin()->second.first;
    timers_.erase(timers_.begin());
    lk.unlock();
    fn();
    fn = nullptr;  // what the callback captured is released before cancel() returns
    lk.lock();
    running_ = 0;
    done_cv_.notify_all();
  }
}

FakeClock::FakeClock(SysTime start) : now_(start) {}

SysTime FakeClock::now() const {
  std::lock_guard lk(mu_);
  return now_;
}

Clock::TimerId FakeClock::after(Duration d, std::function<void()> fn) {
  std::lock_guard lk(mu_);
  TimerId id = next_id_++;
  timers_.emplace(now_ + std::chrono::duration_cast<SysTime::duration>(d),
                  std::make_pair(id, std::move(fn)));
  return id;
}

void FakeClock::cancel(TimerId id) {
  if (id == 0) return;  // no timer (0 is never an id; running_ is 0 when none runs)
  std::unique_lock lk(mu_);
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->second.first == id) {
      timers_.erase(it);
      return;
    }
  }
  if (running_ == id && running_on_ == std::this_thread::get_id()) return;
  done_cv_.wait(lk, [&] { return running_ != id; });
}

void FakeClock::advance(Duration d) {
  SysTime target;
  {
    std::lock_guard lk(mu_);
    target = now_ + std::chrono::duration_cast<SysTime::duration>(d);
  }
  for (;;) {
    std::function<void()> fn;
    {
      std::lock_guard lk(mu_);
      if (timers_.empty() || timers_.begin()->first > target) {
        now_ = target;
        return;
      }
      now_ = timers_.begin()->first;
      fn = std::move(timers_.begin()->second.second);
      running_ = timers_.begin()->second.first;
      running_on_ = std::this_thread::get_id();
      timers_.erase(timers_.begin());
    }
    fn();
    fn = nullptr;
    {
      std::lock_guard lk(mu_);
      running_ = 0;
    }
    done_cv_.notify_all();
  }
}

size_t FakeClock::pending_timers() const {
  std::lock_guard lk(mu_);
  return timers_.size();
}

}  // namespace shoal
