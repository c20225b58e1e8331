#include "agent/worker.h"

#include "common/log.h"

namespace shoal::agent {

Worker::Worker(Executor& executor, Clock& clock, Reporter reporter, WorkerOptions options)
    : executor_(executor), clock_(clock), reporter_(std::move(reporter)), options_(options) {}

Worker::~Worker() { stop(); }

void Worker::start() {
  loop_ = std::thread([this] { loop(); });
  for (int i = 0; i < options_.parallel_ops; ++i) pool_.emplace_back([this] { pool_loop(); });
}

void Worker::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    // Not started: dropped, so stop waits only for what runs (a queue of
    // container starts would otherwise take their sum).
    for (const auto& [id, _] : jobs_) {
      auto it = entries_.find(id);
      if (it != entries_.end()) it->second.busy = false;
    }
    jobs_.clear();
  }
  cv_.notify_all();
  jobs_cv_.notify_all();
  // A prepare pulling an image (minutes from a slow registry) ends now, so
  // the pool threads below are joined in bounded time.
  executor_.cancel();
  if (loop_.joinable()) loop_.join();
  for (auto& t : pool_) t.join();
  pool_.clear();
  std::vector<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> stoppers;
  {
    std::lock_guard lk(mu_);
    stoppers.swap(stoppers_);
  }
  for (auto& t : stoppers) t.first.join();
}

void Worker::assign(std::vector<Task> tasks) {
  std::lock_guard lk(mu_);
  std::unordered_map<std::string, bool> present;
  for (auto& t : tasks) {
    present[t.id] = true;
    auto it = entries_.find(t.id);
    if (it == entries_.end()) {
      Entry e;
      e.status = t.status;
      e.task = std::move(t);
      entries_.emplace(e.task.id, std::move(e));
    } else {
      // The manager owns desired state and spec; the local status is newer
      // unless the manager's is further along (it never is, except after a
      // restart where the local one is empty).
      if (t.status.state > it->second.status.state) it->second.status = t.status;
      it->second.task = std::move(t);
      it->second.assigned = true;
    }
  }
  for (auto& [id, e] : entries_) {
    if (!present.count(id)) e.assigned = false;
  }
  if (first_assignment_) {
    // Containers left from tasks the manager no longer assigns here.
    first_assignment_ = false;
    for (const auto& id : executor_.known_tasks()) {
      if (present.count(id) || entries_.count(id)) continue;
      Entry e;
      e.task.id = id;
      e.assigned = false;
      e.status.state = TaskState::kRunning;
      entries_.emplace(id, std::move(e));
    }
  }
  wake_ = true;
  cv_.notify_all();
}

void Worker::set_status(Entry& e, TaskState state, const std::string& message, const std::string& err) {
  e.status.state = state;
  e.status.message = message;
  e.status.err = err;
  e.status.timestamp = clock_.now();
  // Running: the node maps the task's host-mode ports (its prepare did).
  e.status.port_status = state == TaskState::kRunning ? e.task.host_ports : std::vector<PortConfig>{};
  if (!e.assigned) return;
  try {
    reporter_(e.task.id, e.status);
  } catch (const std::exception& ex) {
    LOG_ERROR("worker", "reporting the status of task " << e.task.id << ": " << ex.what());
  }
}

void Worker::run_job(const std::string& task_id, std::function<void(Task)> job, bool dedicated) {
  // Once stop() has begun nothing new runs (it already dropped the queue and
  // would not join a stopper made after it swapped them out).
  if (stopping_) return;
  auto& e = entries_.at(task_id);
  e.busy = true;
  Task copy = e.task;
  if (dedicated) {
    // Stops wait out grace periods (10 s for a process that ignores SIGTERM):
    // each gets its own thread so they run in parallel, as Docker's do, and
    // never hold up starts.
    // Join the stoppers that finished, so handles do not pile up.
    for (auto it = stoppers_.begin(); it != stoppers_.end();) {
      if (*it->second) {
        it->first.join();
        it = stoppers_.erase(it);
      } else {
        ++it;
      }
    }
    auto done = std::make_shared<std::atomic<bool>>(false);
    stoppers_.emplace_back(std::thread([this, id = task_id, copy = std::move(copy), job = std::move(job), done]() mutable {
                             guarded(id, [&] { job(std::move(copy)); });
                             *done = true;
                           }),
                           done);
    return;
  }
  // Executor calls run without the lock, on a copy of the task; jobs apply
  // their results under the lock (an entry is only erased by its own job).
  jobs_.emplace_back(task_id, [this, id = task_id, copy = std::move(copy), job = std::move(job)]() mutable {
    guarded(id, [&] { job(std::move(copy)); });
  });
  jobs_cv_.notify_one();
}

