// ControlLoops: the leader's control loops, run while this manager leads.
//
// One thread, fed by store change events (coalesced: a burst of changes makes
// one pass) and by timers (restart delays, update monitor periods). A pass
// reconciles each dirty service (replicated.h), runs the allocator and the
// scheduler over new and pending tasks in memory — so a new task is written
// once, already assigned — and commits everything as one fenced batch.
//
// Faults: a pass creates at most kMaxCreatesPerPass tasks (the rest follow
// in the next passes). The first pass (a newly elected leader's cache may
// still lag what the previous leader wrote) and the first pass after a failed
// or unknown write wait until the store's cache caught up with the store
// (Store::sync, bounded by sync_timeout), so they plan on what did commit; a
// sync that fails fails the pass, which plans nothing. Timers never fire
// after stop() returns.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

#include "common/clock.h"
#include "manager/allocator/allocator.h"
#include "manager/orchestrator/global.h"
#include "manager/orchestrator/replicated.h"
#include "store/store.h"

namespace shoal::orchestrator {

class ControlLoops {
 public:
  static constexpr size_t kMaxCreatesPerPass = 2000;

  ControlLoops(Store& store, Clock& clock, Fence fence,
               std::chrono::milliseconds sync_timeout = std::chrono::seconds(10));
  ~ControlLoops();
  void start();
  void stop();
  // Runs one pass now over everything (tests; also the first pass on start).
  Status reconcile_all();
  // Runs a pass over what is dirty; returns its status.
  Status run_pass();
  // run_pass under common/guard.h: an exception fails the pass (kInternal)
  // and makes the next one sync the cache and plan everything.
  Status guarded_pass();
  size_t passes() const;

 private:
  void on_event(const StoreEvent& e);
  void loop();
  void mark(const std::string& service_id);

  Store& store_;
  Clock& clock_;
  Fence fence_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> dirty_;
  bool all_dirty_ = true;
  bool schedule_pending_ = true;
  bool stopping_ = false;
  const std::chrono::milliseconds sync_timeout_;
  bool resync_ = true;  // just elected, or a write failed: Store::sync before planning
  size_t passes_ = 0;
  uint64_t subscription_ = 0;
  std::unordered_map<std::string, ServiceMemory> memory_;
  std::unordered_map<std::string, GlobalMemory> global_memory_;  // global services
  std::unordered_map<std::string, Clock::TimerId> timers_;
  allocator::Allocator allocator_;  // the pass thread's only
  std::thread thread_;
};

}  // namespace shoal::orchestrator
