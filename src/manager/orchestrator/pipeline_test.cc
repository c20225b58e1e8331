#include "manager/orchestrator/pipeline.h"

#include <gtest/gtest.h>

#include <set>

#include "manager/orchestrator/orchestrator_test_util.h"
#include "store/memory_backend.h"

namespace shoal::orchestrator {
namespace {

class ControlLoopsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store.start().ok());
    testutil::seed_swarm(store);
  }
  Service create_service(const std::string& name, uint64_t replicas) {
    return testutil::create(store, testutil::replicated("svc-" + name, name, replicas));
  }
  std::vector<Task> live(const std::string& sid) {
    std::vector<Task> out;
    for (auto& t : store.tasks_of_service(sid))
      if (t.desired_state == TaskState::kRunning) out.push_back(t);
    return out;
  }
  void agents_run() { testutil::agents_run(store, clock.now()); }
  // `service update --image IMAGE`, then one pass of the control loops.
  void update_image(const std::string& sid, const std::string& image) {
    Batch u;
    u.update_service(sid, [&](Service& x) {
      x.spec.task_template.container_spec.image = image;
      x.spec_version++;
      return true;
    });
    ASSERT_TRUE(store.commit(u).ok());
    ASSERT_TRUE(loops.reconcile_all().ok());
  }
  void settle() {
    for (int i = 0; i < 6; ++i) {
      ASSERT_TRUE(loops.reconcile_all().ok());
      agents_run();
    }
  }
  // The service's live task fails `times` times, each replaced after the
  // 5 s restart delay.
  void fail_repeatedly(const std::string& sid, int times) {
    for (int i = 0; i < times; ++i) {
      Task t = live(sid)[0];
      Batch f;
      f.update_task(t.id, [](Task& x) { x.status.state = TaskState::kFailed; return true; });
      ASSERT_TRUE(store.commit(f).ok());
      ASSERT_TRUE(loops.reconcile_all().ok());
      clock.advance(std::chrono::seconds(5));
      settle();
      clock.advance(std::chrono::milliseconds(1));
    }
  }
  // A network with two task addresses (10.0.9.2 and .3), and services on it
  // in dnsrr mode (no VIP).
  static constexpr const char* kTiny = "nettinyaaaaaaaaaaaaaaaaaa";
  void make_tiny_network() {
    Network n;
    n.id = kTiny;
    n.spec.name = "tiny";
    n.vni = 4200;
    n.ipam = {{"10.0.9.0/24", "10.0.9.0/30", "10.0.9.1"}};
    Batch b;
    b.create(n);
    ASSERT_TRUE(store.commit(b).ok());
  }
  Service create_on_tiny(const std::string& name, uint64_t replicas) {
    Service s = testutil::replicated("svc-" + name, name, replicas);
    s.spec.endpoint_spec.mode = "dnsrr";
    s.spec.task_template.networks = {{kTiny, {}}};
    return testutil::create(store, s);
  }
  // The dispatcher's mark: down since now.
  void node_down(const std::string& id) {
    SysTime now = clock.now();
    Batch d;
    d.update_node(id, [now](Node& n) {
      n.state = NodeState::kDown;
      n.updated_at = now;
      return true;
    });
    ASSERT_TRUE(store.commit(d).ok());
  }
  // The nodes the service's running tasks are on.
  std::set<std::string> nodes_of(const std::string& sid) {
    std::set<std::string> out;
    for (auto& t : store.tasks_of_service(sid))
      if (t.status.state == TaskState::kRunning) out.insert(t.node_id);
    return out;
  }
  // The address the task holds on the tiny network, if any.
  static std::string address(const Task& t) {
    return t.networks.empty() || t.networks[0].addresses.empty() ? "" : t.networks[0].addresses[0];
  }

  MemoryBackend backend;
  Store store{backend};
  FakeClock clock;
  ControlLoops loops{store, clock, Fence{}};
};

TEST_F(ControlLoopsTest, CreatesAssignedTasksSpreadOverNodes) {
  auto s = create_service("web", 3);
  ASSERT_TRUE(loops.reconcile_all().ok());
  auto ts = live(s.id);
  ASSERT_EQ(ts.size(), 3u);
  std::set<std::string> nodes;
  std::set<uint64_t> slots;
  for (auto& t : ts) {
    EXPECT_EQ(t.status.state, TaskState::kAssigned);
    nodes.insert(t.node_id);
    slots.insert(t.slot);
  }
  EXPECT_EQ(nodes.size(), 3u);
  EXPECT_EQ(slots, (std::set<uint64_t>{1, 2, 3}));
}

