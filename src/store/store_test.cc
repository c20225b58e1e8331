#include "store/store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "store/fault_backend.h"
#include "store/memory_backend.h"

namespace shoal {
namespace {

Service make_service(const std::string& id, const std::string& name) {
  Service s;
  s.id = id;
  s.spec.name = name;
  s.spec.task_template.container_spec.image = "busybox";
  return s;
}

Task make_task(const std::string& id, const std::string& service, const std::string& node, uint64_t slot = 1) {
  Task t;
  t.id = id;
  t.service_id = service;
  t.node_id = node;
  t.slot = slot;
  return t;
}

Network make_network(const std::string& id, const std::string& name) {
  Network n;
  n.id = id;
  n.spec.name = name;
  n.vni = 4100;
  n.ipam = {{"10.0.5.0/24", "", "10.0.5.1"}};
  return n;
}

// A service attached to `network`, created with a requirement on it: what
// the API's service create commits (api/network_routes.cc).
Batch attach_batch(const std::string& id, const std::string& name, const std::string& network) {
  Service s = make_service(id, name);
  s.spec.task_template.networks = {{network, {}}};
  Batch b;
  b.create(s);
  b.require(Kind::kNetwork, network);
  return b;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(store.start().ok()); }
  MemoryBackend backend{12};
  Store store{backend};
};

TEST_F(StoreTest, CreateIsVisibleAfterCommitWithVersion) {
  Batch b;
  b.create(make_service("s1", "web"));
  ASSERT_TRUE(store.commit(b).ok());
  auto s = store.service("s1");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->spec.name, "web");
  EXPECT_GT(s->version, 0u);
}

TEST_F(StoreTest, DuplicateServiceNameIsRejectedAtomically) {
  Batch b;
  b.create(make_service("s1", "web"));
  ASSERT_TRUE(store.commit(b).ok());
  Batch dup;
  dup.create(make_service("s2", "web"));
  Status st = store.commit(dup);
  EXPECT_EQ(st.code(), Code::kAlreadyExists);
  EXPECT_FALSE(store.service("s2").has_value());
  // Removing the service frees its name.
  Batch rm;
  rm.remove(Kind::kService, "s1");
  ASSERT_TRUE(store.commit(rm).ok());
  Batch again;
  again.create(make_service("s3", "web"));
  EXPECT_TRUE(store.commit(again).ok());
}

TEST_F(StoreTest, PutIfVersionDetectsStaleWrites) {
  Batch b;
  b.create(make_service("s1", "web"));
  ASSERT_TRUE(store.commit(b).ok());
  Service a = *store.service("s1");
  Service stale = a;
  a.spec.replicas = 5;
  Batch w1;
  w1.put_if_version(a);
  ASSERT_TRUE(store.commit(w1).ok());
  stale.spec.replicas = 7;
  Batch w2;
  w2.put_if_version(stale);
  Status st = store.commit(w2);
  EXPECT_EQ(st.code(), Code::kConflict);
  EXPECT_NE(st.message().find("out of sequence"), std::string::npos);
  EXPECT_EQ(store.service("s1")->spec.replicas, 5u);
}

// A write that requires an object and a remove of it at the version its
// caller checked: whichever commits second fails (network rm against a
// service create that attaches the network).
TEST_F(StoreTest, ARequirementAndARemoveAtASeenVersionExcludeEachOther) {
  Batch n;
  n.create(make_network("n1", "front"));
  ASSERT_TRUE(store.commit(n).ok());
  uint64_t seen = store.find_network("n1")->version;  // `network rm` finds it unused at this version
  Batch svc = attach_batch("s1", "web", "n1");
  ASSERT_TRUE(store.commit(svc).ok());
  ASSERT_TRUE(store.service("s1").has_value());
  EXPECT_GT(store.find_network("n1")->version, seen) << "the requirement rewrote the network";
  EXPECT_EQ(store.find_network("n1")->spec.name, "front") << "unchanged";
  Batch rm;
  rm.remove(Kind::kNetwork, "n1", seen);
  EXPECT_EQ(store.commit(rm).code(), Code::kConflict) << "the rm decided on a version before the service";
  ASSERT_TRUE(store.find_network("n1").ok());

  // The other order: the rm first; the service create then finds it gone.
  Batch rm2;
  rm2.remove(Kind::kNetwork, "n1", store.find_network("n1")->version);
  ASSERT_TRUE(store.commit(rm2).ok());
  EXPECT_FALSE(store.find_network("n1").ok());
  Batch svc2 = attach_batch("s2", "api", "n1");
  EXPECT_EQ(store.commit(svc2).code(), Code::kNotFound);
  EXPECT_FALSE(store.service("s2").has_value());
  EXPECT_TRUE(backend.range(object_key(Kind::kService, "s2"), false)->kvs.empty());
  EXPECT_FALSE(store.find_service("api").ok());
  // A remove at a version of an object that is gone is not found, not a success.
  Batch rm3;
  rm3.remove(Kind::kNetwork, "n1", 1);
  EXPECT_EQ(store.commit(rm3).code(), Code::kNotFound);
}

