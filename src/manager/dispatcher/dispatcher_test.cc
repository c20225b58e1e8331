#include "manager/dispatcher/dispatcher.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <set>

#include "manager/dispatcher/dispatcher_test_util.h"
#include "store/stuck_backend_test_util.h"

namespace shoal::dispatcher {
namespace {

class DispatcherTest : public DispatcherFixture {
 protected:
  DispatcherTest() : DispatcherFixture(std::chrono::milliseconds(2000)) {}

  // Sends one request; returns a future of the response (long polls resolve later).
  std::future<http::Response> call(const std::string& method, const std::string& op, const std::string& body,
                                   std::map<std::string, std::string> query = {}) {
    return send(method, op, body, std::move(query));
  }
  std::string register_node(const std::string& id) {
    session::RegisterRequest req;
    req.node_id = id;
    req.description.hostname = id;
    auto r = call("POST", "session", json(req).dump()).get();
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body).get<session::RegisterResponse>().session_id;
  }
  // A replicated task of service "s" in a slot of its own (the store lets
  // one slot, or for a global task one node, hold one live task).
  Task make_task(const std::string& id, const std::string& node) {
    Task t;
    t.id = id;
    t.service_id = "s";
    t.slot = ++last_slot;
    t.node_id = node;
    t.status.state = TaskState::kAssigned;
    return t;
  }

  uint64_t last_slot = 0;
};

TEST_F(DispatcherTest, RegisterMarksTheNodeReady) {
  register_node("n1");
  auto n = store.node("n1");
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->state, NodeState::kReady);
  EXPECT_EQ(d->session_count(), 1u);
}

