// Worker: reconciles the tasks assigned to this node with what runs here.
//
// It receives the node's whole assignment set (assign()) and drives each task
// forward through SwarmKit's states (accepted, preparing, ready, starting,
// running, then complete/failed, or shutdown when the manager asks), calling
// the Executor off the main loop on a small pool so slow operations (a 10 s
// stop grace period) never hold other tasks up. Every state it reaches is
// passed to the Reporter, which sends it to the dispatcher.
//
// Recovery: after a restart the assignment set carries each task's last
// stored status; the worker observes the container instead of redoing work,
// so running containers are adopted, and containers of tasks that are no
// longer assigned are stopped and removed.
//
// Faults: an executor error ends the task (a spec that cannot become a
// container is Rejected with the error); an exception thrown by an executor
// call or while deciding a task's next step is caught, logged and ends that
// task the same way, so no task can kill or stall the worker.
// Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "agent/executor.h"
#include "common/clock.h"

namespace shoal::agent {

struct WorkerOptions {
  int parallel_ops = 4;                          // concurrent executor calls
  std::chrono::milliseconds poll_interval{250};  // how often running containers are observed
};

class Worker {
 public:
  using Reporter = std::function<void(const std::string& task_id, const TaskStatus& status)>;
  Worker(Executor& executor, Clock& clock, Reporter reporter, WorkerOptions options = {});
  ~Worker();
  void start();
  // Bounded by the executor calls already running: jobs queued but not yet
  // started are dropped (their tasks keep the state last reported; the next
  // session's assignment set resumes them, observing first), stops in flight
  // are waited for.
  void stop();

  // Replaces the assignment set.
  void assign(std::vector<Task> tasks);
  // One reconciliation pass (the loop calls it; tests may call it directly).
  void reconcile();
  // True when no executor call is in flight (tests).
  bool idle() const;
  // Jobs queued for the pool, not yet started (tests).
  size_t queued_jobs() const;
  // The latest local status of a task, if the worker knows it.
  std::optional<TaskStatus> status_of(const std::string& task_id) const;

 private:
  struct Entry {
    Task task;
    TaskStatus status;
    bool assigned = true;
    bool busy = false;
  };
  void set_status(Entry& e, TaskState state, const std::string& message, const std::string& err = "");
  void run_job(const std::string& task_id, std::function<void(Task)> job, bool dedicated = false);
  // Runs `fn` (a job, without mu_); an exception from it is logged and ends
  // the task with the message: rejected before it ran, failed while running,
  // shut down when it was being stopped.
  void guarded(const std::string& task_id, const std::function<void()>& fn);
  void job_failed_locked(const std::string& task_id, const std::string& what);
  void loop();
  void pool_loop();
  void step_locked(Entry& e);

  Executor& executor_;
  Clock& clock_;
  Reporter reporter_;
  WorkerOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, Entry> entries_;
  bool first_assignment_ = true;
  std::deque<std::pair<std::string, std::function<void()>>> jobs_;  // (task id, job)
  std::condition_variable jobs_cv_;
  bool stopping_ = false;
  bool wake_ = false;
  std::thread loop_;
  std::vector<std::thread> pool_;
  // One thread per stop in flight, with its done flag; joined when done or in stop().
  std::vector<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> stoppers_;
};

}  // namespace shoal::agent