// A batch with a requirement is one transaction however it would be split
// otherwise (creates after the rest, chunks of max_txn_ops / 3 = 4 ops).
TEST_F(StoreTest, ABatchWithARequirementIsOneTransaction) {
  Batch n;
  n.create(make_network("n1", "front"));
  ASSERT_TRUE(store.commit(n).ok());
  Batch b = attach_batch("s1", "web", "n1");
  b.create(make_task("t1", "s1", "node1", 1));
  b.update_network("n0", [](Network&) { return true; });  // absent: nothing to do
  int64_t before = backend.range("/", true)->revision;
  ASSERT_TRUE(store.commit(b).ok());
  EXPECT_EQ(backend.range("/", true)->revision, before + 1) << "one transaction";
  EXPECT_TRUE(store.service("s1").has_value());
  EXPECT_TRUE(store.task("t1").has_value());
  // All or nothing: a taken name fails the requirement's rewrite too.
  uint64_t v = store.find_network("n1")->version;
  Batch dup = attach_batch("s2", "web", "n1");
  EXPECT_EQ(store.commit(dup).code(), Code::kAlreadyExists);
  EXPECT_EQ(store.find_network("n1")->version, v);
  // One that cannot fit one transaction is refused, not split.
  Batch big = attach_batch("s3", "api", "n1");
  for (int i = 2; i <= 5; ++i) big.create(make_task("t" + std::to_string(i), "s3", "node1", i));
  EXPECT_EQ(store.commit(big).code(), Code::kInvalidArgument);
  EXPECT_FALSE(store.service("s3").has_value());
  EXPECT_EQ(store.find_network("n1")->version, v);
}

TEST_F(StoreTest, RenameMovesNameReservation) {
  Batch b;
  b.create(make_service("s1", "web"));
  b.create(make_service("s2", "db"));
  ASSERT_TRUE(store.commit(b).ok());
  Service s = *store.service("s1");
  s.spec.name = "db";
  Batch w;
  w.put_if_version(s);
  EXPECT_EQ(store.commit(w).code(), Code::kAlreadyExists);
  s.spec.name = "front";
  Batch w2;
  w2.put_if_version(s);
  ASSERT_TRUE(store.commit(w2).ok());
  Batch reuse;
  reuse.create(make_service("s3", "web"));
  EXPECT_TRUE(store.commit(reuse).ok());
}

// A port published through the mesh is held by one service at a time:
// taken on create, moved on update, freed on remove.
TEST_F(StoreTest, MeshPortsAreUniqueAcrossServices) {
  auto with_port = [](const std::string& id, const std::string& name, uint32_t port, const char* mode = "ingress") {
    Service s = make_service(id, name);
    s.endpoint_ports = {{"", "tcp", 80, port, mode}};
    return s;
  };
  Batch a;
  a.create(with_port("s1", "web", 8080));
  ASSERT_TRUE(store.commit(a).ok());
  Batch clash;
  clash.create(with_port("s2", "api", 8080));
  Status st = store.commit(clash);
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.message();
  EXPECT_NE(st.message().find("port '8080' (tcp) is already in use by service s1"), std::string::npos) << st.message();
  EXPECT_FALSE(store.service("s2").has_value());  // nothing half-made
  Batch udp;  // another protocol is another port
  udp.create([&] { Service s = with_port("s3", "dns", 8080); s.endpoint_ports[0].protocol = "udp"; return s; }());
  EXPECT_TRUE(store.commit(udp).ok());
  Batch host;  // host-mode ports are per node: not reserved
  host.create(with_port("s4", "edge", 8080, "host"));
  EXPECT_TRUE(store.commit(host).ok());

  Service s1 = *store.service("s1");
  s1.endpoint_ports[0].published_port = 8081;
  Batch move;
  move.put_if_version(s1);
  ASSERT_TRUE(store.commit(move).ok());
  Batch now_free;
  now_free.create(with_port("s2", "api", 8080));
  EXPECT_TRUE(store.commit(now_free).ok());
  Batch rm;
  rm.remove(Kind::kService, "s1");
  ASSERT_TRUE(store.commit(rm).ok());
  Batch reuse;
  reuse.create(with_port("s5", "web2", 8081));
  EXPECT_TRUE(store.commit(reuse).ok());
}

