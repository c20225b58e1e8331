#include "manager/allocator/allocator.h"

namespace shoal::allocator {

size_t allocate(std::vector<Task*>& tasks, SysTime now) {
  size_t n = 0;
  for (Task* t : tasks) {
    if (t->status.state != TaskState::kNew) continue;
    t->status.state = TaskState::kPending;
    t->status.message = "pending task scheduling";
    t->status.timestamp = now;
    ++n;
  }
  return n;
}

}  // namespace shoal::allocator
