#include "manager/allocator/allocator.h"

#include <gtest/gtest.h>

#include <set>

namespace shoal::allocator {
namespace {

class AllocatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    add_network("ingress00000000000000000", "ingress", "10.0.0.0/24", true);
    add_network("net1aaaaaaaaaaaaaaaaaaaaa", "test", "10.0.1.0/24");
  }
  void add_network(const std::string& id, const std::string& name, const std::string& subnet, bool ingress = false,
                   const std::string& range = "") {
    Network n;
    n.id = id;
    n.spec.name = name;
    n.spec.ingress = ingress;
    auto c = *ipv4::parse_cidr(subnet);
    n.ipam = {{subnet, range, ipv4::format(c.base + 1)}};
    snap.networks[id] = n;
  }
  Task task(const std::string& id, const std::vector<std::string>& nets, const std::string& service = "svc") {
    Task t;
    t.id = id;
    t.service_id = service;
    for (const auto& n : nets) t.spec.networks.push_back({n, {}});
    return t;
  }
  // Allocates `t` on a freshly loaded book; returns whether it is ready.
  bool allocate(Task& t, const std::unordered_set<std::string>& ingress = {}) {
    alloc.load(snap);
    std::vector<Task*> work = {&t};
    return alloc.allocate(work, ingress, SysTime{}).size() == 1;
  }
  void store_task(const Task& t) { snap.tasks[t.id] = t; }

  StoreSnapshot snap;
  Allocator alloc;
};

TEST_F(AllocatorTest, GivesEachTaskAnAddressPerNetworkSkippingTheGateway) {
  Task a = task("a", {"net1aaaaaaaaaaaaaaaaaaaaa"});
  ASSERT_TRUE(allocate(a));
  EXPECT_EQ(a.status.state, TaskState::kPending);
  EXPECT_EQ(a.status.message, "pending task scheduling");
  ASSERT_EQ(a.networks.size(), 1u);
  EXPECT_EQ(a.networks[0].network_name, "test");
  EXPECT_EQ(a.networks[0].addresses, std::vector<std::string>{"10.0.1.2/24"});
  store_task(a);
  Task b = task("b", {"net1aaaaaaaaaaaaaaaaaaaaa"});
  ASSERT_TRUE(allocate(b));
  EXPECT_EQ(b.networks[0].addresses[0], "10.0.1.3/24");
}

TEST_F(AllocatorTest, IngressPublishersAlsoGetAnIngressAddress) {
  Task t = task("t", {"net1aaaaaaaaaaaaaaaaaaaaa"});
  ASSERT_TRUE(allocate(t, {"svc"}));
  ASSERT_EQ(t.networks.size(), 2u);
  EXPECT_EQ(t.networks[0].network_name, "ingress");
  EXPECT_EQ(t.networks[1].network_name, "test");
}

// Each node gets its own address on ingress (the mesh's source toward tasks
// on other nodes), kept once given, counted as used by later passes.
TEST_F(AllocatorTest, NodesGetAnIngressAddressOnceAndKeepIt) {
  Node n1;
  n1.id = "n1";
  alloc.load(snap);
  ASSERT_TRUE(alloc.plan_node_ingress(n1));
  EXPECT_EQ(n1.ingress_addr, "10.0.0.2/24");
  EXPECT_FALSE(alloc.plan_node_ingress(n1));  // kept
  snap.nodes["n1"] = n1;
  Node n2;
  n2.id = "n2";
  alloc.load(snap);
  ASSERT_TRUE(alloc.plan_node_ingress(n2));
  EXPECT_NE(n2.ingress_addr, n1.ingress_addr);
  snap.nodes["n2"] = n2;
  Task t = task("t", {});
  ASSERT_TRUE(allocate(t, {"svc"}));  // a task's ingress address is not a node's
  EXPECT_NE(t.networks[0].addresses[0], n1.ingress_addr);
  EXPECT_NE(t.networks[0].addresses[0], n2.ingress_addr);
  snap.networks.erase("ingress00000000000000000");
  alloc.load(snap);
  Node n3;
  EXPECT_FALSE(alloc.plan_node_ingress(n3));  // no ingress network: nothing to give
}

TEST_F(AllocatorTest, AFullNetworkLeavesTasksPendingWithTheReason) {
  add_network("tinyaaaaaaaaaaaaaaaaaaaaa", "tiny", "10.0.2.0/24", false, "10.0.2.0/30");  // .1 gateway, .2, .3
  Task a = task("a", {"tinyaaaaaaaaaaaaaaaaaaaaa"});
  ASSERT_TRUE(allocate(a));
  store_task(a);
  Task b = task("b", {"tinyaaaaaaaaaaaaaaaaaaaaa"});
  ASSERT_TRUE(allocate(b));
  store_task(b);
  Task c = task("c", {"net1aaaaaaaaaaaaaaaaaaaaa", "tinyaaaaaaaaaaaaaaaaaaaaa"});
  EXPECT_FALSE(allocate(c));
  EXPECT_EQ(c.status.state, TaskState::kPending);
  EXPECT_EQ(c.status.message, "pending task allocation");
  EXPECT_NE(c.status.err.find("no IP address left on network tiny"), std::string::npos) << c.status.err;
  EXPECT_TRUE(c.networks.empty());  // the address it got on test was given back
  // Once a task on tiny ends, c gets its address on the next pass.
  snap.tasks["a"].status.state = TaskState::kShutdown;
  EXPECT_TRUE(allocate(c));
  EXPECT_EQ(c.status.message, "pending task scheduling");
  EXPECT_TRUE(c.status.err.empty());
}