TEST_F(StoreTest, MutatorsRetryOnConflictWithoutLosingUpdates) {
  Batch b;
  b.create(make_task("t1", "s1", "n1"));
  ASSERT_TRUE(store.commit(b).ok());
  // Two writers race on the same task; both changes must land.
  std::atomic<int> failures{0};
  auto writer = [&](bool desired) {
    for (int i = 0; i < 20; ++i) {
      Batch w;
      w.update_task("t1", [&](Task& t) {
        if (desired) t.labels["d" + std::to_string(i)] = "x";
        else t.labels["s" + std::to_string(i)] = "y";
        return true;
      });
      Status cst = store.commit(w);
      if (!cst.ok()) { failures++; ADD_FAILURE() << cst.message(); }
    }
  };
  std::thread a(writer, true), c(writer, false);
  a.join();
  c.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store.task("t1")->labels.size(), 40u);
}

TEST_F(StoreTest, LargeBatchesAreSplitWithinTxnLimit) {
  Batch b;
  for (int i = 0; i < 100; ++i) b.create(make_task("t" + std::to_string(i), "s1", "n" + std::to_string(i % 7), i + 1));
  ASSERT_TRUE(store.commit(b).ok());  // backend allows only 12 ops per txn
  EXPECT_EQ(store.tasks_of_service("s1").size(), 100u);
  EXPECT_EQ(store.tasks_of_node("n0").size(), 15u);
}

TEST_F(StoreTest, IndexesFollowNodeChangesAndDeletes) {
  Batch b;
  b.create(make_task("t1", "s1", ""));
  ASSERT_TRUE(store.commit(b).ok());
  EXPECT_TRUE(store.tasks_of_node("n1").empty());
  Batch a;
  a.update_task("t1", [](Task& t) { t.node_id = "n1"; return true; });
  ASSERT_TRUE(store.commit(a).ok());
  EXPECT_EQ(store.tasks_of_node("n1").size(), 1u);
  Batch d;
  d.remove(Kind::kTask, "t1");
  ASSERT_TRUE(store.commit(d).ok());
  EXPECT_TRUE(store.tasks_of_node("n1").empty());
  EXPECT_TRUE(store.tasks_of_service("s1").empty());
}

TEST_F(StoreTest, RunningCountsFollowTaskStates) {
  auto running = [&](const std::string& sid) {
    size_t n = 0;
    store.view([&](const StoreSnapshot& s) {
      auto it = s.running_by_service.find(sid);
      n = it == s.running_by_service.end() ? 0 : it->second;
    });
    return n;
  };
  Batch b;
  for (int i = 0; i < 3; ++i) {
    Task t = make_task("t" + std::to_string(i), "s1", "n1", i + 1);
    t.status.state = i < 2 ? TaskState::kRunning : TaskState::kStarting;
    b.create(t);
  }
  ASSERT_TRUE(store.commit(b).ok());
  EXPECT_EQ(running("s1"), 2u);
  Batch c;
  c.update_task("t2", [](Task& t) {
    t.status.state = TaskState::kRunning;
    return true;
  });
  c.update_task("t0", [](Task& t) {
    t.status.state = TaskState::kFailed;
    return true;
  });
  c.update_task("t1", [](Task& t) {
    t.status.message = "still running";
    return true;
  });
  ASSERT_TRUE(store.commit(c).ok());
  EXPECT_EQ(running("s1"), 2u);
  Batch d;
  d.remove(Kind::kTask, "t1");
  d.remove(Kind::kTask, "t2");
  ASSERT_TRUE(store.commit(d).ok());
  EXPECT_EQ(running("s1"), 0u);
}

