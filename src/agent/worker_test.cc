#include "agent/worker.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "agent/fake_executor.h"

namespace shoal::agent {
namespace {

class WorkerTest : public ::testing::Test {
 protected:
  Task task(const std::string& id, TaskState desired = TaskState::kRunning) {
    Task t;
    t.id = id;
    t.service_name = "web";
    t.slot = 1;
    t.node_id = "n1";
    t.status.state = TaskState::kAssigned;
    t.desired_state = desired;
    return t;
  }
  // Runs reconciliation passes and the executor jobs until nothing moves.
  void settle() {
    for (int i = 0; i < 50; ++i) {
      worker.reconcile();
      for (int j = 0; j < 200 && !worker.idle(); ++j) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  std::vector<TaskState> reported(const std::string& id) {
    std::lock_guard lk(mu);
    std::vector<TaskState> out;
    for (auto& [tid, st] : reports)
      if (tid == id) out.push_back(st.state);
    return out;
  }
  FakeExecutor exec;
  FakeClock clock;
  std::mutex mu;
  std::vector<std::pair<std::string, TaskStatus>> reports;
  Worker worker{exec, clock,
                [this](const std::string& id, const TaskStatus& st) {
                  std::lock_guard lk(mu);
                  reports.emplace_back(id, st);
                },
                WorkerOptions{2, std::chrono::milliseconds(100000)}};
  void SetUp() override { worker.start(); }
  void TearDown() override { worker.stop(); }
};

TEST_F(WorkerTest, DrivesATaskForwardToRunningInOrder) {
  worker.assign({task("t1")});
  settle();
  auto states = reported("t1");
  ASSERT_FALSE(states.empty());
  EXPECT_EQ(states.back(), TaskState::kRunning);
  EXPECT_TRUE(std::is_sorted(states.begin(), states.end())) << "states only move forward";
  EXPECT_EQ(exec.observe("t1").kind, Observation::Kind::kRunning);
}

TEST_F(WorkerTest, ReportsExitAsFailedOrComplete) {
  worker.assign({task("t1"), task("t2")});
  settle();
  exec.exit_task("t1", 137);
  exec.exit_task("t2", 0);
  settle();
  auto s1 = worker.status_of("t1");
  auto s2 = worker.status_of("t2");
  ASSERT_TRUE(s1 && s2);
  EXPECT_EQ(s1->state, TaskState::kFailed);
  EXPECT_EQ(s1->err, "task: non-zero exit (137)");
  EXPECT_EQ(s2->state, TaskState::kComplete);
}

TEST_F(WorkerTest, DesiredShutdownStopsAndUnassignedIsRemoved) {
  worker.assign({task("t1")});
  settle();
  worker.assign({task("t1", TaskState::kShutdown)});
  settle();
  EXPECT_EQ(worker.status_of("t1")->state, TaskState::kShutdown);
  EXPECT_EQ(exec.observe("t1").kind, Observation::Kind::kExited);
  worker.assign({});
  settle();
  EXPECT_EQ(exec.observe("t1").kind, Observation::Kind::kMissing);
  EXPECT_FALSE(worker.status_of("t1").has_value());
}

TEST_F(WorkerTest, AdoptsARunningContainerAfterRestart) {
  // The executor already runs the task (a container kept by its shim) and the
  // manager's last stored status is "starting": the worker reports running
  // without preparing again.
  Task t = task("t1");
  ASSERT_TRUE(exec.prepare(t).ok());
  ASSERT_TRUE(exec.start(t).ok());
  t.status.state = TaskState::kStarting;
  worker.assign({t});
  settle();
  auto states = reported("t1");
  ASSERT_FALSE(states.empty());
  EXPECT_EQ(states.back(), TaskState::kRunning);
  EXPECT_EQ(std::count(states.begin(), states.end(), TaskState::kPreparing), 0);
}

TEST_F(WorkerTest, OrphanContainersFromBeforeARestartAreRemoved) {
  Task old = task("gone");
  ASSERT_TRUE(exec.prepare(old).ok());
  ASSERT_TRUE(exec.start(old).ok());
  worker.assign({});
  settle();
  EXPECT_EQ(exec.observe("gone").kind, Observation::Kind::kMissing);
}

TEST_F(WorkerTest, PrepareFailureRejectsWithTheReason) {
  class Failing : public FakeExecutor {
   public:
    Status prepare(const Task&) override { return not_found("No such image: nosuch:1"); }
  };
  Failing failing;
  std::vector<TaskStatus> seen;
  std::mutex m;
  Worker w(failing, clock, [&](const std::string&, const TaskStatus& s) {
    std::lock_guard lk(m);
    seen.push_back(s);
  });
  w.start();
  w.assign({task("t1")});
  for (int i = 0; i < 200 && !(w.status_of("t1") && w.status_of("t1")->state == TaskState::kRejected); ++i) {
    w.reconcile();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(w.status_of("t1"));
  EXPECT_EQ(w.status_of("t1")->state, TaskState::kRejected);
  EXPECT_NE(w.status_of("t1")->err.find("No such image"), std::string::npos);
  w.stop();
}

// prepare() blocks until opened: a slow image pull or rootfs.
class GatedExecutor : public FakeExecutor {
 public:
  Status prepare(const Task& task) override {
    std::unique_lock lk(mu_);
    ++prepares_;
    cv_.notify_all();
    cv_.wait(lk, [&] { return open_; });
    lk.unlock();
    return FakeExecutor::prepare(task);
  }
  void open() {
    std::lock_guard lk(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool wait_prepares(int n) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, std::chrono::seconds(10), [&] { return prepares_ >= n; });
  }
  int prepares() {
    std::lock_guard lk(mu_);
    return prepares_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int prepares_ = 0;
};

TEST(WorkerStop, DropsQueuedJobsAndFinishesOnlyTheRunningOne) {
  GatedExecutor exec;
  FakeClock clock;
  Worker w(exec, clock, [](const std::string&, const TaskStatus&) {}, WorkerOptions{1, std::chrono::milliseconds(100000)});
  w.start();
  std::vector<Task> tasks;
  for (int i = 0; i < 5; ++i) {
    Task t;
    t.id = "t" + std::to_string(i);
    t.slot = i + 1;
    t.status.state = TaskState::kAssigned;
    t.desired_state = TaskState::kRunning;
    tasks.push_back(t);
  }
  w.assign(tasks);
  w.reconcile();
  ASSERT_TRUE(exec.wait_prepares(1));  // one prepare runs, four wait in the queue
  EXPECT_EQ(w.queued_jobs(), 4u);
  auto stopped = std::async(std::launch::async, [&] { w.stop(); });
  for (int i = 0; i < 2000 && w.queued_jobs() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(w.queued_jobs(), 0u) << "stop left the queued jobs to run";
  exec.open();
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(exec.prepares(), 1) << "stop ran jobs that had not started";
  // The dropped tasks are where they were (preparing): a later session resumes them.
  int preparing = 0;
  for (const auto& t : tasks) preparing += w.status_of(t.id)->state == TaskState::kPreparing;
  EXPECT_EQ(preparing, 4);
  // The one prepared during stop is left Ready, its container not started.
  int ready = 0;
  for (const auto& t : tasks) {
    ready += w.status_of(t.id)->state == TaskState::kReady;
    EXPECT_NE(exec.observe(t.id).kind, Observation::Kind::kRunning) << t.id << " was started during stop";
  }
  EXPECT_EQ(ready, 1);
  // A reconcile after stop (the loop's last pass) queues nothing.
  w.reconcile();
  EXPECT_EQ(w.queued_jobs(), 0u) << "a job was queued after stop";
  EXPECT_EQ(exec.prepares(), 1);
}

// A prepare that waits (an image pull from a slow registry) until the
// executor is cancelled, then fails as a cancelled pull does.
class PullingExecutor : public FakeExecutor {
 public:
  Status prepare(const Task& task) override {
    std::unique_lock lk(mu_);
    started_ = true;
    cv_.notify_all();
    if (!cv_.wait_for(lk, std::chrono::seconds(30), [&] { return cancelled_; })) return FakeExecutor::prepare(task);
    return unavailable("pulling busybox:latest: cancelled");
  }
  void cancel() override {
    std::lock_guard lk(mu_);
    cancelled_ = true;
    cv_.notify_all();
  }
  bool wait_started() {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, std::chrono::seconds(10), [&] { return started_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false, cancelled_ = false;
};

TEST(WorkerStop, CancelsAPullInFlightAndDoesNotRejectItsTask) {
  PullingExecutor exec;
  FakeClock clock;
  std::mutex mu;
  std::vector<TaskState> reported;
  Worker w(exec, clock, [&](const std::string&, const TaskStatus& st) {
    std::lock_guard lk(mu);
    reported.push_back(st.state);
  }, WorkerOptions{1, std::chrono::milliseconds(100000)});
  w.start();
  Task t;
  t.id = "t1";
  t.slot = 1;
  t.status.state = TaskState::kAssigned;
  t.desired_state = TaskState::kRunning;
  w.assign({t});
  w.reconcile();
  ASSERT_TRUE(exec.wait_started());
  auto stopped = std::async(std::launch::async, [&] { w.stop(); });
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(5)), std::future_status::ready)
      << "stop waited for the pull instead of cancelling it";
  EXPECT_EQ(w.status_of("t1")->state, TaskState::kPreparing) << "a pull cut off by stop is not the task's failure";
  std::lock_guard lk(mu);
  for (TaskState s : reported) EXPECT_NE(s, TaskState::kRejected);
}

}  // namespace
}  // namespace shoal::agent

namespace shoal::agent {
namespace {

// An executor whose calls throw for chosen tasks, as a bug or a spec the
// runtime cannot handle might.
class ThrowingExecutor : public FakeExecutor {
 public:
  Status prepare(const Task& task) override {
    if (task.id == throw_in_prepare) throw std::out_of_range("stoi");
    return FakeExecutor::prepare(task);
  }
  Observation observe(const std::string& task_id) override {
    if (task_id == throw_in_observe && armed) throw std::runtime_error("observe blew up");
    return FakeExecutor::observe(task_id);
  }
  std::string throw_in_prepare, throw_in_observe;
  std::atomic<bool> armed{false};
};

class GuardedWorkerTest : public ::testing::Test {
 protected:
  Task task(const std::string& id) {
    Task t;
    t.id = id;
    t.service_name = "web";
    t.slot = 1;
    t.status.state = TaskState::kAssigned;
    t.desired_state = TaskState::kRunning;
    return t;
  }
  void settle() {
    for (int i = 0; i < 20; ++i) {
      worker.reconcile();
      for (int j = 0; j < 200 && !worker.idle(); ++j) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ThrowingExecutor exec;
  FakeClock clock;
  Worker worker{exec, clock, [](const std::string&, const TaskStatus&) {}, WorkerOptions{2, std::chrono::milliseconds(100000)}};
  void SetUp() override { worker.start(); }
  void TearDown() override { worker.stop(); }
};

TEST_F(GuardedWorkerTest, AnExceptionInAJobRejectsThatTaskAndTheOthersRun) {
  exec.throw_in_prepare = "bad";
  worker.assign({task("bad"), task("good")});
  settle();
  auto bad = worker.status_of("bad");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->state, TaskState::kRejected);
  EXPECT_NE(bad->err.find("unexpected error: stoi"), std::string::npos) << bad->err;
  EXPECT_EQ(worker.status_of("good")->state, TaskState::kRunning);
  // The worker still takes new work.
  worker.assign({task("bad"), task("good"), task("later")});
  settle();
  EXPECT_EQ(worker.status_of("later")->state, TaskState::kRunning);
}

TEST_F(GuardedWorkerTest, AnExceptionWhileReconcilingFailsThatTaskNotTheLoop) {
  exec.throw_in_observe = "t1";
  worker.assign({task("t1"), task("t2")});
  settle();
  ASSERT_EQ(worker.status_of("t1")->state, TaskState::kRunning);
  exec.armed = true;
  settle();
  auto t1 = worker.status_of("t1");
  EXPECT_EQ(t1->state, TaskState::kFailed);
  EXPECT_NE(t1->err.find("observe blew up"), std::string::npos) << t1->err;
  EXPECT_EQ(worker.status_of("t2")->state, TaskState::kRunning);
}

}  // namespace
}  // namespace shoal::agent