TEST_F(AllocatorTest, AMissingNetworkIsAReasonNotACrash) {
  Task t = task("t", {"gonexxxxxxxxxxxxxxxxxxxxx"});
  EXPECT_FALSE(allocate(t));
  EXPECT_NE(t.status.err.find("not found"), std::string::npos);
}

// A pending task that got an address on a network in an earlier pass, the
// network removed since: a reason, never an exception that would fail
// every pass of the leader.
TEST_F(AllocatorTest, AnAddressOnARemovedNetworkIsAReason) {
  Task t = task("t", {"net1aaaaaaaaaaaaaaaaaaaaa"});
  ASSERT_TRUE(allocate(t));
  snap.networks.erase("net1aaaaaaaaaaaaaaaaaaaaa");
  t.status.state = TaskState::kPending;
  EXPECT_FALSE(allocate(t));
  EXPECT_NE(t.status.err.find("not found"), std::string::npos) << t.status.err;
}

// A task never placed and no longer wanted holds no address.
TEST_F(AllocatorTest, AnUnplacedShutDownTaskFreesItsAddress) {
  add_network("tinyaaaaaaaaaaaaaaaaaaaaa", "tiny", "10.0.2.0/24", false, "10.0.2.0/30");
  Task a = task("a", {"tinyaaaaaaaaaaaaaaaaaaaaa"});
  ASSERT_TRUE(allocate(a));
  Task b = task("b", {"tinyaaaaaaaaaaaaaaaaaaaaa"});
  store_task(a);
  ASSERT_TRUE(allocate(b));
  store_task(b);
  Task c = task("c", {"tinyaaaaaaaaaaaaaaaaaaaaa"});
  EXPECT_FALSE(allocate(c));
  snap.tasks["a"].desired_state = TaskState::kShutdown;  // node_id empty: it never ran
  EXPECT_TRUE(allocate(c));
}

// Thousands of replacements on a /24: live endpoints never share an address,
// the pool never runs dry, and a freed address is not handed out at once.
TEST_F(AllocatorTest, NoLeakNoDuplicateAfterThousandsOfReplacements) {
  const std::string net = "net1aaaaaaaaaaaaaaaaaaaaa";
  Service s;
  s.id = "svc";
  s.spec.task_template.networks = {{net, {}}};
  alloc.load(snap);
  ASSERT_TRUE(alloc.plan_vips(s));
  snap.services[s.id] = s;
  std::vector<std::string> live;  // 10 live tasks, replaced one at a time
  std::string last_freed;
  for (int i = 0; i < 5000; ++i) {
    Task t = task("t" + std::to_string(i), {net});
    ASSERT_TRUE(allocate(t)) << i << " " << t.status.err;
    const std::string& addr = t.networks[0].addresses[0];
    EXPECT_NE(addr, last_freed) << "reused at once at " << i;
    store_task(t);
    live.push_back(t.id);
    if (live.size() > 10) {
      Task& old = snap.tasks[live.front()];
      old.status.state = TaskState::kFailed;
      last_freed = old.networks[0].addresses[0];
      snap.tasks.erase(live.front());  // the reaper removes history
      live.erase(live.begin());
    }
    std::set<std::string> seen = {s.virtual_ips[0].addr};
    for (const auto& id : live) {
      EXPECT_TRUE(seen.insert(snap.tasks[id].networks[0].addresses[0]).second) << "duplicate at " << i;
    }
  }
}

// A new leader's allocator (no cursor yet) starts past the highest address
// in use on each network, not at the start of its subnet: an address freed
// just before the leader change is not the first one handed out after it.
TEST_F(AllocatorTest, ANewLeadersCursorStartsPastTheHighestAddressInUse) {
  const std::string net = "net1aaaaaaaaaaaaaaaaaaaaa";
  for (int i = 0; i < 5; ++i) {  // 10.0.1.2 .. 10.0.1.6
    Task t = task("t" + std::to_string(i), {net});
    ASSERT_TRUE(allocate(t));
    store_task(t);
  }
  EXPECT_EQ(snap.tasks["t4"].networks[0].addresses[0], "10.0.1.6/24");
  snap.tasks["t0"].status.state = TaskState::kFailed;  // 10.0.1.2 and .4 freed just before the change
  snap.tasks["t2"].status.state = TaskState::kShutdown;
  auto first_address = [&](const std::string& network) {
    Allocator next_leader;
    next_leader.load(snap);
    Task t = task("new", {network});
    std::vector<Task*> work = {&t};
    EXPECT_EQ(next_leader.allocate(work, {}, SysTime{}).size(), 1u) << t.status.err;
    return t.networks.empty() ? "" : t.networks[0].addresses[0];
  };
  EXPECT_EQ(first_address(net), "10.0.1.7/24");
  EXPECT_EQ(first_address(net), "10.0.1.7/24") << "every new leader starts at the same place";
  EXPECT_EQ(first_address("ingress00000000000000000"), "10.0.0.2/24") << "nothing in use: the first address";
  // A service's VIP counts as in use too.
  Service s;
  s.id = "svc";
  s.virtual_ips = {{net, "10.0.1.9/24"}};
  snap.services[s.id] = s;
  EXPECT_EQ(first_address(net), "10.0.1.10/24");
  // The cursor of the leader that keeps leading is not moved by a load.
  Task a = task("a", {net});
  ASSERT_TRUE(allocate(a));  // the fixture's allocator: its cursor is past .6
  EXPECT_EQ(a.networks[0].addresses[0], "10.0.1.7/24");
}