TEST_F(StoreTest, FindServiceByIdNameAndPrefix) {
  Batch b;
  b.create(make_service("abc123", "web"));
  b.create(make_service("abd456", "db"));
  ASSERT_TRUE(store.commit(b).ok());
  EXPECT_EQ(store.find_service("web")->id, "abc123");
  EXPECT_EQ(store.find_service("abd")->spec.name, "db");
  EXPECT_EQ(store.find_service("ab").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store.find_service("zzz").status().code(), Code::kNotFound);
}

TEST_F(StoreTest, FenceRefusesWritesOfDeposedLeader) {
  auto lease = backend.lease_grant(10);
  ASSERT_TRUE(lease.ok());
  auto won = backend.txn({{"/shoal/leader", Compare::Target::kCreateRevision, 0}},
                         {{TxnOp::Type::kPut, "/shoal/leader", "me", *lease}}, {});
  ASSERT_TRUE(won.ok() && won->succeeded);
  auto r = backend.range("/shoal/leader", false);
  Fence fence{"/shoal/leader", r->kvs[0].create_revision};
  Batch ok;
  ok.create(make_task("t1", "s", ""));
  EXPECT_TRUE(store.commit(ok, fence).ok());
  ASSERT_TRUE(backend.lease_revoke(*lease).ok());
  Batch late;
  late.create(make_task("t2", "s", ""));
  Status st = store.commit(late, fence);
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_FALSE(store.task("t2").has_value());
}

TEST_F(StoreTest, SubscribersSeeEveryChange) {
  std::mutex mu;
  std::vector<std::string> seen;
  store.subscribe([&](const StoreEvent& e) {
    std::lock_guard lk(mu);
    seen.push_back(std::string(kind_name(e.kind)) + ":" + e.id + ":" + std::to_string(static_cast<int>(e.type)));
  });
  Batch b;
  b.create(make_task("t1", "s", ""));
  ASSERT_TRUE(store.commit(b).ok());
  Batch d;
  d.remove(Kind::kTask, "t1");
  ASSERT_TRUE(store.commit(d).ok());
  std::lock_guard lk(mu);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], "tasks:t1:0");
  EXPECT_EQ(seen[1], "tasks:t1:2");
}

TEST(StoreRestart, ReloadsStateFromBackend) {
  MemoryBackend backend;
  {
    Store s(backend);
    ASSERT_TRUE(s.start().ok());
    Batch b;
    b.create(make_service("s1", "web"));
    ASSERT_TRUE(s.commit(b).ok());
  }
  Store again(backend);
  ASSERT_TRUE(again.start().ok());
  EXPECT_EQ(again.find_service("web")->id, "s1");
}

TEST_F(StoreTest, ASlotHoldsOneLiveTask) {
  Batch a;
  a.create(make_task("t1", "s1", "n1", 1));
  ASSERT_TRUE(store.commit(a).ok());
  Batch dup;
  dup.create(make_task("t2", "s1", "n2", 1));
  Status st = store.commit(dup);
  EXPECT_EQ(st.code(), Code::kConflict) << st.message();
  EXPECT_NE(st.message().find("already has a live task (t1)"), std::string::npos) << st.message();
  EXPECT_FALSE(store.task("t2").has_value());
  // Shutting the old task down frees the slot, in the same batch as its replacement.
  Batch replace;
  replace.update_task("t1", [](Task& t) {
    t.desired_state = TaskState::kShutdown;
    return true;
  });
  replace.create(make_task("t2", "s1", "n2", 1));
  ASSERT_TRUE(store.commit(replace).ok());
  auto held = backend.range("/shoal-slots/s1/1", false);
  ASSERT_EQ(held->kvs.size(), 1u);
  EXPECT_EQ(held->kvs[0].value, "t2");
  // Deleting a live task frees its slot too.
  Batch rm;
  rm.remove(Kind::kTask, "t2");
  ASSERT_TRUE(store.commit(rm).ok());
  EXPECT_TRUE(backend.range("/shoal-slots/s1/1", false)->kvs.empty());
}