TEST_F(ControlLoopsTest, ScalesUpAndDownToZero) {
  auto s = create_service("web", 3);
  settle();
  Batch b;
  b.update_service(s.id, [](Service& x) { x.spec.replicas = 5; return true; });
  ASSERT_TRUE(store.commit(b).ok());
  settle();
  EXPECT_EQ(live(s.id).size(), 5u);
  Batch z;
  z.update_service(s.id, [](Service& x) { x.spec.replicas = 0; return true; });
  ASSERT_TRUE(store.commit(z).ok());
  settle();
  EXPECT_EQ(live(s.id).size(), 0u);
  for (auto& t : store.tasks_of_service(s.id)) EXPECT_EQ(t.status.state, TaskState::kShutdown);
}

TEST_F(ControlLoopsTest, FailedTaskReplacedInSameSlotAfterRestartDelay) {
  auto s = create_service("web", 1);
  settle();
  Task t = live(s.id)[0];
  Batch f;
  f.update_task(t.id, [](Task& x) { x.status.state = TaskState::kFailed; x.status.err = "task: non-zero exit (137)"; return true; });
  ASSERT_TRUE(store.commit(f).ok());
  ASSERT_TRUE(loops.reconcile_all().ok());
  EXPECT_EQ(store.tasks_of_service(s.id).size(), 1u) << "no replacement before the 5 s delay";
  clock.advance(std::chrono::seconds(4));
  ASSERT_TRUE(loops.reconcile_all().ok());
  EXPECT_EQ(store.tasks_of_service(s.id).size(), 1u);
  clock.advance(std::chrono::seconds(1));
  ASSERT_TRUE(loops.reconcile_all().ok());
  auto all = store.tasks_of_service(s.id);
  ASSERT_EQ(all.size(), 2u);
  auto l = live(s.id);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].slot, t.slot);
  EXPECT_NE(l[0].id, t.id);
  EXPECT_EQ(store.task(t.id)->desired_state, TaskState::kShutdown);
}

TEST_F(ControlLoopsTest, RestartConditionNoneLeavesTheSlot) {
  Service s;
  s.id = "svc-once";
  s.spec.name = "once";
  s.spec.task_template.restart_policy.condition = "none";
  Batch b;
  b.create(s);
  ASSERT_TRUE(store.commit(b).ok());
  settle();
  Task t = live(s.id)[0];
  Batch f;
  f.update_task(t.id, [](Task& x) { x.status.state = TaskState::kComplete; return true; });
  ASSERT_TRUE(store.commit(f).ok());
  clock.advance(std::chrono::seconds(30));
  ASSERT_TRUE(loops.reconcile_all().ok());
  EXPECT_EQ(store.tasks_of_service(s.id).size(), 1u);
}

TEST_F(ControlLoopsTest, HistoryKeepsFiveTasksPerSlot) {
  auto s = create_service("web", 1);
  settle();
  fail_repeatedly(s.id, 8);
  EXPECT_EQ(store.tasks_of_service(s.id).size(), 5u);
}

TEST_F(ControlLoopsTest, TheClustersTaskHistoryLimitIsTheOneApplied) {
  Batch c;
  c.update_cluster("cluster", [](Cluster& x) {
    x.spec.task_history_retention_limit = 2;  // swarm update --task-history-limit 2
    return true;
  });
  ASSERT_TRUE(store.commit(c).ok());
  auto s = create_service("web", 1);
  settle();
  fail_repeatedly(s.id, 6);
  EXPECT_EQ(store.tasks_of_service(s.id).size(), 2u) << "the live task and one of history: 2 per slot, not 5";
}

TEST_F(ControlLoopsTest, NodeDownAndDrainMoveTasks) {
  auto s = create_service("web", 3);
  settle();
  Batch d;
  d.update_node("node1", [](Node& n) { n.state = NodeState::kDown; return true; });
  d.update_node("node2", [](Node& n) { n.spec.availability = NodeAvailability::kDrain; return true; });
  ASSERT_TRUE(store.commit(d).ok());
  settle();
  auto l = live(s.id);
  ASSERT_EQ(l.size(), 3u);
  for (auto& t : l) EXPECT_EQ(t.node_id, "node3");
}

