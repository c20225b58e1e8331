// A task stopped on purpose leaves every node's view before its own node is
// told to stop it (stop_holds.h), through the dispatcher's real protocol.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <set>

#include "manager/dispatcher/dispatcher.h"
#include "manager/dispatcher/dispatcher_test_util.h"

namespace shoal::dispatcher {
namespace {

using namespace std::chrono_literals;

class DispatcherStopHoldTest : public DispatcherFixture {
 protected:
  DispatcherStopHoldTest() : DispatcherFixture(5000ms) { options.stop_holds = {4s, 1s}; }

  std::string register_node(const std::string& id, const std::string& addr) {
    session::RegisterRequest req;
    req.node_id = id;
    req.addr = addr;
    req.description.hostname = id;
    auto r = send("POST", "session", json(req).dump()).get();
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body).get<session::RegisterResponse>().session_id;
  }
  Task task(const std::string& id, const std::string& node, const std::string& ip, uint64_t slot) {
    Task t;
    t.id = id;
    t.service_id = "svc";
    t.slot = slot;
    t.node_id = node;
    t.status.state = TaskState::kRunning;
    t.desired_state = TaskState::kRunning;
    t.networks = {{"net", "test", {ip + "/24"}, {}}};
    return t;
  }
  std::future<http::Response> poll(const std::string& sid, uint64_t since) {
    return send("GET", "assignments", "", {{"session", sid}, {"since", std::to_string(since)}});
  }
  static session::AssignmentSet answer(std::future<http::Response>& f) {
    EXPECT_EQ(f.wait_for(3s), std::future_status::ready);
    auto r = f.get();
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body).get<session::AssignmentSet>();
  }
  // Polls until an answer carries a network view in which `task` serves as
  // `serving`; returns that answer.
  session::AssignmentSet poll_until_view(const std::string& sid, uint64_t since, const std::string& task,
                                         bool serving) {
    for (int i = 0; i < 50; ++i) {
      auto f = poll(sid, since);
      auto set = answer(f);
      since = set.generation;
      if (!set.network_view) continue;
      for (const auto& n : set.network_view->networks)
        for (const auto& e : n.endpoints)
          if (e.task_id == task && e.serving == serving) return set;
    }
    ADD_FAILURE() << "no view with " << task << (serving ? " serving" : " not serving");
    return {};
  }
  static const Task* find(const session::AssignmentSet& set, const std::string& id) {
    for (const auto& t : set.tasks)
      if (t.id == id) return &t;
    return nullptr;
  }

  void SetUp() override {
    // Before the dispatcher's: sees each event first, and may hold the watch
    // thread on one (the dispatcher then hears of it that much later).
    store.subscribe([this](const StoreEvent& e) {
      if (e.kind == Kind::kTask && e.id == slow_task.load() && e.type == StoreEvent::Type::kUpdate)
        std::this_thread::sleep_for(slow_for);
    });
    DispatcherFixture::SetUp();
    s1 = register_node("n1", "192.0.2.1");
    s2 = register_node("n2", "192.0.2.2");
    Network n;
    n.id = "net";
    n.spec.name = "test";
    n.vni = 4097;
    n.ipam = {{"10.0.1.0/24", "", "10.0.1.1"}};
    Service s;
    s.id = "svc";
    s.spec.name = "bar";
    s.spec.task_template.networks = {{"net", {}}};
    s.virtual_ips = {{"net", "10.0.1.2/24"}};
    Batch b;
    b.create(n);
    b.create(s);
    b.create(task("t1", "n1", "10.0.1.3", 1));
    b.create(task("t2", "n2", "10.0.1.4", 2));
    b.create(task("t4", "n1", "10.0.1.6", 4));
    ASSERT_TRUE(store.commit(b).ok());
    auto one = poll_until_view(s1, 0, "t1", true);
    auto two = poll_until_view(s2, 0, "t1", true);
    g1 = one.generation;
    g2 = two.generation;
  }

  void stop(const std::vector<std::string>& ids) {
    Batch b;
    for (const auto& id : ids)
      b.update_task(id, [](Task& t) {
        t.desired_state = TaskState::kShutdown;
        return true;
      });
    ASSERT_TRUE(store.commit(b).ok());
  }
  void stop_t1() { stop({"t1"}); }

  std::string s1, s2;
  uint64_t g1 = 0, g2 = 0;
  std::atomic<const char*> slow_task{""};
  std::chrono::milliseconds slow_for{0};
};