// A slot claimed by a newer task (state from before the store enforced
// slots, or a claim written by hand) is not freed by the old task's release.
TEST_F(StoreTest, ReleasingAnOldTaskKeepsANewerTasksClaim) {
  Batch a;
  a.create(make_task("t1", "s1", "n1", 1));
  a.create(make_task("t3", "s1", "n1", 2));
  ASSERT_TRUE(store.commit(a).ok());
  // t2 took both slots over behind the store's back.
  for (const char* key : {"/shoal-slots/s1/1", "/shoal-slots/s1/2"})
    ASSERT_TRUE(backend.txn({}, {{TxnOp::Type::kPut, key, "t2", 0}}, {})->succeeded);
  Batch shut;
  shut.update_task("t1", [](Task& t) {
    t.desired_state = TaskState::kShutdown;
    return true;
  });
  ASSERT_TRUE(store.commit(shut).ok());
  EXPECT_EQ(store.task("t1")->desired_state, TaskState::kShutdown);  // the update itself went through
  auto held = backend.range("/shoal-slots/s1/1", false);
  ASSERT_EQ(held->kvs.size(), 1u) << "t1's release deleted t2's claim";
  EXPECT_EQ(held->kvs[0].value, "t2");
  // The remove path too.
  Batch rm;
  rm.remove(Kind::kTask, "t3");
  ASSERT_TRUE(store.commit(rm).ok());
  EXPECT_FALSE(store.task("t3").has_value());
  held = backend.range("/shoal-slots/s1/2", false);
  ASSERT_EQ(held->kvs.size(), 1u) << "removing t3 deleted t2's claim";
  EXPECT_EQ(held->kvs[0].value, "t2");
}

// A claim whose task is gone or shut down (its release was lost) does not
// block the slot forever: the next create there releases it and goes through.
TEST_F(StoreTest, ALeakedSlotClaimIsRepairedByTheNextCreate) {
  Batch seed;
  seed.create(make_task("live", "s1", "n1", 3));
  Task shut = make_task("shut", "s1", "n1", 2);
  shut.desired_state = TaskState::kShutdown;
  seed.create(shut);
  ASSERT_TRUE(store.commit(seed).ok());
  // Slot 1 held by a task that does not exist, slot 2 by one shut down.
  ASSERT_TRUE(backend.txn({}, {{TxnOp::Type::kPut, "/shoal-slots/s1/1", "ghost", 0}}, {})->succeeded);
  ASSERT_TRUE(backend.txn({}, {{TxnOp::Type::kPut, "/shoal-slots/s1/2", "shut", 0}}, {})->succeeded);
  Batch b;
  b.create(make_task("t1", "s1", "n1", 1));
  b.create(make_task("t2", "s1", "n1", 2));
  Status st = store.commit(b);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(backend.range("/shoal-slots/s1/1", false)->kvs.at(0).value, "t1");
  EXPECT_EQ(backend.range("/shoal-slots/s1/2", false)->kvs.at(0).value, "t2");
  // A live holder still keeps its slot.
  Batch dup;
  dup.create(make_task("t3", "s1", "n1", 3));
  EXPECT_EQ(store.commit(dup).code(), Code::kConflict);
  EXPECT_EQ(backend.range("/shoal-slots/s1/3", false)->kvs.at(0).value, "live");
}

// The backend's latest write is outside the watched prefix (a dispatcher's
// session key, as agents move during a failover): sync() must not wait for
// an event the watch never delivers.
TEST_F(StoreTest, SyncDoesNotWaitForAWriteOutsideTheWatchedPrefix) {
  Batch b;
  b.create(make_task("t1", "s1", "n1"));
  ASSERT_TRUE(store.commit(b).ok());
  ASSERT_TRUE(backend.txn({}, {{TxnOp::Type::kPut, "/shoal-sessions/n1", "x", 0}}, {}).ok());
  EXPECT_TRUE(store.sync(std::chrono::milliseconds(500)).ok());
}

// stop() wakes a writer waiting for the cache instead of leaving it to time out.
TEST(StoreStop, WakesThreadsWaitingForARevision) {
  MemoryBackend backend{12};
  Store store{backend};
  ASSERT_TRUE(store.start().ok());
  std::atomic<bool> returned{false};
  bool result = true;
  auto t0 = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration took{};
  std::thread waiter([&] {
    result = store.wait_for_revision(store.revision() + 1000, std::chrono::seconds(20));
    took = std::chrono::steady_clock::now() - t0;
    returned = true;
  });
  while (!returned) {  // stop() may come before or after the waiter blocks: both must wake it
    store.stop();
    std::this_thread::yield();
  }
  waiter.join();
  EXPECT_FALSE(result);
  EXPECT_LT(took, std::chrono::seconds(10)) << "the waiter ran into its timeout: stop() did not wake it";
  // After stop, waits return at once.
  t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(store.wait_for_revision(store.revision() + 1, std::chrono::seconds(20)));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

class StoreFaultTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(store.start().ok()); }
  size_t stored_tasks() { return backend.range("/shoal/tasks/", true)->kvs.size(); }
  MemoryBackend backend{12};
  FaultBackend faults{backend};
  Store store{faults};
};

