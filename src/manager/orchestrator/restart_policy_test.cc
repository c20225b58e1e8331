// RestartPolicy.MaxAttempts / Window: counted per slot (per node for global
// services) from the store, so a leader change, a shoald restart or the task
// reaper changes no decision (SwarmKit keeps the count in leader memory).
#include <gtest/gtest.h>

#include <set>

#include "manager/orchestrator/orchestrator_test_util.h"
#include "manager/orchestrator/pipeline.h"
#include "store/memory_backend.h"

namespace shoal::orchestrator {
namespace {

using std::chrono::seconds;

class RestartPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store.start().ok());
    testutil::seed_swarm(store);
  }
  static void set_policy(Service& s, uint64_t max_attempts, Duration window = Duration::zero()) {
    s.spec.task_template.restart_policy.max_attempts = max_attempts;
    s.spec.task_template.restart_policy.window = window;
    s.spec.task_template.restart_policy.delay = Duration::zero();
  }
  Service create(uint64_t replicas, uint64_t max_attempts, Duration window = Duration::zero()) {
    Service s = testutil::replicated("svc-web", "web", replicas);
    set_policy(s, max_attempts, window);
    return testutil::create(store, s);
  }
  // Every live task that has not ended fails now (on `node`, if given).
  void fail_live(const std::string& sid, const std::string& node = "") {
    Batch b;
    for (auto& t : store.tasks_of_service(sid)) {
      if (t.desired_state != TaskState::kRunning || is_terminal(t.status.state)) continue;
      if (!node.empty() && t.node_id != node) continue;
      b.update_task(t.id, [this](Task& x) {
        x.status.state = TaskState::kFailed;
        x.status.timestamp = clock.now();
        return true;
      });
    }
    ASSERT_TRUE(store.commit(b).ok());
  }
  // Every task id of `sid` seen so far (the reaper deletes old ones).
  size_t seen(const std::string& sid) {
    for (auto& t : store.tasks_of_service(sid)) ids.insert(t.id);
    return ids.size();
  }
  // A new leader (or a restarted shoald): a ControlLoops with no memory.
  void failover_pass() {
    ControlLoops next{store, clock, Fence{}};
    ASSERT_TRUE(next.reconcile_all().ok());
    testutil::agents_run(store, clock.now());
  }
  MemoryBackend backend;
  Store store{backend};
  FakeClock clock;
  ControlLoops loops{store, clock, Fence{}};
  std::set<std::string> ids;
};

TEST_F(RestartPolicyTest, MaxAttemptsHoldAcrossALeaderChange) {
  auto s = create(1, 2);
  ASSERT_TRUE(loops.reconcile_all().ok());
  testutil::agents_run(store, clock.now());
  fail_live(s.id);
  ASSERT_TRUE(loops.reconcile_all().ok());  // restart 1, by the first leader
  testutil::agents_run(store, clock.now());
  ASSERT_EQ(seen(s.id), 2u);
  for (int i = 0; i < 4; ++i) {  // it keeps failing; every pass by a new leader
    clock.advance(seconds(1));
    fail_live(s.id);
    failover_pass();
    seen(s.id);
  }
  EXPECT_EQ(seen(s.id), 3u) << "restarted more than MaxAttempts=2 times over leader changes";
}

TEST_F(RestartPolicyTest, MaxAttemptsCountPerSlot) {
  auto s = create(2, 1);
  ASSERT_TRUE(loops.reconcile_all().ok());
  testutil::agents_run(store, clock.now());
  fail_live(s.id);
  ASSERT_TRUE(loops.reconcile_all().ok());
  EXPECT_EQ(seen(s.id), 4u) << "each slot gets its one restart";
  testutil::agents_run(store, clock.now());
  fail_live(s.id);
  ASSERT_TRUE(loops.reconcile_all().ok());
  EXPECT_EQ(seen(s.id), 4u);
}

TEST_F(RestartPolicyTest, MaxAttemptsBeyondTheTaskHistoryRetention) {
  auto s = create(1, 7);  // more attempts than the 5 tasks of history kept per slot
  ASSERT_TRUE(loops.reconcile_all().ok());
  testutil::agents_run(store, clock.now());
  for (int i = 0; i < 12; ++i) {
    clock.advance(seconds(1));
    fail_live(s.id);
    failover_pass();
    seen(s.id);
  }
  EXPECT_LE(store.tasks_of_service(s.id).size(), 6u) << "the reaper keeps the history short";
  EXPECT_EQ(seen(s.id), 8u) << "the first task and exactly 7 restarts";
}

