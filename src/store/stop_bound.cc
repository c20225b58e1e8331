#include "store/stop_bound.h"

#include "common/log.h"

namespace shoal {

StopBound::StopBound(Backend& backend, Clock& clock, std::chrono::milliseconds grace)
    : backend_(backend), clock_(clock) {
  timer_ = clock_.after(grace, [this, grace] {
    cancelled_ = true;
    backend_.cancel();
    LOG_WARN("store", "stopping took over " << grace.count() << " ms: cancelled the store's requests in flight");
  });
}

StopBound::~StopBound() {
  clock_.cancel(timer_);  // final: the callback has finished or never runs
  if (cancelled_) backend_.resume();
}

}  // namespace shoal