TEST_F(ControlLoopsTest, NoSuitableNodeKeepsTaskPendingWithReason) {
  Service s;
  s.id = "svc-c";
  s.spec.name = "c";
  s.spec.task_template.placement.constraints = {"node.hostname==nowhere"};
  Batch b;
  b.create(s);
  ASSERT_TRUE(store.commit(b).ok());
  ASSERT_TRUE(loops.reconcile_all().ok());
  auto ts = store.tasks_of_service(s.id);
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(ts[0].status.state, TaskState::kPending);
  EXPECT_NE(ts[0].status.err.find("no suitable node"), std::string::npos) << ts[0].status.err;
}

TEST_F(ControlLoopsTest, RollingUpdateOneAtATimeStopFirstThenCompleted) {
  auto s = create_service("web", 3);
  settle();
  update_image(s.id, "busybox:v2");
  // One old task is told to stop; none replaced yet (stop-first).
  int stopping = 0;
  for (auto& t : store.tasks_of_service(s.id)) stopping += t.desired_state == TaskState::kShutdown;
  EXPECT_EQ(stopping, 1);
  EXPECT_EQ(live(s.id).size(), 2u);
  EXPECT_EQ(store.service(s.id)->update_status->state, "updating");
  for (int round = 0; round < 30; ++round) {
    settle();
    clock.advance(std::chrono::seconds(1));
  }
  settle();
  auto l = live(s.id);
  ASSERT_EQ(l.size(), 3u);
  for (auto& t : l) EXPECT_EQ(t.spec.container_spec.image, "busybox:v2");
  EXPECT_EQ(store.service(s.id)->update_status->state, "completed");
}

// A task that never reached a node (Pending: no node fits) runs nothing:
// once told to stop it does not hold an update's slot (before, an update that
// also scaled it away waited for it forever).
TEST_F(ControlLoopsTest, APendingTaskOfTheOldSpecDoesNotHoldTheUpdate) {
  Service web = testutil::replicated("svc-web", "web", 3);
  web.spec.task_template.placement.constraints = {"node.hostname!=node3"};
  web.spec.task_template.placement.max_replicas = 1;  // two nodes for three tasks: one stays Pending
  auto s = testutil::create(store, web);
  settle();
  size_t pending = 0;
  for (auto& t : live(s.id)) pending += t.status.state == TaskState::kPending;
  ASSERT_EQ(pending, 1u);
  // Down to one replica with a new spec: the pending one goes, the update completes.
  Batch u;
  u.update_service(s.id, [](Service& x) {
    x.spec.replicas = 1;
    x.spec.task_template.container_spec.image = "busybox:v2";
    x.spec_version++;
    return true;
  });
  ASSERT_TRUE(store.commit(u).ok());
  for (int round = 0; round < 30; ++round) {
    settle();
    clock.advance(std::chrono::seconds(1));
  }
  auto l = live(s.id);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].spec.container_spec.image, "busybox:v2");
  EXPECT_EQ(l[0].status.state, TaskState::kRunning);
  EXPECT_EQ(store.service(s.id)->update_status->state, "completed");
}

TEST_F(ControlLoopsTest, StopFirstHoldsAcrossALeaderChange) {
  auto s = create_service("web", 3);
  settle();
  update_image(s.id, "busybox:v2");  // one old task told to stop, still running
  // The leader dies; the next one starts with no memory of the update.
  ControlLoops next{store, clock, Fence{}};
  ASSERT_TRUE(next.reconcile_all().ok());
  int running = 0;  // live tasks plus the old one still stopping
  for (auto& t : store.tasks_of_service(s.id))
    running += t.desired_state <= TaskState::kRunning || !is_terminal(t.status.state);
  EXPECT_EQ(running, 3) << "a new task was created while its slot's old task still ran (stop-first)";
}

TEST_F(ControlLoopsTest, UpdateParallelismHoldsAcrossALeaderChange) {
  auto s = create_service("web", 3);
  settle();
  update_image(s.id, "busybox:v2");  // a batch of one: its old task still stops
  ControlLoops next{store, clock, Fence{}};  // a new leader, no memory of that batch
  ASSERT_TRUE(next.reconcile_all().ok());
  int stopping = 0;
  for (auto& t : store.tasks_of_service(s.id))
    stopping += t.desired_state > TaskState::kRunning && !is_terminal(t.status.state);
  EXPECT_EQ(stopping, 1) << "the new leader started a second batch beside the one still stopping (parallelism 1)";
}