TEST_F(StoreFaultTest, AWriteAppliedDespiteATimeoutIsNotSentAgain) {
  Batch b;
  b.create(make_task("t1", "s1", "n1"));
  ASSERT_TRUE(store.commit(b).ok());
  size_t before = faults.writes();
  // An update that is not idempotent: it must run exactly once.
  faults.fail_write(1, FaultBackend::Fault::kTimeoutApplied);
  Batch u;
  u.update_task("t1", [](Task& t) {
    t.labels["n"] += "x";
    return true;
  });
  ASSERT_TRUE(store.commit(u).ok()) << "the re-read shows the write applied";
  EXPECT_EQ(faults.writes(), before + 1) << "not resent";
  EXPECT_EQ(store.task("t1")->labels["n"], "x");
  faults.fail_write(1, FaultBackend::Fault::kTimeoutApplied);
  Batch c;
  c.create(make_task("t2", "s1", "n1", 2));
  ASSERT_TRUE(store.commit(c).ok());
  EXPECT_TRUE(store.task("t2").has_value());
  EXPECT_EQ(stored_tasks(), 2u);
}

TEST_F(StoreFaultTest, AWriteLostInATimeoutIsReReadThenRetried) {
  faults.fail_write(1, FaultBackend::Fault::kTimeoutNotApplied);
  Batch b;
  b.create(make_task("t1", "s1", "n1"));
  ASSERT_TRUE(store.commit(b).ok());
  EXPECT_EQ(faults.writes(), 2u);
  EXPECT_TRUE(store.task("t1").has_value());
}

// A txn cut off by its deadline but committed by etcd afterwards: the re-read
// right after shows nothing, the resend's compare then fails against our own
// write. That is success, never a conflict with ourselves.
TEST_F(StoreFaultTest, AWriteAppliedAfterItsTimeoutIsOursNotAConflict) {
  faults.fail_write(1, FaultBackend::Fault::kTimeoutAppliedLate);
  Batch b;
  b.create(make_service("s1", "web"));
  Status st = store.commit(b);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(faults.writes(), 2u);
  ASSERT_TRUE(store.sync().ok());
  EXPECT_EQ(store.find_service("web")->id, "s1");
  // A task's slot claim.
  faults.fail_write(1, FaultBackend::Fault::kTimeoutAppliedLate);
  Batch t;
  t.create(make_task("t1", "s1", "n1", 1));
  st = store.commit(t);
  ASSERT_TRUE(st.ok()) << st.message();
  // An update by version, applied once.
  Service v = *store.service("s1");
  v.spec.replicas = 4;
  faults.fail_write(1, FaultBackend::Fault::kTimeoutAppliedLate);
  Batch u;
  u.put_if_version(v);
  st = store.commit(u);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_TRUE(store.sync().ok());
  EXPECT_EQ(store.service("s1")->spec.replicas, 4u);
  EXPECT_TRUE(store.task("t1").has_value());
  // Someone else's name is still a conflict.
  Batch dup;
  dup.create(make_service("s2", "web"));
  EXPECT_EQ(store.commit(dup).code(), Code::kAlreadyExists);
}

// The cache is stale on both sides (its watch holds): the commits still
// exclude each other, on what the backend holds.
TEST_F(StoreFaultTest, ARequirementAndARemoveExcludeEachOtherOnAStaleCache) {
  Batch n;
  n.create(make_network("n1", "front"));
  ASSERT_TRUE(store.commit(n).ok());
  uint64_t seen = store.find_network("n1")->version;
  Store other(backend);
  ASSERT_TRUE(other.start().ok());
  faults.hold_watches();
  // Another manager attaches a service; ours still sees the network unused.
  Batch svc = attach_batch("s1", "web", "n1");
  ASSERT_TRUE(other.commit(svc).ok());
  EXPECT_FALSE(store.service("s1").has_value()) << "our cache lags";
  Batch rm;
  rm.remove(Kind::kNetwork, "n1", seen);
  EXPECT_EQ(store.commit(rm).code(), Code::kConflict);
  EXPECT_FALSE(backend.range(object_key(Kind::kNetwork, "n1"), false)->kvs.empty()) << "not removed";
  // Another manager removes the network; ours still has it in its cache.
  Batch rm2;
  rm2.remove(Kind::kNetwork, "n1", other.find_network("n1")->version);
  ASSERT_TRUE(other.commit(rm2).ok());
  EXPECT_TRUE(store.find_network("n1").ok()) << "our cache lags";
  Batch svc2 = attach_batch("s2", "api", "n1");
  EXPECT_EQ(store.commit(svc2).code(), Code::kNotFound);
  EXPECT_TRUE(backend.range(object_key(Kind::kService, "s2"), false)->kvs.empty()) << "not created";
  other.stop();
}