TEST_F(RestartPolicyTest, ManyAttemptsInAWindowInBoundedRecords) {
  auto s = create(1, 40, std::chrono::hours(1));  // more attempts than kMaxRestartRecords
  ASSERT_TRUE(loops.reconcile_all().ok());
  testutil::agents_run(store, clock.now());
  for (int i = 0; i < 45; ++i) {
    clock.advance(seconds(1));
    fail_live(s.id);
    failover_pass();
    seen(s.id);
  }
  EXPECT_EQ(seen(s.id), 41u) << "the first task and exactly 40 restarts";
  for (auto& t : store.tasks_of_service(s.id)) EXPECT_LE(t.restarts.size(), kMaxRestartRecords);
}

TEST_F(RestartPolicyTest, WindowCountsRecentAttemptsAndWakesWhenOneLeavesIt) {
  auto s = create(1, 1, seconds(10));
  ASSERT_TRUE(loops.reconcile_all().ok());
  testutil::agents_run(store, clock.now());
  fail_live(s.id);
  ASSERT_TRUE(loops.reconcile_all().ok());  // the one attempt of the window
  testutil::agents_run(store, clock.now());
  clock.advance(seconds(4));
  fail_live(s.id);
  ASSERT_TRUE(loops.reconcile_all().ok());
  ASSERT_EQ(seen(s.id), 2u) << "a second attempt within the 10 s window";
  clock.advance(seconds(5));  // 9 s after the attempt: a new leader still holds
  failover_pass();
  ASSERT_EQ(seen(s.id), 2u);
  clock.advance(seconds(1));  // the attempt left the window: the held slot's timer fires
  ASSERT_TRUE(loops.run_pass().ok());
  EXPECT_EQ(seen(s.id), 3u) << "not restarted once the attempt left the window";
}

TEST_F(RestartPolicyTest, ANewSpecCountsAfresh) {
  auto s = create(1, 1);
  ASSERT_TRUE(loops.reconcile_all().ok());
  testutil::agents_run(store, clock.now());
  fail_live(s.id);
  ASSERT_TRUE(loops.reconcile_all().ok());
  testutil::agents_run(store, clock.now());
  fail_live(s.id);
  failover_pass();
  ASSERT_EQ(seen(s.id), 2u);  // held
  Batch u;
  u.update_service(s.id, [](Service& x) {
    x.spec.task_template.container_spec.image = "busybox:v2";
    x.spec_version++;
    return true;
  });
  ASSERT_TRUE(store.commit(u).ok());
  failover_pass();
  failover_pass();
  ASSERT_EQ(seen(s.id), 3u) << "the update replaces the held task";
  fail_live(s.id);
  failover_pass();
  EXPECT_EQ(seen(s.id), 4u) << "the new spec's task gets its own attempt";
}

TEST_F(RestartPolicyTest, GlobalMaxAttemptsCountPerNodeAcrossALeaderChange) {
  Service g = testutil::global("svc-g", "g");
  set_policy(g, 1);
  testutil::create(store, g);
  ASSERT_TRUE(loops.reconcile_all().ok());
  testutil::agents_run(store, clock.now());
  ASSERT_EQ(seen("svc-g"), 3u);
  fail_live("svc-g", "node1");
  ASSERT_TRUE(loops.reconcile_all().ok());  // node1's one attempt
  testutil::agents_run(store, clock.now());
  ASSERT_EQ(seen("svc-g"), 4u);
  clock.advance(seconds(1));
  fail_live("svc-g", "node1");
  failover_pass();
  failover_pass();
  EXPECT_EQ(seen("svc-g"), 4u) << "node1 restarted past MaxAttempts=1 after a leader change";
  fail_live("svc-g", "node2");
  failover_pass();
  EXPECT_EQ(seen("svc-g"), 5u) << "node2 has its own attempt";
}

// A pass whose shutdowns were written but whose creates were not (a batch
// applied in part): the next pass finds the slot empty and takes the
// attempts from the slot's newest task, losing at most the last one.
TEST_F(RestartPolicyTest, AttemptsOutliveABatchAppliedInPart) {
  auto s = create(1, 2);
  ASSERT_TRUE(loops.reconcile_all().ok());
  testutil::agents_run(store, clock.now());
  fail_live(s.id);
  failover_pass();  // restart 1: the new task carries one attempt
  ASSERT_EQ(seen(s.id), 2u);
  fail_live(s.id);
  Batch part;  // only the shutdown of that pass landed
  for (auto& t : store.tasks_of_service(s.id)) {
    if (t.desired_state != TaskState::kRunning) continue;
    part.update_task(t.id, [](Task& x) {
      x.desired_state = TaskState::kShutdown;
      return true;
    });
  }
  ASSERT_TRUE(store.commit(part).ok());
  for (int i = 0; i < 5; ++i) {
    clock.advance(seconds(1));
    failover_pass();
    fail_live(s.id);
  }
  EXPECT_EQ(seen(s.id), 4u) << "the empty slot's task started counting again from zero";
}

}  // namespace
}  // namespace shoal::orchestrator