TEST_F(ControlLoopsTest, RestartDelayHoldsAcrossALeaderChange) {
  auto s = create_service("web", 1);
  settle();
  Task t = live(s.id)[0];
  Batch f;
  f.update_task(t.id, [&](Task& x) {
    x.status.state = TaskState::kFailed;
    x.status.timestamp = clock.now();
    return true;
  });
  ASSERT_TRUE(store.commit(f).ok());
  clock.advance(std::chrono::seconds(6));  // past the 5 s default delay; the leader restarted meanwhile
  ControlLoops next{store, clock, Fence{}};
  ASSERT_TRUE(next.reconcile_all().ok());
  ASSERT_EQ(store.tasks_of_service(s.id).size(), 2u) << "the failed task is not replaced 5 s after it ended";
  clock.advance(std::chrono::seconds(1));
  Batch g;  // a second failure, just now: its delay holds
  for (auto& x : live(s.id))
    if (x.id != t.id)
      g.update_task(x.id, [&](Task& y) {
        y.status.state = TaskState::kFailed;
        y.status.timestamp = clock.now();
        return true;
      });
  ASSERT_TRUE(store.commit(g).ok());
  ControlLoops third{store, clock, Fence{}};
  ASSERT_TRUE(third.reconcile_all().ok());
  EXPECT_EQ(store.tasks_of_service(s.id).size(), 2u) << "restarted before its delay";
}

TEST_F(ControlLoopsTest, UpdatePausesWhenNewTaskFailsDuringMonitor) {
  auto s = create_service("web", 2);
  settle();
  Batch u;
  u.update_service(s.id, [](Service& x) { x.spec.task_template.container_spec.image = "bad"; x.spec_version++; return true; });
  ASSERT_TRUE(store.commit(u).ok());
  settle();
  for (auto& t : live(s.id)) {
    if (t.spec_version != 2) continue;
    Batch f;
    f.update_task(t.id, [](Task& x) { x.status.state = TaskState::kFailed; return true; });
    ASSERT_TRUE(store.commit(f).ok());
  }
  ASSERT_TRUE(loops.reconcile_all().ok());
  auto us = store.service(s.id)->update_status;
  ASSERT_TRUE(us.has_value());
  EXPECT_EQ(us->state, "paused");
  EXPECT_NE(us->message.find("update paused due to failure"), std::string::npos);
}

TEST_F(ControlLoopsTest, RemovedServiceTasksAreShutDownThenDeleted) {
  auto s = create_service("web", 2);
  settle();
  Batch r;
  r.remove(Kind::kService, s.id);
  ASSERT_TRUE(store.commit(r).ok());
  ASSERT_TRUE(loops.reconcile_all().ok());
  for (auto& t : store.tasks_of_service(s.id)) EXPECT_EQ(t.desired_state, TaskState::kRemove);
  agents_run();
  ASSERT_TRUE(loops.reconcile_all().ok());
  EXPECT_TRUE(store.tasks_of_service(s.id).empty());
}

// A removed service's tasks on nodes that went down before they stopped:
// their containers may still run there, so they are not deleted and keep
// their addresses; a new task waits for an address rather than take one
// of theirs. After the orphan timeout they are orphaned, then deleted, and
// the new task gets an address.
// While a service publishes through the mesh, every node gets its own
// address on ingress (the mesh's source toward tasks on other nodes).
TEST_F(ControlLoopsTest, NodesGetIngressAddressesWhileTheMeshIsUsed) {
  Network ingress;
  ingress.id = "ingressaaaaaaaaaaaaaaaaaa";
  ingress.spec.name = "ingress";
  ingress.spec.ingress = true;
  ingress.vni = 4096;
  ingress.ipam = {{"10.0.0.0/24", "", "10.0.0.1"}};
  Batch b;
  b.create(ingress);
  ASSERT_TRUE(store.commit(b).ok());
  create_service("plain", 1);
  settle();
  for (const auto& n : store.nodes()) EXPECT_EQ(n.ingress_addr, "") << "no mesh yet";
  Service web = testutil::replicated("svc-web", "web", 2);
  web.spec.endpoint_spec.ports = {{"", "tcp", 80, 8080, "ingress"}};
  testutil::create(store, web);
  settle();
  std::set<std::string> addrs;
  for (const auto& n : store.nodes()) {
    EXPECT_TRUE(n.ingress_addr.rfind("10.0.0.", 0) == 0) << n.id << ": " << n.ingress_addr;
    addrs.insert(n.ingress_addr);
  }
  EXPECT_EQ(addrs.size(), store.nodes().size()) << "each node its own";
  for (const auto& t : store.tasks_of_service(web.id))
    for (const auto& a : t.networks) EXPECT_FALSE(addrs.count(a.addresses[0])) << "a task has a node's address";
}

