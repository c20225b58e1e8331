// StopBound: bounds a shutdown that waits on threads blocked in Backend
// calls. Constructed at the start of the shutdown, it cancels the backend
// (Backend::cancel: calls in flight return, later ones fail at once) if the
// shutdown is still running after `grace`; destroyed when it is done. A
// healthy backend is never cancelled, so an orderly stop keeps its last
// writes (the elector's lease revoke); a hung etcd costs at most `grace`.
// Not copyable; the destructor joins its one thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "store/backend.h"

namespace shoal {

class StopBound {
 public:
  StopBound(Backend& backend, std::chrono::milliseconds grace);
  ~StopBound();
  StopBound(const StopBound&) = delete;
  StopBound& operator=(const StopBound&) = delete;
  // True once the grace ran out and the backend was cancelled.
  bool cancelled() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool cancelled_ = false;
  std::thread thread_;
};

}  // namespace shoal
