// The control loops under store faults (FaultBackend), driven by the fake
// clock without threads: after each fault the invariants hold — running =
// replicas, at most one live task per slot, no task id twice, the cache
// equal to the store.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>
#include <set>

#include "manager/orchestrator/orchestrator_test_util.h"
#include "manager/orchestrator/pipeline.h"
#include "store/fault_backend.h"
#include "store/memory_backend.h"

namespace shoal::orchestrator {
namespace {

using Fault = FaultBackend::Fault;

class FaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store.start().ok());
    testutil::seed_swarm(store);
  }
  void TearDown() override { loops.stop(); }

  std::string create_service(uint64_t replicas) {
    return testutil::create(store, testutil::replicated("svc", "web", replicas)).id;
  }
  void scale(uint64_t replicas) {
    Batch b;
    b.update_service("svc", [replicas](Service& s) {
      s.spec.replicas = replicas;
      return true;
    });
    ASSERT_TRUE(store.commit(b).ok());
  }
  // The agents (testutil::agents_run) through the backend without faults,
  // as agents' reports reach the store elsewhere.
  void agents_run() {
    testutil::agents_run(writer, clock.now());
    ASSERT_TRUE(writer.sync().ok());
    ASSERT_TRUE(store.sync().ok());
  }
  // Passes until nothing changes, faults or not (a failed pass is retried).
  void settle() {
    for (int i = 0; i < 8; ++i) {
      (void)loops.reconcile_all();
      agents_run();
    }
  }
  std::vector<Task> stored_tasks() {
    std::vector<Task> out;
    auto r = backend.range("/shoal/tasks/", true);
    for (const auto& kv : r->kvs) out.push_back(from_stored<Task>(json::parse(kv.value)));
    return out;
  }
  // Right after a faulty pass: never two live tasks in a slot.
  void check_partial() {
    std::map<uint64_t, int> live_per_slot;
    for (const auto& t : stored_tasks())
      if (t.desired_state <= TaskState::kRunning && !is_terminal(t.status.state)) live_per_slot[t.slot]++;
    for (const auto& [slot, n] : live_per_slot) EXPECT_LE(n, 1) << "slot " << slot;
  }
  // The invariants, read from the store itself (not the cache).
  void check(uint64_t replicas, const std::string& when) {
    SCOPED_TRACE(when);
    auto tasks = stored_tasks();
    std::set<std::string> ids;
    std::map<uint64_t, int> live_per_slot;
    size_t running = 0;
    for (const auto& t : tasks) {
      EXPECT_TRUE(ids.insert(t.id).second) << "task id " << t.id << " twice";
      if (t.desired_state <= TaskState::kRunning && !is_terminal(t.status.state)) live_per_slot[t.slot]++;
      running += t.desired_state == TaskState::kRunning && t.status.state == TaskState::kRunning;
    }
    for (const auto& [slot, n] : live_per_slot) EXPECT_LE(n, 1) << "slot " << slot << " has " << n << " live tasks";
    EXPECT_EQ(running, replicas);
    ASSERT_TRUE(store.sync().ok());
    EXPECT_EQ(store.tasks().size(), tasks.size()) << "the cache matches the store";
  }

  MemoryBackend backend{12};  // small transactions: a pass's batch spans several
  FaultBackend faults{backend};
  Store store{faults};
  Store writer{backend};  // the agents' side (status reports), fault-free
  FakeClock clock;
  ControlLoops loops{store, clock, Fence{}};

 public:
  FaultsTest() { EXPECT_TRUE(writer.start().ok()); }
};

TEST_F(FaultsTest, EveryFaultOnEveryWriteOfAPassLosesAndDoublesNothing) {
  create_service(0);
  // The first pass syncs (one write, sync()'s marker): done here, so each
  // planned fault below hits a write of the pass's own plan.
  ASSERT_TRUE(loops.reconcile_all().ok());
  uint64_t replicas = 0;
  size_t injected = 0;
  for (Fault f : {Fault::kFail, Fault::kTimeoutNotApplied, Fault::kTimeoutApplied}) {
    // A pass that creates 9 tasks writes 3 transactions: a fault planned
    // for a 4th write would only hit the next round.
    for (int nth = 1; nth <= 3; ++nth) {
      replicas += 9;  // 9 new tasks per round: several transactions per pass
      scale(replicas);
      ASSERT_TRUE(store.sync().ok());
      faults.fail_write(nth, f);
      (void)loops.reconcile_all();
      check_partial();
      settle();
      check(replicas, "fault " + std::to_string(static_cast<int>(f)) + " on write " + std::to_string(nth));
      EXPECT_EQ(faults.faults_injected(), ++injected) << "the planned fault hit a write of this round";
    }
  }
}

