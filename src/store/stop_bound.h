// StopBound: bounds a shutdown that waits on threads blocked in Backend
// calls. Constructed at the start of the shutdown, it cancels the backend
// (Backend::cancel: calls in flight return, later ones fail unsent) if the
// shutdown is still running `grace` after, on `clock`; destroyed when the
// shutdown is done, it resumes the backend (Backend::resume) if it had
// cancelled it, so the cancel never outlives the bound: a later shutdown
// step (Manager::stop after stop_sessions) sends its calls again.
//
// A healthy backend is never cancelled. The owner puts its last writes that
// matter (the elector's lease revoke) first inside the bound, so they get
// the whole grace before a cancel can touch them; a hung etcd costs at most
// `grace` per bound.
//
// The cancel runs as a timer callback on `clock` (Backend::cancel only posts
// work, as a RealClock callback must); with a FakeClock it fires inside
// advance(). Not copyable; not thread-safe (one shutdown per bound).
#pragma once

#include <atomic>
#include <chrono>

#include "common/clock.h"
#include "store/backend.h"

namespace shoal {

class StopBound {
 public:
  StopBound(Backend& backend, Clock& clock, std::chrono::milliseconds grace);
  // Cancels the timer (waiting for a cancel that runs now), then resumes
  // the backend if the grace ran out.
  ~StopBound();
  StopBound(const StopBound&) = delete;
  StopBound& operator=(const StopBound&) = delete;
  // True once the grace ran out and the backend was cancelled.
  bool cancelled() const { return cancelled_; }

 private:
  Backend& backend_;
  Clock& clock_;
  std::atomic<bool> cancelled_{false};
  Clock::TimerId timer_ = 0;
};

}  // namespace shoal