// A tied write of unknown outcome, the required object rewritten meanwhile
// by another manager's tied write (from its cache at the same version: the
// same bytes, a new revision): that rewrite is not taken for ours, so the
// write is re-read and sent again, never reported done.
TEST_F(StoreFaultTest, AnotherWritersRewriteOfARequiredObjectIsNoWitness) {
  Batch n;
  n.create(make_network("n1", "front"));
  ASSERT_TRUE(store.commit(n).ok());
  Store other(backend);
  ASSERT_TRUE(other.start().ok());
  faults.set_fault_hook([&] {
    Batch theirs = attach_batch("s9", "theirs", "n1");
    ASSERT_TRUE(other.commit(theirs).ok());
  });
  faults.fail_write(1, FaultBackend::Fault::kTimeoutNotApplied);
  size_t before = faults.writes();
  Batch svc = attach_batch("s1", "web", "n1");
  Status st = store.commit(svc);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(faults.writes(), before + 2) << "sent again";
  EXPECT_FALSE(backend.range(object_key(Kind::kService, "s1"), false)->kvs.empty()) << "the service was created";
  EXPECT_TRUE(store.service("s1").has_value());
  // Applied despite the timeout: seen as ours, not sent again.
  faults.set_fault_hook({});
  faults.fail_write(1, FaultBackend::Fault::kTimeoutApplied);
  Batch svc2 = attach_batch("s2", "api", "n1");
  ASSERT_TRUE(store.commit(svc2).ok());
  EXPECT_EQ(faults.writes(), before + 3) << "not sent again";
  EXPECT_TRUE(store.service("s2").has_value());
  other.stop();
}

// Each resend after a timeout asks the backend for a longer deadline.
TEST_F(StoreFaultTest, EachResendAfterATimeoutGetsALongerDeadline) {
  faults.fail_write(1, FaultBackend::Fault::kTimeoutNotApplied);
  faults.fail_write(2, FaultBackend::Fault::kTimeoutNotApplied);
  faults.fail_write(3, FaultBackend::Fault::kTimeoutNotApplied);
  Batch b;
  b.create(make_task("t1", "s1", "n1"));
  ASSERT_TRUE(store.commit(b).ok());
  EXPECT_EQ(faults.resend_retries(), (std::vector<int>{1, 2, 3}));
  // A write without a timeout is sent with the first deadline.
  Batch c;
  c.create(make_task("t2", "s1", "n1", 2));
  ASSERT_TRUE(store.commit(c).ok());
  EXPECT_EQ(faults.resend_retries().size(), 3u);
}

// Each attempt here runs out its (simulated) 1.3 s deadline: after two the
// resend budget (2.5 s) is spent, and the write is a 503 of unknown outcome
// that does not read as a lost quorum (no "etcd" in it), not a third send.
TEST_F(StoreFaultTest, NoResendOnceTheResendBudgetIsSpent) {
  faults.set_fault_delay(std::chrono::milliseconds(1300));
  for (int n = 1; n <= 4; ++n) faults.fail_write(n, FaultBackend::Fault::kTimeoutNotApplied);
  Batch b;
  b.create(make_task("t1", "s1", "n1"));
  Status st = store.commit(b);
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_NE(st.message().find("may or may not have been applied"), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find("etcd"), std::string::npos) << st.message();
  EXPECT_EQ(faults.writes(), 2u) << "sent again after the budget";
}

TEST_F(StoreFaultTest, AnUnknownOutcomeThatCannotBeReReadIsReportedAndSyncCatchesUp) {
  faults.fail_write(1, FaultBackend::Fault::kTimeoutApplied);
  faults.fail_reads(10);
  Batch b;
  b.create(make_task("t1", "s1", "n1"));
  Status st = store.commit(b);
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_NE(st.message().find("may or may not have been applied"), std::string::npos) << st.message();
  EXPECT_EQ(faults.writes(), 1u) << "never resent without a re-read";
  faults.fail_reads(0);
  ASSERT_TRUE(store.sync().ok());
  EXPECT_TRUE(store.task("t1").has_value()) << "after sync() the cache shows what committed";
}

