#include "manager/orchestrator/global.h"

#include <gtest/gtest.h>

#include <map>

#include "manager/orchestrator/pipeline.h"
#include "manager/orchestrator/orchestrator_test_util.h"
#include "store/memory_backend.h"

namespace shoal::orchestrator {
namespace {

class GlobalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store.start().ok());
    testutil::seed_swarm(store);
  }
  static Node node(const std::string& id) { return testutil::ready_node(id); }
  Service create_global(std::vector<std::string> constraints = {}) {
    return testutil::create(store, testutil::global("svc-g", "g", std::move(constraints)));
  }
  // node -> live tasks (desired running) on it
  std::map<std::string, int> live_by_node() {
    std::map<std::string, int> out;
    for (auto& t : store.tasks_of_service("svc-g"))
      if (t.desired_state == TaskState::kRunning) out[t.node_id]++;
    return out;
  }
  void set_state(const std::string& node_id, TaskState st) {
    Batch b;
    for (auto& t : store.tasks_of_service("svc-g")) {
      if (t.node_id != node_id || t.desired_state != TaskState::kRunning) continue;
      b.update_task(t.id, [&](Task& x) {
        x.status.state = st;
        return true;
      });
    }
    ASSERT_TRUE(store.commit(b).ok());
  }
  MemoryBackend backend;
  Store store{backend};
  FakeClock clock;
  ControlLoops loops{store, clock, Fence{}};
};

TEST_F(GlobalTest, OneAssignedTaskPerNode) {
  create_global();
  ASSERT_TRUE(loops.reconcile_all().ok());
  EXPECT_EQ(live_by_node(), (std::map<std::string, int>{{"node1", 1}, {"node2", 1}, {"node3", 1}}));
  for (auto& t : store.tasks_of_service("svc-g")) {
    EXPECT_EQ(t.slot, 0u);
    EXPECT_EQ(t.status.state, TaskState::kAssigned);
  }
  // Stable: another pass creates nothing.
  ASSERT_TRUE(loops.reconcile_all().ok());
  EXPECT_EQ(store.tasks_of_service("svc-g").size(), 3u);
}

TEST_F(GlobalTest, FollowsNodesAndConstraints) {
  create_global({"node.hostname!=node3"});
  ASSERT_TRUE(loops.reconcile_all().ok());
  EXPECT_EQ(live_by_node(), (std::map<std::string, int>{{"node1", 1}, {"node2", 1}}));
  // A new node gets a task; a drained one loses its task.
  Batch b;
  b.create(node("node4"));
  b.update_node("node2", [](Node& n) {
    n.spec.availability = NodeAvailability::kDrain;
    return true;
  });
  ASSERT_TRUE(store.commit(b).ok());
  ASSERT_TRUE(loops.reconcile_all().ok());
  EXPECT_EQ(live_by_node(), (std::map<std::string, int>{{"node1", 1}, {"node4", 1}}));
}

TEST_F(GlobalTest, FailedTaskIsReplacedOnItsNodeAfterTheRestartDelay) {
  create_global();
  ASSERT_TRUE(loops.reconcile_all().ok());
  set_state("node1", TaskState::kFailed);
  ASSERT_TRUE(loops.reconcile_all().ok());
  EXPECT_EQ(store.tasks_of_service("svc-g").size(), 3u);  // waits for the 5 s delay
  clock.advance(std::chrono::seconds(5));
  ASSERT_TRUE(loops.reconcile_all().ok());
  EXPECT_EQ(live_by_node(), (std::map<std::string, int>{{"node1", 1}, {"node2", 1}, {"node3", 1}}));
  EXPECT_EQ(store.tasks_of_service("svc-g").size(), 4u);
}

}  // namespace
}  // namespace shoal::orchestrator