TEST_F(ControlLoopsTest, TasksOnADownNodeKeepTheirAddressesUntilOrphaned) {
  make_tiny_network();
  auto old_svc = create_on_tiny("old", 2);
  settle();
  ASSERT_EQ(nodes_of(old_svc.id).size(), 2u);
  std::set<std::string> held;
  for (auto& t : store.tasks_of_service(old_svc.id)) held.insert(address(t));
  ASSERT_EQ(held, (std::set<std::string>{"10.0.9.2/24", "10.0.9.3/24"}));
  Batch r;
  r.remove(Kind::kService, old_svc.id);
  ASSERT_TRUE(store.commit(r).ok());
  ASSERT_TRUE(loops.reconcile_all().ok());  // desired remove; the nodes go down before they stop them
  for (const auto& n : nodes_of(old_svc.id)) node_down(n);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(loops.reconcile_all().ok());
  EXPECT_EQ(store.tasks_of_service(old_svc.id).size(), 2u) << "not deleted: never seen to stop";

  auto next = create_on_tiny("next", 1);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(loops.reconcile_all().ok());
  auto waiting = store.tasks_of_service(next.id);
  ASSERT_EQ(waiting.size(), 1u);
  EXPECT_EQ(address(waiting[0]), "") << "an orphan's address was handed out";
  EXPECT_EQ(waiting[0].status.state, TaskState::kPending);
  EXPECT_NE(waiting[0].status.err.find("no IP address left"), std::string::npos) << waiting[0].status.err;

  // Just before the timeout nothing changes; at it, the pass its timer
  // starts marks them orphaned, and the next ones delete them and give the
  // new task an address.
  clock.advance(kOrphanTimeout - std::chrono::seconds(1));
  ASSERT_TRUE(loops.reconcile_all().ok());
  for (auto& t : store.tasks_of_service(old_svc.id)) EXPECT_EQ(t.status.state, TaskState::kRunning);
  size_t timers = clock.pending_timers();
  ASSERT_GT(timers, 0u);
  clock.advance(std::chrono::seconds(1));
  EXPECT_EQ(clock.pending_timers(), timers - 1) << "the orphan check's timer fired at the timeout";
  ASSERT_TRUE(loops.run_pass().ok());  // the pass it made due (the loop's thread is not running here)
  for (auto& t : store.tasks_of_service(old_svc.id)) {
    EXPECT_EQ(t.status.state, TaskState::kOrphaned);
    EXPECT_EQ(t.status.message, "task orphaned: its node has been down for 24 hours");
  }
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(loops.reconcile_all().ok());
  EXPECT_TRUE(store.tasks_of_service(old_svc.id).empty());
  waiting = store.tasks_of_service(next.id);
  ASSERT_EQ(waiting.size(), 1u);
  EXPECT_TRUE(held.count(address(waiting[0]))) << address(waiting[0]);
  EXPECT_EQ(waiting[0].status.state, TaskState::kAssigned);
}