TEST_F(StoreFaultTest, APartlyCommittedBatchIsInTheCacheWhenCommitReturns) {
  Batch b;
  for (int i = 0; i < 40; ++i) b.create(make_task("t" + std::to_string(i), "s1", "n1", i + 1));
  faults.fail_write(3, FaultBackend::Fault::kFail);  // one transaction of several fails outright
  faults.fail_reads(10);                             // and cannot be re-read
  Status st = store.commit(b);
  EXPECT_FALSE(st.ok());
  faults.fail_reads(0);
  size_t stored = stored_tasks();
  EXPECT_GT(stored, 0u);
  EXPECT_LT(stored, 40u);
  EXPECT_EQ(store.tasks_of_service("s1").size(), stored);
}

TEST_F(StoreFaultTest, AWatchThatHangsSilentlyIsReplacedWhenTheCacheLags) {
  faults.hold_watches();  // the stream stops delivering, without an error
  Store other(backend);
  ASSERT_TRUE(other.start().ok());
  Batch w;
  w.create(make_task("t1", "s1", "n1", 1));
  ASSERT_TRUE(other.commit(w).ok());
  EXPECT_FALSE(store.sync(std::chrono::milliseconds(50)).ok()) << "the cache lags";
  // The lag itself starts a re-list and a new watch: no restart needed.
  bool caught_up = false;
  for (int i = 0; i < 50 && !caught_up; ++i) caught_up = store.sync(std::chrono::milliseconds(100)).ok();
  EXPECT_TRUE(caught_up);
  EXPECT_TRUE(store.task("t1").has_value());
  Batch later;
  later.create(make_task("t2", "s1", "n1", 2));
  ASSERT_TRUE(other.commit(later).ok());
  ASSERT_TRUE(store.sync().ok()) << "the new watch delivers";
  EXPECT_TRUE(store.task("t2").has_value());
  other.stop();
}

TEST_F(StoreFaultTest, AWatchGapIsReListedAndEveryChangeAnnounced) {
  Batch b;
  b.create(make_task("t1", "s1", "n1", 1));
  b.create(make_task("t2", "s1", "n1", 2));
  ASSERT_TRUE(store.commit(b).ok());
  std::mutex mu;
  std::map<std::string, StoreEvent::Type> seen;
  store.subscribe([&](const StoreEvent& e) {
    std::lock_guard lk(mu);
    seen[e.id] = e.type;
    if (e.type == StoreEvent::Type::kDelete) EXPECT_TRUE(std::holds_alternative<Task>(e.object));
  });
  faults.hold_watches();  // the stream dies silently; another manager writes meanwhile
  Store other(backend);
  ASSERT_TRUE(other.start().ok());
  Batch w;
  w.update_task("t1", [](Task& t) {
    t.node_id = "n2";
    return true;
  });
  w.remove(Kind::kTask, "t2");
  w.create(make_task("t3", "s1", "n1", 3));
  ASSERT_TRUE(other.commit(w).ok());
  EXPECT_EQ(store.task("t1")->node_id, "n1") << "the gap: our cache missed it";
  faults.compact(backend.range("/", true)->revision + 1);
  faults.drop_watches();
  ASSERT_TRUE(store.sync().ok());
  {
    std::lock_guard lk(mu);
    EXPECT_EQ(seen["t1"], StoreEvent::Type::kUpdate);
    EXPECT_EQ(seen["t2"], StoreEvent::Type::kDelete);
    EXPECT_EQ(seen["t3"], StoreEvent::Type::kCreate);
  }
  EXPECT_EQ(store.task("t1")->node_id, "n2");
  EXPECT_FALSE(store.task("t2").has_value());
  EXPECT_EQ(store.tasks_of_node("n1").size(), 1u);
  // The new watch works: later changes arrive as usual.
  Batch later;
  later.create(make_task("t4", "s1", "n1", 4));
  ASSERT_TRUE(other.commit(later).ok());
  ASSERT_TRUE(store.sync().ok());
  EXPECT_TRUE(store.task("t4").has_value());
  other.stop();
}

}  // namespace
}  // namespace shoal