void Worker::guarded(const std::string& task_id, const std::function<void()>& fn) {
  std::string what;
  try {
    fn();
    return;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
    what = "unknown exception";
  }
  std::lock_guard lk(mu_);
  job_failed_locked(task_id, what);
}

void Worker::job_failed_locked(const std::string& task_id, const std::string& what) {
  LOG_ERROR("worker", "task " << task_id << ": unexpected error: " << what);
  auto it = entries_.find(task_id);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  e.busy = false;
  const std::string err = "task: unexpected error: " + what.substr(0, 512);
  const TaskState s = e.status.state;
  if (is_terminal(s)) {
    // A failed removal: the entry stays and is retried on a later pass.
  } else if (e.task.desired_state > TaskState::kRunning || !e.assigned) {
    set_status(e, TaskState::kShutdown, "shutdown", err);
  } else if (s < TaskState::kRunning) {
    set_status(e, TaskState::kRejected, "preparing", err);
  } else {
    set_status(e, TaskState::kFailed, "started", err);
  }
  wake_ = true;
  cv_.notify_all();
}

// Decides the next move of one task. Called with mu_ held; never blocks.
void Worker::step_locked(Entry& e) {
  if (e.busy) return;
  const std::string id = e.task.id;
  const bool wants_running = e.task.desired_state <= TaskState::kRunning && e.assigned;
  const TaskState s = e.status.state;

  if (!wants_running) {
    if (!is_terminal(s) && s >= TaskState::kPreparing) {
      run_job(id, [this, id](Task t) {
        Status st = executor_.stop(t);
        Observation o = executor_.observe(id);
        std::lock_guard lk(mu_);
        auto& en = entries_.at(id);
        en.busy = false;
        if (!st.ok()) LOG_WARN("worker", "stopping task " << id << ": " << st.message());
        if (o.kind != Observation::Kind::kMissing) en.status.container_status = o.container;
        set_status(en, TaskState::kShutdown, "shutdown");
        wake_ = true;
        cv_.notify_all();
      }, /*dedicated=*/true);
      return;
    }
    if (!is_terminal(s)) {
      set_status(e, TaskState::kShutdown, "shutdown");
      return;
    }
    if (!e.assigned) {
      run_job(id, [this, id](Task) {
        Status st = executor_.remove(id);
        std::lock_guard lk(mu_);
        if (!st.ok()) {
          LOG_WARN("worker", "removing the container of task " << id << ": " << st.message());
          entries_.at(id).busy = false;
          return;
        }
        entries_.erase(id);
      });
    }
    return;
  }

  if (s < TaskState::kAccepted) {
    set_status(e, TaskState::kAccepted, "accepted");
  }
  if (e.status.state == TaskState::kAccepted ||
      (e.status.state > TaskState::kAccepted && e.status.state < TaskState::kRunning)) {
    // Before running: observe first, so a restart adopts what is already there.
    Observation o = executor_.observe(id);
    if (o.kind == Observation::Kind::kRunning) {
      e.status.container_status = o.container;
      set_status(e, TaskState::kRunning, "started");
      return;
    }
    if (o.kind == Observation::Kind::kExited) {
      e.status.container_status = o.container;
      if (o.container.exit_code == 0) set_status(e, TaskState::kComplete, "finished");
      else set_status(e, TaskState::kFailed, "started", "task: non-zero exit (" + std::to_string(o.container.exit_code) + ")");
      return;
    }
    bool created = o.kind == Observation::Kind::kCreated;
    if (!created) set_status(e, TaskState::kPreparing, "preparing");
    run_job(id, [this, id, created](Task t) {
      Status st = created ? ok_status() : executor_.prepare(t);
      std::unique_lock lk(mu_);
      auto* en = &entries_.at(id);
      if (!st.ok() && stopping_) {
        // Cut off by stop() (executor_.cancel()): not the task's fault, so
        // not Rejected; it stays Preparing and the next session prepares it.
        en->busy = false;
        return;
      }
      if (!st.ok()) {
        en->busy = false;
        set_status(*en, TaskState::kRejected, "preparing", st.message());
        return;
      }
      // A stop() that came during prepare: no start (it may wait 30 s and
      // would start a container while the node leaves); Ready resumes later.
      if (stopping_ || en->task.desired_state > TaskState::kRunning || !en->assigned) {
        set_status(*en, TaskState::kReady, "prepared");
        en->busy = false;
        wake_ = true;
        cv_.notify_all();
        return;
      }
      set_status(*en, TaskState::kStarting, "starting");
      lk.unlock();
      st = executor_.start(t);
      Observation o = executor_.observe(id);
      lk.lock();
      en = &entries_.at(id);
      en->busy = false;
      if (o.kind != Observation::Kind::kMissing) en->status.container_status = o.container;
      if (!st.ok()) {
        set_status(*en, TaskState::kFailed, "starting", st.message());
      } else {
        set_status(*en, TaskState::kRunning, "started");
      }
      wake_ = true;
      cv_.notify_all();
    });
    return;
  }
  if (s == TaskState::kRunning) {
    Observation o = executor_.observe(id);
    if (o.kind == Observation::Kind::kRunning) return;
    if (o.kind == Observation::Kind::kMissing) {
      set_status(e, TaskState::kFailed, "started", "task: the container disappeared");
      return;
    }
    if (o.kind == Observation::Kind::kExited) {
      e.status.container_status = o.container;
      if (o.container.exit_code == 0) {
        set_status(e, TaskState::kComplete, "finished");
      } else {
        set_status(e, TaskState::kFailed, "started",
                   "task: non-zero exit (" + std::to_string(o.container.exit_code) + ")");
      }
    }
  }
}