TEST_F(DispatcherTest, MissedHeartbeatsMarkTheNodeDown) {
  std::string sid = register_node("n1");
  clock.advance(std::chrono::seconds(5));
  EXPECT_EQ(call("POST", "heartbeat", json{{"SessionID", sid}}.dump()).get().status, 200);
  clock.advance(std::chrono::seconds(10));
  EXPECT_EQ(store.node("n1")->state, NodeState::kReady) << "two periods without a beat are tolerated";
  clock.advance(std::chrono::seconds(10));
  // The check runs on the status writer's thread, after the timer posted it:
  // one that ran while the advance was still at an earlier time re-arms its
  // timer past the advance's end, so keep time moving while waiting (the
  // node was silent for 20 s of a 15 s limit; more time only adds to that).
  for (int i = 0; i < 200 && store.node("n1")->state != NodeState::kDown; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    clock.advance(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(store.node("n1")->state, NodeState::kDown);
  EXPECT_EQ(call("POST", "heartbeat", json{{"SessionID", sid}}.dump()).get().status, 404);
}

TEST_F(DispatcherTest, ANodeDownWriteThatFailedIsRetried) {
  register_node("n1");
  faults.fail_write(1, FaultBackend::Fault::kFail);  // the node-down write fails
  // The check's read of the session keys (is n1 held elsewhere?) fails
  // (so n1 is judged as before), and the write cannot be re-read: it fails.
  faults.fail_reads(4);
  // Just past the 15 s limit (its check is due 1 ms after it): a retry the
  // failed check arms (a recheck period later, 100 ms at least) is not
  // reached by this advance. (Advancing 20 s at once let the retry fire
  // within the same advance when the check ran before it ended.)
  clock.advance(std::chrono::milliseconds(15002));
  for (int i = 0; i < 400 && faults.faults_injected() < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    // Until the check ran (see MissedHeartbeatsMarkTheNodeDown); not after,
    // so that no retry comes before the assertions below. Time moves only
    // once the check due at the last advance has run to its end (a check
    // still running when time moved on let its retry come early).
    for (int w = 0; w < 400 && !d->liveness_settled(); ++w) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (faults.faults_injected() == 0) clock.advance(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(faults.faults_injected(), 5u) << "the liveness check ran and its write failed";
  EXPECT_EQ(store.node("n1")->state, NodeState::kReady);
  // The session is gone with the failed check: a later check must still write it.
  for (int i = 0; i < 400 && store.node("n1")->state != NodeState::kDown; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    clock.advance(std::chrono::seconds(5));
  }
  EXPECT_EQ(store.node("n1")->state, NodeState::kDown) << "a node-down write that failed once was dropped";
}

// Holds every write transaction while closed (a slow or stuck etcd).
class GateBackend : public MemoryBackend {
 public:
  Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                        const std::vector<TxnOp>& failure) override {
    if (!success.empty()) {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return open_; });
    }
    return MemoryBackend::txn(compares, success, failure);
  }
  void set_open(bool open) {
    {
      std::lock_guard lk(mu_);
      open_ = open;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
};

TEST(DispatcherLiveness, TheTimerOnlyPostsTheCheckItsStoreWriteRunsElsewhere) {
  GateBackend backend;
  Store store{backend};
  ASSERT_TRUE(store.start().ok());
  FakeClock clock;
  Dispatcher d(store, clock);
  d.start();
  auto p = std::make_shared<std::promise<http::Response>>();
  http::Exchange ex;
  ex.request.method = "POST";
  ex.request.path = std::string(session::kPrefix) + "session";
  ex.request.body = json{{"NodeID", "n1"}}.dump();
  ex.respond = [p](http::Response r) { p->set_value(std::move(r)); };
  d.serve(std::move(ex));
  ASSERT_EQ(p->get_future().get().status, 200);
  backend.set_open(false);  // the store stalls
  // The clock's timers (here: advance) must not wait for the node-down write.
  auto advanced = std::async(std::launch::async, [&] { clock.advance(std::chrono::seconds(20)); });
  bool returned = advanced.wait_for(std::chrono::seconds(2)) == std::future_status::ready;
  backend.set_open(true);
  advanced.wait();
  EXPECT_TRUE(returned) << "a liveness timer callback blocked on a store write";
  // The check runs on the dispatcher's thread, at whatever fake time it
  // reads there: keep time moving until it marked the node down.
  for (int i = 0; i < 400 && store.node("n1")->state != NodeState::kDown; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    clock.advance(std::chrono::seconds(5));
  }
  EXPECT_EQ(store.node("n1")->state, NodeState::kDown);
  d.stop();
  store.stop();
}

TEST_F(DispatcherTest, LongPollAnsweredWhenTheAssignmentSetChanges) {
  std::string sid = register_node("n1");
  auto first = call("GET", "assignments", "", {{"session", sid}, {"since", "0"}}).get();
  ASSERT_EQ(first.status, 200);
  auto set = json::parse(first.body).get<session::AssignmentSet>();
  EXPECT_TRUE(set.tasks.empty());
  auto pending = call("GET", "assignments", "", {{"session", sid}, {"since", std::to_string(set.generation)}});
  EXPECT_EQ(pending.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  Batch b;
  b.create(make_task("t1", "n1"));
  b.create(make_task("t2", "other"));
  ASSERT_TRUE(store.commit(b).ok());
  ASSERT_EQ(pending.wait_for(std::chrono::seconds(2)), std::future_status::ready);
  auto next = json::parse(pending.get().body).get<session::AssignmentSet>();
  ASSERT_EQ(next.tasks.size(), 1u);
  EXPECT_EQ(next.tasks[0].id, "t1");
  EXPECT_GT(next.generation, set.generation);
}

// An agent that drops its long poll leaves no waiter behind: before, each
// dropped poll held its place until long_poll_timeout (2 s here, 25 s by
// default), so a client dropping polls in a loop piled them up.
TEST_F(DispatcherTest, AParkedPollWhoseClientHangsUpIsDroppedAtOnce) {
  std::string sid = register_node("n1");
  auto first = call("GET", "assignments", "", {{"session", sid}, {"since", "0"}}).get();
  std::string gen = std::to_string(json::parse(first.body).get<session::AssignmentSet>().generation);
  auto dropped = call("GET", "assignments", "", {{"session", sid}, {"since", gen}});
  auto kept = call("GET", "assignments", "", {{"session", sid}, {"since", gen}});
  ASSERT_EQ(d->parked_polls(), 2u);
  ASSERT_TRUE(hang_up(0)) << "the dispatcher registered no client-gone callback for its parked poll";
  EXPECT_EQ(d->parked_polls(), 1u) << "the hung-up poll still holds its place";
  ASSERT_EQ(dropped.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  EXPECT_THROW(dropped.get(), std::future_error);  // dropped unanswered: there is nobody to answer
  // The other poll of the node is still answered with the change.
  Batch b;
  b.create(make_task("t1", "n1"));
  ASSERT_TRUE(store.commit(b).ok());
  ASSERT_EQ(kept.wait_for(std::chrono::seconds(2)), std::future_status::ready);
  EXPECT_EQ(json::parse(kept.get().body).get<session::AssignmentSet>().tasks.size(), 1u);
  EXPECT_EQ(d->parked_polls(), 0u);
  EXPECT_TRUE(hang_up(1));  // after its answer: nothing to drop
  EXPECT_EQ(d->parked_polls(), 0u);
}

TEST_F(DispatcherTest, LaterAnswersCarryOnlyTheChanges) {
  std::string sid = register_node("n1");
  Batch b;
  b.create(make_task("t1", "n1"));
  b.create(make_task("t2", "n1"));
  ASSERT_TRUE(store.commit(b).ok());
  auto get = [&](uint64_t since) {
    auto r = call("GET", "assignments", "", {{"session", sid}, {"since", std::to_string(since)}});
    EXPECT_EQ(r.wait_for(std::chrono::seconds(2)), std::future_status::ready);
    return json::parse(r.get().body).get<session::AssignmentSet>();
  };
  auto whole = get(0);
  EXPECT_TRUE(whole.full);
  EXPECT_EQ(whole.tasks.size(), 2u);
  // t2 is stopped, t1 removed, t3 added: the answer names exactly those.
  Batch c;
  c.update_task("t2", [](Task& t) {
    t.desired_state = TaskState::kShutdown;
    return true;
  });
  c.remove(Kind::kTask, "t1");
  c.create(make_task("t3", "n1"));
  ASSERT_TRUE(store.commit(c).ok());
  auto delta = get(whole.generation);
  EXPECT_FALSE(delta.full);
  std::set<std::string> ids;
  for (const auto& t : delta.tasks) ids.insert(t.id);
  EXPECT_EQ(ids, (std::set<std::string>{"t2", "t3"}));
  EXPECT_EQ(delta.removed, std::vector<std::string>{"t1"});
  // A status report alone is not a change the agent is told about.
  Batch s;
  s.update_task("t3", [](Task& t) {
    t.status.state = TaskState::kRunning;
    return true;
  });
  ASSERT_TRUE(store.commit(s).ok());
  auto quiet = call("GET", "assignments", "", {{"session", sid}, {"since", std::to_string(delta.generation)}});
  EXPECT_EQ(quiet.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
}

TEST_F(DispatcherTest, StatusReportsOnlyMoveForward) {
  std::string sid = register_node("n1");
  Batch b;
  b.create(make_task("t1", "n1"));
  ASSERT_TRUE(store.commit(b).ok());
  auto report = [&](TaskState s) {
    session::StatusBatch batch;
    batch.session_id = sid;
    TaskStatus st;
    st.state = s;
    st.message = task_state_name(s);
    batch.updates.push_back({"t1", st});
    return call("POST", "status", json(batch).dump()).get().status;
  };
  EXPECT_EQ(report(TaskState::kRunning), 200);
  EXPECT_EQ(store.task("t1")->status.state, TaskState::kRunning);
  EXPECT_EQ(report(TaskState::kStarting), 200);
  EXPECT_EQ(store.task("t1")->status.state, TaskState::kRunning) << "a late report does not move it back";
  EXPECT_EQ(report(TaskState::kFailed), 200);
  EXPECT_EQ(store.task("t1")->status.state, TaskState::kFailed);
}

TEST_F(DispatcherTest, AStatusWriteThatThrowsIsA500AndTheWriterGoesOn) {
  std::string sid = register_node("n1");
  Batch b;
  b.create(make_task("t1", "n1"));
  ASSERT_TRUE(store.commit(b).ok());
  auto report = [&] {
    session::StatusBatch batch;
    batch.session_id = sid;
    TaskStatus st;
    st.state = TaskState::kRunning;
    batch.updates.push_back({"t1", st});
    return call("POST", "status", json(batch).dump()).get();
  };
  faults.fail_write(1, FaultBackend::Fault::kThrow);  // the status batch's write
  auto r = report();
  EXPECT_EQ(r.status, 500) << r.body;
  EXPECT_NE(r.body.find("unexpected exception in storing task status"), std::string::npos) << r.body;
  EXPECT_EQ(faults.faults_injected(), 1u);
  EXPECT_EQ(report().status, 200) << "the status writer still runs";
  EXPECT_EQ(store.task("t1")->status.state, TaskState::kRunning);
}

TEST_F(DispatcherTest, UnknownSessionsAndBadMessagesAreRefused) {
  EXPECT_EQ(call("POST", "heartbeat", json{{"SessionID", "nope"}}.dump()).get().status, 404);
  EXPECT_EQ(call("GET", "assignments", "", {{"session", "nope"}}).get().status, 404);
  EXPECT_EQ(call("POST", "session", "{not json").get().status, 400);
  EXPECT_EQ(call("POST", "session", "{}").get().status, 400);
  // Deep nesting is a 400 with a bounded message, not a stack overflow.
  const std::string deep = std::string(1000000, '[') + std::string(1000000, ']');
  for (const char* op : {"session", "heartbeat", "status"}) {
    auto r = call("POST", op, deep).get();
    EXPECT_EQ(r.status, 400) << op;
    EXPECT_LT(r.body.size(), 400u) << op;
  }
  auto r = call("POST", "heartbeat", json{{"SessionID", std::string(100000, 'x')}}.dump()).get();
  EXPECT_EQ(r.status, 404);
  EXPECT_LT(r.body.size(), 400u) << "the unknown session id is not echoed in full";
}

TEST_F(DispatcherTest, ANodeReportsOnlyOnItsOwnTasks) {
  std::string s1 = register_node("n1");
  register_node("n2");
  Batch b;
  b.create(make_task("t2", "n2"));
  ASSERT_TRUE(store.commit(b).ok());
  session::StatusBatch batch;
  batch.session_id = s1;
  TaskStatus st;
  st.state = TaskState::kFailed;
  batch.updates.push_back({"t2", st});
  batch.updates.push_back({"no-such-task", st});
  EXPECT_EQ(call("POST", "status", json(batch).dump()).get().status, 200);
  EXPECT_EQ(store.task("t2")->status.state, TaskState::kAssigned) << "n1 changed n2's task";
}

TEST_F(DispatcherTest, CallsAfterStopAreAnsweredNotParked) {
  std::string sid = register_node("n1");
  auto first = call("GET", "assignments", "", {{"session", sid}, {"since", "0"}}).get();
  auto gen = json::parse(first.body).get<session::AssignmentSet>().generation;
  auto parked = call("GET", "assignments", "", {{"session", sid}, {"since", std::to_string(gen)}});
  d->stop();
  ASSERT_EQ(parked.wait_for(std::chrono::seconds(2)), std::future_status::ready);
  EXPECT_EQ(parked.get().status, 503);
  // Arriving after stop(): answered at once.
  auto poll = call("GET", "assignments", "", {{"session", sid}, {"since", std::to_string(gen)}});
  ASSERT_EQ(poll.wait_for(std::chrono::milliseconds(500)), std::future_status::ready) << "parked forever";
  EXPECT_EQ(poll.get().status, 503);
  session::StatusBatch batch;
  batch.session_id = sid;
  auto status = call("POST", "status", json(batch).dump());
  ASSERT_EQ(status.wait_for(std::chrono::milliseconds(500)), std::future_status::ready) << "parked forever";
  EXPECT_EQ(status.get().status, 503);
  auto reg = call("POST", "session", json(session::RegisterRequest{}).dump());
  ASSERT_EQ(reg.wait_for(std::chrono::milliseconds(500)), std::future_status::ready);
  EXPECT_EQ(reg.get().status, 503);
}

TEST_F(DispatcherTest, AWatchGapLosesNoAssignmentOrRemoval) {
  std::string sid = register_node("n1");
  Batch b;
  b.create(make_task("t0", "n1"));
  ASSERT_TRUE(store.commit(b).ok());
  auto get = [&](uint64_t since) {
    auto r = call("GET", "assignments", "", {{"session", sid}, {"since", std::to_string(since)}});
    EXPECT_EQ(r.wait_for(std::chrono::seconds(2)), std::future_status::ready);
    return json::parse(r.get().body).get<session::AssignmentSet>();
  };
  auto whole = get(0);
  ASSERT_EQ(whole.tasks.size(), 1u);
  // The watch dies silently; another manager assigns t1 and removes t0.
  faults.hold_watches();
  Store other(backend);
  ASSERT_TRUE(other.start().ok());
  Batch w;
  w.create(make_task("t1", "n1"));
  w.remove(Kind::kTask, "t0");
  ASSERT_TRUE(other.commit(w).ok());
  faults.compact(backend.range("/", true)->revision + 1);
  faults.drop_watches();
  ASSERT_TRUE(store.sync().ok());
  auto delta = get(whole.generation);
  ASSERT_EQ(delta.tasks.size(), 1u);
  EXPECT_EQ(delta.tasks[0].id, "t1");
  EXPECT_EQ(delta.removed, std::vector<std::string>{"t0"});
  other.stop();
}

TEST_F(DispatcherTest, AfterAnElectionReadyNodesWithNoSessionAnywhereAreMarkedDown) {
  // From before a manager restart: n1 and n3 Ready in the store. n1 never
  // comes back, n2 registers here, n3 holds a session on another manager.
  Batch b;
  for (const char* id : {"n1", "n3"}) {
    Node n;
    n.id = id;
    n.state = NodeState::kReady;
    n.updated_at = clock.now();
    b.create(n);
  }
  ASSERT_TRUE(store.commit(b).ok());
  std::string sid = register_node("n2");
  ASSERT_TRUE(backend.txn({}, {{TxnOp::Type::kPut, std::string(kSessionPrefix) + "n3", "other-manager", 0}}, {}).ok());
  d->begin_grace();
  auto beat = [&] { EXPECT_EQ(call("POST", "heartbeat", json{{"SessionID", sid}}.dump()).get().status, 200); };
  for (int i = 0; i < 10; ++i) {
    clock.advance(std::chrono::seconds(1));
    beat();
  }
  EXPECT_EQ(store.node("n1")->state, NodeState::kReady) << "10 s of a 15 s grace";
  for (int i = 0; i < 400 && store.node("n1")->state != NodeState::kDown; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    clock.advance(std::chrono::seconds(1));
    beat();
  }
  EXPECT_EQ(store.node("n1")->state, NodeState::kDown) << "a Ready node that never opened a session stayed Ready";
  EXPECT_EQ(store.node("n1")->status_message, "heartbeat failure");
  EXPECT_EQ(store.node("n2")->state, NodeState::kReady) << "its session is here";
  EXPECT_EQ(store.node("n3")->state, NodeState::kReady) << "its session is on another manager";
}

TEST_F(DispatcherTest, AStaleSessionKeyDelaysTheGraceDownButNeverPreventsIt) {
  // n1's key is from the previous run's dispatcher: its lease (etcd gives a
  // restored lease its whole TTL again) outlives this leader's grace.
  Node n;
  n.id = "n1";
  n.state = NodeState::kReady;
  n.updated_at = clock.now();
  Batch b;
  b.create(n);
  ASSERT_TRUE(store.commit(b).ok());
  auto lease = backend.lease_grant(3600);
  ASSERT_TRUE(lease.ok());
  ASSERT_TRUE(backend.txn({}, {{TxnOp::Type::kPut, std::string(kSessionPrefix) + "n1", "previous-run", *lease}}, {}).ok());
  d->begin_grace();
  for (int i = 0; i < 40; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    clock.advance(std::chrono::seconds(1));
  }
  EXPECT_EQ(store.node("n1")->state, NodeState::kReady) << "held by a key that has not expired yet";
  ASSERT_TRUE(backend.lease_revoke(*lease).ok());  // the stale lease expires
  for (int i = 0; i < 400 && store.node("n1")->state != NodeState::kDown; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    clock.advance(std::chrono::seconds(1));
  }
  EXPECT_EQ(store.node("n1")->state, NodeState::kDown) << "a dead node held only by a stale key stayed Ready";
}

// n1's agent moved to another manager (a heartbeat here timed out, or this
// manager was paused): registered there, its session key is that manager's.
// This one must not mark it Down when the session here goes silent; once no
// manager holds it (that one died), it is Down.
TEST_F(DispatcherTest, ANodeWhoseSessionMovedToAnotherManagerIsNotMarkedDown) {
  register_node("n1");
  auto lease = backend.lease_grant(3600);
  ASSERT_TRUE(lease.ok());
  ASSERT_TRUE(backend.txn({}, {{TxnOp::Type::kPut, std::string(kSessionPrefix) + "n1", "other-manager", *lease}}, {}).ok());
  for (int i = 0; i < 400 && d->session_count() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    clock.advance(std::chrono::seconds(1));
  }
  ASSERT_EQ(d->session_count(), 0u) << "the silent session here ended";
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    clock.advance(std::chrono::seconds(1));
  }
  EXPECT_EQ(store.node("n1")->state, NodeState::kReady) << "marked Down while its session lives on another manager";
  EXPECT_EQ(backend.range(std::string(kSessionPrefix) + "n1", false)->kvs.size(), 1u) << "the other's key stays";
  ASSERT_TRUE(backend.lease_revoke(*lease).ok());  // that manager dies: no session anywhere
  for (int i = 0; i < 400 && store.node("n1")->state != NodeState::kDown; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    clock.advance(std::chrono::seconds(1));
  }
  EXPECT_EQ(store.node("n1")->state, NodeState::kDown) << "a node with no session anywhere stayed Ready";
}

TEST_F(DispatcherTest, AStoppedDispatcherLeavesNoSessionKeys) {
  register_node("n1");
  ASSERT_EQ(backend.range(std::string(kSessionPrefix) + "n1", false)->kvs.size(), 1u);
  d->stop();
  EXPECT_TRUE(backend.range(std::string(kSessionPrefix) + "n1", false)->kvs.empty())
      << "left to expire, the key outlives the next leader's grace";
}

TEST_F(DispatcherTest, ASessionIsPublishedWhileItLivesAndWithdrawnWhenItDies) {
  register_node("n1");
  EXPECT_EQ(backend.range(std::string(kSessionPrefix) + "n1", false)->kvs.size(), 1u);
  for (int i = 0; i < 400 && store.node("n1")->state != NodeState::kDown; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    clock.advance(std::chrono::seconds(5));
  }
  ASSERT_EQ(store.node("n1")->state, NodeState::kDown);
  for (int i = 0; i < 400 && !backend.range(std::string(kSessionPrefix) + "n1", false)->kvs.empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_TRUE(backend.range(std::string(kSessionPrefix) + "n1", false)->kvs.empty());
}

TEST_F(DispatcherTest, AnEndedGraceMarksNoNodeDown) {
  Node n;
  n.id = "n1";
  n.state = NodeState::kReady;
  n.updated_at = clock.now();
  Batch b;
  b.create(n);
  ASSERT_TRUE(store.commit(b).ok());
  register_node("n2");  // never beats: Down by the same check that would judge n1's grace
  d->begin_grace();
  d->end_grace();  // deposed before the grace ended
  for (int i = 0; i < 400 && store.node("n2")->state != NodeState::kDown; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    clock.advance(std::chrono::seconds(1));
  }
  ASSERT_EQ(store.node("n2")->state, NodeState::kDown) << "the liveness check ran past the grace";
  EXPECT_EQ(store.node("n1")->state, NodeState::kReady) << "a deposed manager judged its grace";
}

// A liveness check's Down that commits just after a register's Ready (the
// register began before the check, so the check's guard lets it through):
// the session must end, or the live agent keeps it and the node stays Down.
TEST_F(DispatcherTest, ADownWrittenAfterTheRegistersReadyEndsTheSession) {
  std::string sid = register_node("n1");
  Batch down;
  down.update_node("n1", [](Node& n) {
    n.state = NodeState::kDown;
    n.status_message = "heartbeat failure";
    return true;
  });
  ASSERT_TRUE(store.commit(down).ok());  // returns once listeners (the dispatcher) saw it
  EXPECT_EQ(call("POST", "heartbeat", json{{"SessionID", sid}}.dump()).get().status, 404)
      << "the agent must register again: heartbeats never set the node Ready";
  std::string again = register_node("n1");
  EXPECT_EQ(store.node("n1")->state, NodeState::kReady);
  EXPECT_EQ(call("POST", "heartbeat", json{{"SessionID", again}}.dump()).get().status, 200)
      << "a Down older than the register leaves its session alone";
}

// The status writer's presence keepalive is stuck on etcd, the rest of etcd
// answers. stop() revokes the session lease first, before the stop's bound
// (here: the test's cancel) frees the stuck call: a revoke after that cancel
// fails, and the other managers would count this manager's sessions as live
// until the lease expired.
TEST(DispatcherStop, RevokesTheSessionLeaseBeforeAStuckKeepaliveIsCancelled) {
  StuckBackend backend;
  Store store{backend};
  ASSERT_TRUE(store.start().ok());
  FakeClock clock;
  DispatcherOptions o;
  Dispatcher d(store, clock, o);
  d.start();
  session::RegisterRequest req;
  req.node_id = "n1";
  req.description.hostname = "n1";
  auto p = std::make_shared<std::promise<http::Response>>();
  http::Exchange ex;
  ex.request.method = "POST";
  ex.request.path = std::string(session::kPrefix) + "session";
  ex.request.body = json(req).dump();
  ex.respond = [p](http::Response r) { p->set_value(std::move(r)); };
  d.serve(std::move(ex));
  ASSERT_EQ(p->get_future().get().status, 200);
  const std::string key = std::string(kSessionPrefix) + "n1";
  ASSERT_EQ(backend.MemoryBackend::range(key, false)->kvs.size(), 1u);
  backend.hang_keepalives();
  clock.advance(o.heartbeat_period);  // the liveness check's presence keepalive hangs
  ASSERT_TRUE(backend.wait_blocked(std::chrono::seconds(10))) << "no keepalive was sent";
  auto stopped = std::async(std::launch::async, [&] { d.stop(); });
  const bool revoked_before_cancel = backend.wait_revoked(std::chrono::seconds(5));
  EXPECT_TRUE(revoked_before_cancel) << "stop() waited on the stuck keepalive before revoking the lease";
  backend.cancel();  // what the stop's bound does once its grace ran out
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(backend.MemoryBackend::range(key, false)->kvs.empty())
      << "the session key outlived the stop: other managers count it live until the lease expires";
  store.stop();
}

}  // namespace
}  // namespace shoal::dispatcher