TEST_F(FaultsTest, AnUnknownOutcomeThatCannotBeReadIsSyncedBeforeTheNextPlan) {
  create_service(12);
  faults.fail_write(2, Fault::kTimeoutApplied);  // the second transaction commits, its answer is lost
  faults.fail_reads(50);                         // and the re-read fails too
  EXPECT_FALSE(loops.reconcile_all().ok());
  faults.fail_reads(0);
  ASSERT_TRUE(loops.reconcile_all().ok());
  settle();
  check(12, "after the unknown outcome");
}

TEST_F(FaultsTest, ANewLeaderWaitsForItsCacheBeforeItsFirstPlan) {
  create_service(3);
  ASSERT_TRUE(store.sync().ok());
  faults.hold_watches();  // this manager's cache stops at the service
  {
    ControlLoops previous{writer, clock, Fence{}};  // the leader before, on another manager
    ASSERT_TRUE(previous.reconcile_all().ok());
  }
  ASSERT_EQ(stored_tasks().size(), 3u);
  ASSERT_TRUE(store.tasks_of_service("svc").empty()) << "the cache lags";
  // Elected now: the first pass must not plan from the stale cache.
  ControlLoops elected{store, clock, Fence{}, std::chrono::milliseconds(50)};
  size_t writes = faults.writes();
  EXPECT_FALSE(elected.reconcile_all().ok()) << "the cache did not catch up: no plan";
  // One write: sync()'s marker under the watched prefix (its revision is what
  // the cache must reach); nothing planned from a stale cache.
  EXPECT_EQ(faults.writes(), writes + 1) << "nothing written from a stale cache";
  EXPECT_EQ(stored_tasks().size(), 3u);
  ASSERT_TRUE(store.sync().ok());  // the timed-out sync had the store re-list
  ASSERT_TRUE(elected.reconcile_all().ok());
  EXPECT_EQ(stored_tasks().size(), 3u) << "the new leader created no second set";
  elected.stop();
}

TEST_F(FaultsTest, TwoLeadersCannotPutTwoTasksOfAGlobalServiceOnOneNode) {
  ASSERT_TRUE(loops.reconcile_all().ok());  // this leader's first pass is done
  testutil::create(store, testutil::global("svc", "g"));
  faults.hold_watches();  // this leader will not see the other's tasks
  {
    ControlLoops other{writer, clock, Fence{}};  // a second leader (a deposed one still running)
    ASSERT_TRUE(writer.sync().ok());
    ASSERT_TRUE(other.reconcile_all().ok());
  }
  ASSERT_EQ(stored_tasks().size(), 3u);
  EXPECT_FALSE(loops.reconcile_all().ok()) << "the node claims refuse the stale plan";
  std::map<std::string, int> live_per_node;
  for (const auto& t : stored_tasks())
    if (t.desired_state <= TaskState::kRunning) live_per_node[t.node_id]++;
  EXPECT_EQ(live_per_node.size(), 3u);
  for (const auto& [node, n] : live_per_node) EXPECT_EQ(n, 1) << node;
}

TEST_F(FaultsTest, TwoLiveTasksInOneSlotAreReducedToTheNewestRunning) {
  create_service(2);
  settle();
  check(2, "before");
  // Duplicates as a bug or an old store left them: written past the slot keys.
  Task old = store.tasks_of_service("svc")[0];
  Task dup = old;
  dup.id = "duplicate";
  dup.created_at = old.created_at + std::chrono::seconds(1);
  dup.status.state = TaskState::kAssigned;  // newer but not running
  json j = to_stored(dup);
  ASSERT_TRUE(backend.txn({}, {{TxnOp::Type::kPut, object_key(Kind::kTask, dup.id), j.dump(), 0}}, {}).ok());
  ASSERT_TRUE(store.sync().ok());
  ASSERT_TRUE(loops.reconcile_all().ok());
  EXPECT_EQ(store.task("duplicate")->desired_state, TaskState::kShutdown) << "the running one is kept";
  EXPECT_EQ(store.task(old.id)->desired_state, TaskState::kRunning);
  settle();
  check(2, "after");
}

TEST_F(FaultsTest, AWatchGapLosesNoChangeTheLoopsActOn) {
  create_service(3);
  settle();
  faults.hold_watches();
  // Meanwhile (another manager's API): scaled to 5, one running task deleted.
  Batch b;
  b.update_service("svc", [](Service& s) {
    s.spec.replicas = 5;
    return true;
  });
  b.remove(Kind::kTask, writer.tasks_of_service("svc")[0].id);
  ASSERT_TRUE(writer.commit(b).ok());
  faults.compact(backend.range("/", true)->revision + 1);
  faults.drop_watches();
  ASSERT_TRUE(store.sync().ok());
  EXPECT_EQ(store.service("svc")->spec.replicas, 5u);
  settle();
  check(5, "after the gap");
}

