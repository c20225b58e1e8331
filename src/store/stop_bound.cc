#include "store/stop_bound.h"

#include "common/log.h"

namespace shoal {

StopBound::StopBound(Backend& backend, std::chrono::milliseconds grace) {
  thread_ = std::thread([this, &backend, grace] {
    std::unique_lock lk(mu_);
    if (cv_.wait_for(lk, grace, [&] { return done_; })) return;
    cancelled_ = true;
    lk.unlock();
    LOG_WARN("store", "stopping took over " << grace.count() << " ms: cancelling the store's requests in flight");
    backend.cancel();
  });
}

StopBound::~StopBound() {
  {
    std::lock_guard lk(mu_);
    done_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool StopBound::cancelled() const {
  std::lock_guard lk(mu_);
  return cancelled_;
}

}  // namespace shoal