void Worker::reconcile() {
  std::lock_guard lk(mu_);
  std::vector<std::string> ids;
  ids.reserve(entries_.size());
  for (const auto& [id, _] : entries_) ids.push_back(id);
  for (const auto& id : ids) {
    auto it = entries_.find(id);
    if (it == entries_.end()) continue;
    // One task's unexpected error (an executor or reporter that throws)
    // fails that task, never the loop.
    try {
      step_locked(it->second);
    } catch (const std::exception& e) {
      job_failed_locked(id, e.what());
    } catch (...) {
      job_failed_locked(id, "unknown exception");
    }
  }
}

void Worker::loop() {
  std::unique_lock lk(mu_);
  while (!stopping_) {
    cv_.wait_for(lk, options_.poll_interval, [&] { return stopping_ || wake_; });
    if (stopping_) break;
    wake_ = false;
    lk.unlock();
    reconcile();
    lk.lock();
  }
}

void Worker::pool_loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    jobs_cv_.wait(lk, [&] { return stopping_ || !jobs_.empty(); });
    if (stopping_) return;  // stop() dropped what was queued
    auto job = std::move(jobs_.front().second);
    jobs_.pop_front();
    lk.unlock();
    job();
    lk.lock();
  }
}

bool Worker::idle() const {
  std::lock_guard lk(mu_);
  if (!jobs_.empty()) return false;
  for (const auto& [_, e] : entries_)
    if (e.busy) return false;
  return true;
}

size_t Worker::queued_jobs() const {
  std::lock_guard lk(mu_);
  return jobs_.size();
}

std::optional<TaskStatus> Worker::status_of(const std::string& task_id) const {
  std::lock_guard lk(mu_);
  auto it = entries_.find(task_id);
  if (it == entries_.end()) return std::nullopt;
  return it->second.status;
}

}  // namespace shoal::agent