// Counts, per write transaction, the tasks it creates and the operations it
// carries (a Backend between the store and the memory backend).
class TxnRecorder : public Backend {
 public:
  explicit TxnRecorder(Backend& inner) : inner_(inner) {}
  Result<RangeResult> range(const std::string& key, bool prefix) override { return inner_.range(key, prefix); }
  Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                        const std::vector<TxnOp>& failure) override {
    size_t creates = 0;
    for (const auto& op : success) {
      if (op.type == TxnOp::Type::kPut && op.key.rfind("/shoal/tasks/", 0) == 0) {
        bool is_new = std::any_of(compares.begin(), compares.end(), [&](const Compare& c) {
          return c.key == op.key && c.target == Compare::Target::kCreateRevision && c.value == 0;
        });
        creates += is_new;
      }
    }
    if (!success.empty() || !failure.empty()) {
      std::lock_guard lk(mu_);
      writes_.push_back({creates, std::max(success.size(), failure.size())});
    }
    return inner_.txn(compares, success, failure);
  }
  std::unique_ptr<WatchHandle> watch(const std::string& prefix, int64_t from_revision,
                                     std::function<void(const std::vector<WatchEvent>&)> on_events,
                                     std::function<void(const Status&)> on_error) override {
    return inner_.watch(prefix, from_revision, std::move(on_events), std::move(on_error));
  }
  Result<int64_t> lease_grant(int64_t ttl) override { return inner_.lease_grant(ttl); }
  Status lease_keepalive(int64_t id) override { return inner_.lease_keepalive(id); }
  Status lease_revoke(int64_t id) override { return inner_.lease_revoke(id); }
  size_t max_txn_ops() const override { return inner_.max_txn_ops(); }

  struct Write {
    size_t creates;
    size_t ops;
  };
  std::vector<Write> take() {
    std::lock_guard lk(mu_);
    return std::exchange(writes_, {});
  }

 private:
  Backend& inner_;
  std::mutex mu_;
  std::vector<Write> writes_;
};

TEST_F(FaultsTest, AnExceptionInAPassFailsItAndTheNextPassConverges) {
  create_service(3);
  faults.fail_write(1, Fault::kThrow);  // the pass's first write throws
  Status st = loops.reconcile_all();
  EXPECT_EQ(st.code(), Code::kInternal) << st.message();
  EXPECT_NE(st.message().find("injected fault: an exception"), std::string::npos) << st.message();
  EXPECT_EQ(faults.faults_injected(), 1u);
  check_partial();
  settle();
  check(3, "after the pass that threw");
}

TEST_F(FaultsTest, ManyReplicasAreCreatedInBoundedWrites) {
  constexpr size_t kMax = ControlLoops::kMaxCreatesPerPass;
  TxnRecorder recorder{backend};
  Store leader{recorder};
  ASSERT_TRUE(leader.start().ok());
  ControlLoops bounded{leader, clock, Fence{}};
  create_service(kMax + 10);
  ASSERT_TRUE(leader.sync().ok());
  recorder.take();
  // One transaction holds at most max_txn_ops operations, two per create
  // (the task and its slot claim).
  const size_t per_write = backend.max_txn_ops() / 2;
  auto pass = [&](size_t want, const char* which) {
    SCOPED_TRACE(which);
    ASSERT_TRUE(bounded.reconcile_all().ok());
    size_t created = 0;
    auto writes = recorder.take();
    for (const auto& w : writes) {
      EXPECT_LE(w.creates, per_write);
      EXPECT_LE(w.ops, backend.max_txn_ops());
      created += w.creates;
    }
    EXPECT_EQ(created, want) << "tasks created by the pass";
    EXPECT_GE(writes.size(), (want + per_write - 1) / per_write);
  };
  pass(kMax, "first pass: the cap");
  EXPECT_EQ(stored_tasks().size(), kMax);
  pass(10, "second pass: the rest");
  EXPECT_EQ(stored_tasks().size(), kMax + 10);
  pass(0, "third pass: nothing left");
  bounded.stop();
  leader.stop();
}

TEST_F(FaultsTest, NoTimerFiresAfterStop) {
  create_service(1);
  settle();
  Batch f;
  f.update_task(store.tasks_of_service("svc")[0].id, [](Task& t) {
    t.status.state = TaskState::kFailed;
    return true;
  });
  ASSERT_TRUE(store.commit(f).ok());
  ASSERT_TRUE(loops.reconcile_all().ok());
  EXPECT_EQ(clock.pending_timers(), 1u) << "the restart delay";
  loops.stop();
  EXPECT_EQ(clock.pending_timers(), 0u);
  // A pass still in flight when stop() came registers nothing.
  clock.advance(std::chrono::seconds(1));
  (void)loops.reconcile_all();
  EXPECT_EQ(clock.pending_timers(), 0u);
}

}  // namespace
}  // namespace shoal::orchestrator