TEST_F(DispatcherStopHoldTest, TheStopWaitsUntilEveryNodeAppliedAViewWithoutTheTask) {
  stop_t1();
  // n1 first hears of t1 leaving the views, not of its stop.
  auto first = poll_until_view(s1, g1, "t1", false);
  EXPECT_EQ(find(first, "t1"), nullptr) << "n1 was told to stop t1 before n2 dropped it";
  // n2's view drops t1 too; until n2 asks again (it has applied that view),
  // n1's next poll stays parked.
  auto two = poll_until_view(s2, g2, "t1", false);
  auto held = poll(s1, first.generation);
  EXPECT_EQ(held.wait_for(300ms), std::future_status::timeout) << "the stop went before n2 applied its view";
  auto n2_next = poll(s2, two.generation);  // the ack: n2 applied every view up to two.generation
  auto released = answer(held);
  const Task* t1 = find(released, "t1");
  ASSERT_NE(t1, nullptr) << "the ack did not release t1's stop";
  EXPECT_EQ(t1->desired_state, TaskState::kShutdown);
  (void)n2_next;
}

TEST_F(DispatcherStopHoldTest, ANodeThatNeverAcksDelaysTheStopOnlyUntilTheDeadline) {
  auto start = std::chrono::steady_clock::now();
  stop_t1();
  auto first = poll_until_view(s1, g1, "t1", false);
  ASSERT_EQ(find(first, "t1"), nullptr);
  // n2 never polls again: the stop is sent at the 4 s deadline, not before.
  auto held = poll(s1, first.generation);
  EXPECT_EQ(held.wait_for(2500ms), std::future_status::timeout);
  auto released = answer(held);
  ASSERT_NE(find(released, "t1"), nullptr);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 3900ms);
}

TEST_F(DispatcherStopHoldTest, AStopOfATaskThatServesNothingIsNotHeld) {
  Batch b;
  Task t = task("t3", "n1", "10.0.1.5", 3);
  t.status.state = TaskState::kStarting;  // not serving yet
  b.create(t);
  ASSERT_TRUE(store.commit(b).ok());
  auto created = poll(s1, g1);
  auto set = answer(created);
  while (!find(set, "t3")) {
    auto f = poll(s1, set.generation);
    set = answer(f);
  }
  Batch c;
  c.update_task("t3", [](Task& x) {
    x.desired_state = TaskState::kShutdown;
    return true;
  });
  ASSERT_TRUE(store.commit(c).ok());
  auto f = poll(s1, set.generation);
  auto stopped = answer(f);
  const Task* t3 = find(stopped, "t3");
  ASSERT_NE(t3, nullptr) << "a task that served nothing was held";
  EXPECT_EQ(t3->desired_state, TaskState::kShutdown);
}

// Several stops in one transaction (a scale-down): the refresh the first
// one causes may see them all before the others are held; each is still
// held until n2 applied a view without it.
TEST_F(DispatcherStopHoldTest, StopsInOneTransactionAreAllHeld) {
  // The dispatcher hears of t4's stop 500 ms after t1's: by then the views
  // built for t1's (from the cache holding the whole transaction) have
  // dropped t4 too.
  slow_for = 500ms;
  slow_task = "t4";
  stop({"t1", "t4"});
  auto first = poll_until_view(s1, g1, "t1", false);
  uint64_t gen = first.generation;
  for (int i = 0; i < 3; ++i) {  // answers that come before n2 acks carry no stop
    EXPECT_EQ(find(first, "t1"), nullptr);
    EXPECT_EQ(find(first, "t4"), nullptr);
    auto next = poll(s1, gen);
    if (next.wait_for(300ms) != std::future_status::ready) break;
    first = answer(next);
    gen = first.generation;
  }
  auto two = poll_until_view(s2, g2, "t4", false);
  auto n2_next = poll(s2, two.generation);  // the ack
  std::set<std::string> stopped;
  for (int i = 0; i < 10 && stopped.size() < 2; ++i) {
    auto f = poll(s1, gen);
    auto set = answer(f);
    gen = set.generation;
    for (const auto& t : set.tasks)
      if (t.desired_state == TaskState::kShutdown) stopped.insert(t.id);
  }
  EXPECT_EQ(stopped, (std::set<std::string>{"t1", "t4"}));
  (void)n2_next;
}

// A node that registers again while a stop is held gets its whole set: the
// held task in it still runs, until the release.
TEST_F(DispatcherStopHoldTest, AFullSetKeepsAHeldTaskRunning) {
  stop_t1();
  (void)poll_until_view(s1, g1, "t1", false);
  std::string again = register_node("n1", "192.0.2.1");
  auto whole = poll(again, 0);
  auto set = answer(whole);
  ASSERT_TRUE(set.full);
  const Task* t1 = find(set, "t1");
  ASSERT_NE(t1, nullptr);
  EXPECT_EQ(t1->desired_state, TaskState::kRunning) << "a full set sent a held stop";
}

}  // namespace
}  // namespace shoal::dispatcher