// A node that comes back reports the task stopped: deleted then, its
// address free. A node that is removed orphans its tasks at once.
TEST_F(ControlLoopsTest, AnOrphansAddressIsFreedWhenItsNodeReportsOrIsRemoved) {
  make_tiny_network();
  auto old_svc = create_on_tiny("old", 2);
  settle();
  auto on = nodes_of(old_svc.id);
  ASSERT_EQ(on.size(), 2u);
  std::string back = *on.begin(), removed = *on.rbegin();
  Batch r;
  r.remove(Kind::kService, old_svc.id);
  ASSERT_TRUE(store.commit(r).ok());
  ASSERT_TRUE(loops.reconcile_all().ok());
  node_down(back);
  node_down(removed);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(loops.reconcile_all().ok());
  ASSERT_EQ(store.tasks_of_service(old_svc.id).size(), 2u);

  // `node rm`: its task is orphaned, then deleted.
  Batch rm;
  rm.remove(Kind::kNode, removed);
  ASSERT_TRUE(store.commit(rm).ok());
  ASSERT_TRUE(loops.reconcile_all().ok());
  bool orphaned = false;
  for (auto& t : store.tasks_of_service(old_svc.id)) {
    if (t.node_id != removed) continue;
    EXPECT_EQ(t.status.state, TaskState::kOrphaned);
    EXPECT_EQ(t.status.message, "task orphaned: its node was removed");
    orphaned = true;
  }
  EXPECT_TRUE(orphaned);
  ASSERT_TRUE(loops.reconcile_all().ok());
  auto left = store.tasks_of_service(old_svc.id);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].node_id, back);

  // The other node comes back and its agent stops the task: deleted.
  Batch up;
  up.update_node(back, [](Node& n) {
    n.state = NodeState::kReady;
    return true;
  });
  ASSERT_TRUE(store.commit(up).ok());
  agents_run();
  ASSERT_TRUE(loops.reconcile_all().ok());
  EXPECT_TRUE(store.tasks_of_service(old_svc.id).empty());
  // Both addresses are free again.
  auto next = create_on_tiny("next", 2);
  settle();
  std::set<std::string> got;
  for (auto& t : store.tasks_of_service(next.id)) got.insert(address(t));
  EXPECT_EQ(got, (std::set<std::string>{"10.0.9.2/24", "10.0.9.3/24"}));
}

// A live service's task on a removed node is orphaned too (not held for
// ever): replaced in its slot, then reaped with the slot's history.
TEST_F(ControlLoopsTest, ALiveServicesTaskOnARemovedNodeIsOrphaned) {
  make_tiny_network();
  auto s = create_on_tiny("web", 1);
  settle();
  auto first = store.tasks_of_service(s.id);
  ASSERT_EQ(first.size(), 1u);
  node_down(first[0].node_id);  // no agent reports on it from now on
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(loops.reconcile_all().ok());
  EXPECT_EQ(store.task(first[0].id)->status.state, TaskState::kRunning) << "down for less than the timeout";
  EXPECT_EQ(store.task(first[0].id)->desired_state, TaskState::kShutdown);
  auto l = live(s.id);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(address(l[0]), "10.0.9.3/24") << "the replacement does not take the lost task's address";
  Batch rm;
  rm.remove(Kind::kNode, first[0].node_id);
  ASSERT_TRUE(store.commit(rm).ok());
  ASSERT_TRUE(loops.reconcile_all().ok());
  EXPECT_EQ(store.task(first[0].id)->status.state, TaskState::kOrphaned);
  // Its address is free: the one the next new task gets.
  Batch more;
  more.update_service(s.id, [](Service& x) {
    x.spec.replicas = 2;
    return true;
  });
  ASSERT_TRUE(store.commit(more).ok());
  ASSERT_TRUE(loops.reconcile_all().ok());
  std::set<std::string> got;
  for (auto& t : live(s.id)) got.insert(address(t));
  EXPECT_EQ(got, (std::set<std::string>{"10.0.9.2/24", "10.0.9.3/24"}));
}

TEST_F(ControlLoopsTest, ManyTasksOnManyNodesInBoundedPasses) {
  testutil::seed_swarm(store, 1000, 4);
  auto s = create_service("big", 10000);
  // No giant write: each pass creates at most kMaxCreatesPerPass tasks.
  size_t passes = 0;
  for (size_t before = 0; live(s.id).size() < 10000 && passes < 20; ++passes) {
    ASSERT_TRUE(loops.reconcile_all().ok());
    size_t now = live(s.id).size();
    EXPECT_LE(now - before, ControlLoops::kMaxCreatesPerPass);
    EXPECT_GT(now, before);
    before = now;
  }
  EXPECT_EQ(passes, (10000 + ControlLoops::kMaxCreatesPerPass - 1) / ControlLoops::kMaxCreatesPerPass);
  auto ts = live(s.id);
  ASSERT_EQ(ts.size(), 10000u);
  std::map<std::string, int> per_node;
  for (auto& t : ts) per_node[t.node_id]++;
  EXPECT_EQ(per_node.size(), 1000u);
  for (auto& [_, n] : per_node) EXPECT_EQ(n, 10);
}

}  // namespace
}  // namespace shoal::orchestrator
