#include "manager/scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <map>

namespace shoal::scheduler {
namespace {

Node node(const std::string& id, NodeRole role = NodeRole::kWorker) {
  Node n;
  n.id = id;
  n.description.hostname = "host-" + id;
  n.description.nano_cpus = 2000000000;
  n.description.memory_bytes = 1LL << 30;
  n.state = NodeState::kReady;
  n.spec.role = role;
  return n;
}

Task pending(const std::string& id, const std::string& service) {
  Task t;
  t.id = id;
  t.service_id = service;
  t.status.state = TaskState::kPending;
  return t;
}

std::vector<Task*> ptrs(std::vector<Task>& ts) {
  std::vector<Task*> out;
  for (auto& t : ts) out.push_back(&t);
  return out;
}

TEST(Scheduler, SpreadsAServiceThenBalancesTotals) {
  NodeLoad load;
  load.total["a"] = 5;  // a carries other work already
  load.by_service["b"]["web"] = 1;
  Scheduler s({node("a"), node("b"), node("c")}, load);
  std::vector<Task> ts = {pending("1", "web"), pending("2", "web"), pending("3", "web")};
  auto work = ptrs(ts);
  EXPECT_EQ(s.schedule(work, SysTime{}), 3u);
  // b has a web task: c first (no web task, fewest overall), then a; then
  // each has one web task and b carries the fewest tasks overall.
  EXPECT_EQ(ts[0].node_id, "c");
  EXPECT_EQ(ts[1].node_id, "a");
  EXPECT_EQ(ts[2].node_id, "b");
  for (const auto& t : ts) EXPECT_EQ(t.status.state, TaskState::kAssigned);
}

TEST(Scheduler, ConstraintsResourcesAndMaxReplicasFilter) {
  NodeLoad load;
  Node mgr = node("m", NodeRole::kManager);
  Node drained = node("d");
  drained.spec.availability = NodeAvailability::kDrain;
  Node down = node("x");
  down.state = NodeState::kDown;
  Scheduler s({node("w1"), mgr, drained, down}, load);
  std::vector<Task> ts = {pending("1", "db"), pending("2", "big"), pending("3", "one"), pending("4", "one")};
  ts[0].spec.placement.constraints = {"node.role==manager"};
  ts[1].spec.resources.reservations.memory_bytes = 2LL << 30;
  ts[2].spec.placement.max_replicas = 1;
  ts[3].spec.placement.max_replicas = 1;
  auto work = ptrs(ts);
  EXPECT_EQ(s.schedule(work, SysTime{}), 3u);
  EXPECT_EQ(ts[0].node_id, "m");
  EXPECT_TRUE(ts[1].node_id.empty());
  EXPECT_EQ(ts[1].status.state, TaskState::kPending);
  EXPECT_EQ(ts[1].status.err,
            "no suitable node (1 node not available for new tasks; 1 node not available for new tasks (paused or "
            "drained); insufficient resources on 2 nodes)");
  EXPECT_NE(ts[2].node_id, ts[3].node_id) << "max one replica per node";
}

TEST(Scheduler, NoNodes) {
  NodeLoad load;
  Scheduler s({}, load);
  std::vector<Task> ts = {pending("1", "web")};
  auto work = ptrs(ts);
  EXPECT_EQ(s.schedule(work, SysTime{}), 0u);
  EXPECT_EQ(ts[0].status.err, "no suitable node (no nodes in the swarm)");
}

// The reason is in Err (service ps's ERROR column), in Swarm's words; once
// the task is placed it is cleared.
TEST(Scheduler, NoSuitableNodeReasonInErrClearedWhenPlaced) {
  NodeLoad load;
  Node paused = node("p");
  paused.spec.availability = NodeAvailability::kPause;
  Node labelled = node("l");
  labelled.spec.labels["zone"] = "east";
  std::vector<Task> ts = {pending("1", "s")};
  ts[0].status.message = "pending task scheduling";
  ts[0].spec.placement.constraints = {"node.labels.zone==west", "engine.labels.tier!=db"};
  auto work = ptrs(ts);
  Scheduler none({paused, labelled, node("x")}, load);
  EXPECT_EQ(none.schedule(work, SysTime{}), 0u);
  EXPECT_EQ(ts[0].status.err,
            "no suitable node (1 node not available for new tasks (paused or drained); scheduling constraints not "
            "satisfied on 2 nodes)");
  EXPECT_EQ(ts[0].status.message, "pending task scheduling");
  labelled.spec.labels["zone"] = "west";
  Scheduler one({paused, labelled, node("x")}, load);
  EXPECT_EQ(one.schedule(work, SysTime{}), 1u);
  EXPECT_EQ(ts[0].node_id, "l");
  EXPECT_EQ(ts[0].status.err, "");
}

// engine.labels.*: no node has engine labels, so == matches none and != all.
TEST(Scheduler, EngineLabelsAreEmptyOnEveryNode) {
  NodeLoad load;
  Scheduler s({node("a")}, load);
  std::vector<Task> ts = {pending("1", "s"), pending("2", "s")};
  ts[0].spec.placement.constraints = {"engine.labels.tier==db"};
  ts[1].spec.placement.constraints = {"engine.labels.tier!=db"};
  auto work = ptrs(ts);
  EXPECT_EQ(s.schedule(work, SysTime{}), 1u);
  EXPECT_TRUE(ts[0].node_id.empty());
  EXPECT_EQ(ts[1].node_id, "a");
  EXPECT_TRUE(validate_constraint("engine.labels.tier==db").ok());
  EXPECT_NE(validate_constraint("node.colour==red").message().find("engine.labels.<name>"), std::string::npos);
}

TEST(Scheduler, ReservationsAccumulateWithinABatch) {
  NodeLoad load;
  load.reserved_cpu["a"] = 1500000000;
  Scheduler s({node("a"), node("b")}, load);
  std::vector<Task> ts = {pending("1", "s"), pending("2", "s"), pending("3", "s")};
  for (auto& t : ts) t.spec.resources.reservations.nano_cpus = 1000000000;
  auto work = ptrs(ts);
  EXPECT_EQ(s.schedule(work, SysTime{}), 2u);  // b takes two; a has 0.5 CPU left
  EXPECT_EQ(ts[0].node_id, "b");
  EXPECT_EQ(ts[1].node_id, "b");
  EXPECT_TRUE(ts[2].node_id.empty());
}

Node on(const std::string& id, const std::string& os, const std::string& arch) {
  Node n = node(id);
  n.description.os = os;
  n.description.architecture = arch;
  return n;
}

// Swarm's platform rules: an empty field matches anything, x86_64 is amd64
// and aarch64 is arm64 (on either side), OS compared as given.
TEST(Scheduler, PlatformMatchingRules) {
  NodeDescription amd;
  amd.os = "linux";
  amd.architecture = "x86_64";
  NodeDescription arm;
  arm.os = "linux";
  arm.architecture = "aarch64";
  EXPECT_TRUE(platform_matches({}, amd));
  EXPECT_TRUE(platform_matches({{"amd64", "linux"}}, amd));
  EXPECT_TRUE(platform_matches({{"x86_64", ""}}, amd));
  EXPECT_TRUE(platform_matches({{"", "linux"}}, arm));
  EXPECT_TRUE(platform_matches({{"", ""}}, arm));
  EXPECT_TRUE(platform_matches({{"amd64", "linux"}, {"arm64", "linux"}}, arm));
  EXPECT_FALSE(platform_matches({{"amd64", "linux"}}, arm));
  EXPECT_FALSE(platform_matches({{"arm64", "linux"}}, amd));
  EXPECT_FALSE(platform_matches({{"", "windows"}}, amd));
  EXPECT_FALSE(platform_matches({{"unknown", "unknown"}}, amd));
  EXPECT_FALSE(platform_matches({{"amd64", "linux"}}, NodeDescription{})) << "a node with no platform matches no entry";
}

TEST(Scheduler, PlatformsFilterNodesWithSwarmsReason) {
  NodeLoad load;
  Scheduler s({on("a", "linux", "x86_64"), on("b", "linux", "aarch64"), on("c", "linux", "x86_64")}, load);
  std::vector<Task> ts = {pending("1", "arm"), pending("2", "win"), pending("3", "any")};
  ts[0].spec.placement.platforms = {{"arm64", "linux"}};
  ts[1].spec.placement.platforms = {{"", "windows"}};
  ts[2].spec.placement.platforms = {{"amd64", "linux"}, {"arm64", "linux"}};
  auto work = ptrs(ts);
  EXPECT_EQ(s.schedule(work, SysTime{}), 2u);
  EXPECT_EQ(ts[0].node_id, "b");
  EXPECT_TRUE(ts[1].node_id.empty());
  EXPECT_EQ(ts[1].status.state, TaskState::kPending);
  EXPECT_EQ(ts[1].status.err, "no suitable node (unsupported platform on 3 nodes)");
  EXPECT_EQ(ts[2].node_id, "a");
}

TEST(Scheduler, ValidatePlatforms) {
  EXPECT_TRUE(validate_platforms({}).ok());
  EXPECT_TRUE(validate_platforms({{"amd64", "linux"}, {"unknown", "unknown"}, {"", ""}, {"arm64", ""}}).ok());
  Status st = validate_platforms({{"amd64", "linux"}, {"amd 64", "linux"}});
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("Platforms[1].Architecture \"amd 64\""), std::string::npos) << st.message();
  EXPECT_FALSE(validate_platforms({{"", std::string(33, 'l')}}).ok());
  EXPECT_FALSE(validate_platforms(std::vector<PlacementPlatform>(65, {"amd64", "linux"})).ok());
}

// Two live tasks publishing one host-mode port never share a node, counting
// the load (a task still being stopped holds its port) and this batch.
TEST(Scheduler, HostModePortsKeepTasksApart) {
  NodeLoad load;
  load.host_ports["a"].insert({"tcp", 8080});  // a's earlier task still holds it
  Scheduler s({node("a"), node("b"), node("c")}, load);
  std::vector<Task> ts = {pending("1", "web"), pending("2", "web"), pending("3", "web"), pending("4", "dns")};
  for (int i = 0; i < 3; ++i) ts[i].host_ports = {{"", "tcp", 80, 8080, "host"}};
  ts[3].host_ports = {{"", "udp", 53, 8080, "host"}};  // another protocol: no conflict
  auto work = ptrs(ts);
  EXPECT_EQ(s.schedule(work, SysTime{}), 3u);
  EXPECT_EQ(ts[0].node_id, "b");
  EXPECT_EQ(ts[1].node_id, "c");
  EXPECT_TRUE(ts[2].node_id.empty());
  EXPECT_EQ(ts[2].status.err, "no suitable node (host-mode port already in use on 3 nodes)");
  EXPECT_EQ(ts[3].node_id, "a");
}

}  // namespace
}  // namespace shoal::scheduler
