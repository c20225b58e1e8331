#include "manager/dispatcher/stop_holds.h"

#include <gtest/gtest.h>

namespace shoal::dispatcher {
namespace {

using namespace std::chrono_literals;

session::NetworkView serving_view(const std::string& task, bool serving) {
  session::NetworkInfo n;
  n.id = "net";
  session::Endpoint e;
  e.task_id = task;
  e.serving = serving;
  n.endpoints.push_back(e);
  session::NetworkView v;
  v.networks.push_back(n);
  return v;
}

class StopHoldsTest : public ::testing::Test {
 protected:
  StopHolds holds{{3s, 1s}};
  StopHolds::Time t0 = StopHolds::Time{} + 100s;
  std::set<std::string> here{"a", "b"};
  std::vector<std::pair<std::string, std::string>> due(StopHolds::Time at) {
    return holds.take_due(at, [&](const std::string& n) { return here.count(n) > 0; });
  }
};

TEST_F(StopHoldsTest, AStopGoesOnceEveryNodeThatServedItAckedAViewWithoutIt) {
  auto before = serving_view("t1", true);
  holds.hold("t1", "a", TaskState::kRunning, 5, 4, {}, t0);
  // A refresh built from a snapshot before the stop counts for nothing.
  holds.view_changed("b", &before, 4, 10);
  holds.refreshed(4, t0);
  EXPECT_TRUE(due(t0 + 10ms).empty());
  holds.view_changed("a", &before, 5, 11);
  holds.view_changed("b", &before, 5, 12);
  holds.refreshed(5, t0 + 20ms);
  EXPECT_TRUE(due(t0 + 30ms).empty()) << "released before any node applied its view";
  holds.acked("a", 11);
  holds.acked("b", 11);  // b's ack is still short of its view's generation
  EXPECT_TRUE(due(t0 + 40ms).empty());
  holds.acked("b", 12);
  auto d = due(t0 + 50ms);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0], (std::pair<std::string, std::string>{"t1", "a"}));
  EXPECT_TRUE(holds.empty());
}

TEST_F(StopHoldsTest, ANodeThatNeverListedItServingIsNotWaitedFor) {
  auto other = serving_view("t9", true);
  auto stopping = serving_view("t1", false);
  holds.hold("t1", "a", TaskState::kRunning, 1, 0, {}, t0);
  holds.view_changed("b", &other, 1, 7);
  holds.view_changed("a", &stopping, 1, 8);  // listed, but not serving already
  holds.refreshed(1, t0);
  EXPECT_EQ(due(t0).size(), 1u);
}

TEST_F(StopHoldsTest, AnEarlierViewsGenerationIsTheOneNeeded) {
  auto before = serving_view("t1", true);
  auto after = serving_view("t1", false);
  holds.hold("t1", "a", TaskState::kRunning, 1, 0, {}, t0);
  holds.view_changed("b", &before, 1, 7);
  holds.view_changed("b", &after, 2, 9);  // a later change for another reason
  holds.refreshed(1, t0);
  holds.acked("b", 7);
  EXPECT_EQ(due(t0).size(), 1u);
}

TEST_F(StopHoldsTest, ANodePollingAnotherManagerGetsTheAllowance) {
  auto before = serving_view("t1", true);
  here = {"a"};
  holds.hold("t1", "a", TaskState::kRunning, 1, 0, {}, t0);
  holds.view_changed("c", &before, 1, 7);
  holds.refreshed(1, t0 + 10ms);
  EXPECT_TRUE(due(t0 + 500ms).empty());
  ASSERT_TRUE(holds.next_wake(t0 + 500ms));
  EXPECT_EQ(*holds.next_wake(t0 + 500ms), t0 + 1010ms);
  EXPECT_EQ(due(t0 + 1010ms).size(), 1u);
}

TEST_F(StopHoldsTest, ANodeThatNeverAcksDelaysTheStopUntilTheDeadline) {
  auto before = serving_view("t1", true);
  holds.hold("t1", "a", TaskState::kRunning, 1, 0, {}, t0);
  holds.view_changed("b", &before, 1, 7);
  holds.refreshed(1, t0);
  EXPECT_TRUE(due(t0 + 2999ms).empty());
  // The allowance (for other managers' nodes) has passed: only the deadline wakes.
  EXPECT_EQ(*holds.next_wake(t0 + 2s), t0 + 3s);
  EXPECT_EQ(due(t0 + 3s).size(), 1u);
  EXPECT_FALSE(holds.next_wake(t0 + 3s));
}

// Several stops in one transaction: the refresh the first caused was built
// from the snapshot holding them all, and ended before the later ones were
// held. Their nodes must still ack the views that dropped them.
TEST_F(StopHoldsTest, AHoldWhoseViewsAreAlreadyRefreshedWaitsForTheListedNodes) {
  holds.hold("t2", "a", TaskState::kRunning, 7, 7, {{"a", 20}, {"b", 21}}, t0);
  EXPECT_TRUE(due(t0).empty()) << "released with no ack";
  EXPECT_EQ(holds.held_desired("t2"), TaskState::kRunning);
  holds.acked("a", 20);
  EXPECT_TRUE(due(t0).empty());
  holds.acked("b", 21);
  EXPECT_EQ(due(t0).size(), 1u);
  EXPECT_FALSE(holds.held_desired("t2"));
}

TEST_F(StopHoldsTest, AForgottenHoldIsNeverReleased) {
  holds.hold("t1", "a", TaskState::kRunning, 1, 0, {}, t0);
  holds.forget("t1");
  holds.refreshed(1, t0);
  EXPECT_TRUE(due(t0 + 10s).empty());
}

}  // namespace
}  // namespace shoal::dispatcher