// Past the last address of the range the new cursor wraps to its start.
TEST_F(AllocatorTest, ANewLeadersCursorWrapsAfterTheLastAddress) {
  add_network("tinyaaaaaaaaaaaaaaaaaaaaa", "tiny", "10.0.2.0/24", false, "10.0.2.0/29");  // .2 .. .7
  Task last = task("last", {"tinyaaaaaaaaaaaaaaaaaaaaa"});
  last.status.state = TaskState::kRunning;
  last.node_id = "node1";
  last.networks = {{"tinyaaaaaaaaaaaaaaaaaaaaa", "tiny", {"10.0.2.7/24"}, {}}};
  store_task(last);
  Task mid = last;
  mid.id = "mid";
  mid.networks[0].addresses = {"10.0.2.3/24"};
  store_task(mid);
  Allocator next_leader;
  next_leader.load(snap);
  Task t = task("new", {"tinyaaaaaaaaaaaaaaaaaaaaa"});
  std::vector<Task*> work = {&t};
  ASSERT_EQ(next_leader.allocate(work, {}, SysTime{}).size(), 1u) << t.status.err;
  EXPECT_EQ(t.networks[0].addresses[0], "10.0.2.2/24");
  Task u = task("new2", {"tinyaaaaaaaaaaaaaaaaaaaaa"});
  work = {&u};
  ASSERT_EQ(next_leader.allocate(work, {}, SysTime{}).size(), 1u) << u.status.err;
  EXPECT_EQ(u.networks[0].addresses[0], "10.0.2.4/24");
}

// An address stays in use until its task is known to have stopped: a task
// whose service is gone, on a node that is down, still holds it; an
// orphaned one (orchestrator/replicated.h) does not.
TEST_F(AllocatorTest, AnAddressIsHeldUntilTheTaskIsKnownToHaveStopped) {
  add_network("tinyaaaaaaaaaaaaaaaaaaaaa", "tiny", "10.0.2.0/24", false, "10.0.2.0/30");  // .2, .3
  for (const char* id : {"a", "b"}) {
    Task t = task(id, {"tinyaaaaaaaaaaaaaaaaaaaaa"}, "removed-service");
    ASSERT_TRUE(allocate(t));
    t.node_id = "down-node";
    t.status.state = TaskState::kRunning;
    t.desired_state = TaskState::kRemove;
    store_task(t);
  }
  Task c = task("c", {"tinyaaaaaaaaaaaaaaaaaaaaa"});
  EXPECT_FALSE(allocate(c));
  EXPECT_NE(c.status.err.find("no IP address left"), std::string::npos) << c.status.err;
  snap.tasks["a"].status.state = TaskState::kOrphaned;
  EXPECT_TRUE(allocate(c));
  EXPECT_EQ(c.networks[0].addresses[0], snap.tasks["a"].networks[0].addresses[0]);
}

TEST_F(AllocatorTest, VipsFollowTheSpec) {
  Service s;
  s.id = "svc";
  s.spec.task_template.networks = {{"net1aaaaaaaaaaaaaaaaaaaaa", {}}};
  alloc.load(snap);
  ASSERT_TRUE(alloc.plan_vips(s));
  ASSERT_EQ(s.virtual_ips.size(), 1u);
  EXPECT_EQ(s.virtual_ips[0].network_id, "net1aaaaaaaaaaaaaaaaaaaaa");
  std::string vip = s.virtual_ips[0].addr;
  EXPECT_FALSE(alloc.plan_vips(s));  // nothing to change
  // Publishing a port adds an ingress VIP and keeps the other.
  s.spec.endpoint_spec.ports = {PortConfig{"", "tcp", 80, 8080, "ingress"}};
  ASSERT_TRUE(alloc.plan_vips(s));
  ASSERT_EQ(s.virtual_ips.size(), 2u);
  EXPECT_EQ(s.virtual_ips[0].network_id, "ingress00000000000000000");
  EXPECT_EQ(s.virtual_ips[1].addr, vip);
  // dnsrr: no VIPs.
  s.spec.endpoint_spec.mode = "dnsrr";
  ASSERT_TRUE(alloc.plan_vips(s));
  EXPECT_TRUE(s.virtual_ips.empty());
}

}  // namespace
}  // namespace shoal::allocator
