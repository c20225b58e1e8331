// Integration: an in-process swarm built by the composition root
// (node::SwarmNode) as shoald builds it, over a MemoryBackend and the fake
// executor, with two more nodes' agents. Everything but etcd and runc is
// real: the Docker API, swarm init, the elected leader's control loops, the
// dispatcher over HTTP on a unix socket, the agents' sessions.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "agent/agent.h"
#include "agent/fake_executor.h"
#include "http/server.h"
#include "manager/api/api.h"
#include "manager/api/api_test_util.h"
#include "node/swarm_node.h"
#include "store/memory_backend.h"

namespace shoal {
namespace {

using Clk = std::chrono::steady_clock;
using api::testing::make_request;

// A manager's storage in memory; destroy() drops its data (the next open
// starts empty), as leaving erases the etcd member's.
class MemoryStorage : public node::ManagerStorage {
 public:
  Backend& backend() override { return backend_; }
  void stop() override {}
  void destroy() override {}

 private:
  MemoryBackend backend_;
};

// The fake executor, recording which tasks have a container in a ledger that
// outlives it (an executor goes with its membership's roles), and optionally
// slow to create one (runc takes a while: the agent's queue is then long).
struct Ledger {
  std::mutex mu;
  std::set<std::string> containers;
  std::atomic<int> prepare_delay_ms{0};
};
class LedgerExecutor : public agent::FakeExecutor {
 public:
  explicit LedgerExecutor(std::shared_ptr<Ledger> l) : ledger_(std::move(l)) {}
  Status prepare(const Task& task) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(ledger_->prepare_delay_ms.load()));
    Status st = FakeExecutor::prepare(task);
    std::lock_guard lk(ledger_->mu);
    ledger_->containers.insert(task.id);
    return st;
  }
  Status remove(const std::string& task_id) override {
    Status st = FakeExecutor::remove(task_id);
    std::lock_guard lk(ledger_->mu);
    ledger_->containers.erase(task_id);
    return st;
  }

 private:
  std::shared_ptr<Ledger> ledger_;
};

class SwarmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_);
    node::NodeParts p;
    p.clock = &clock_;
    p.open_storage = [this](const node::Membership&, const node::SwarmCredentials*) -> Result<std::unique_ptr<node::ManagerStorage>> {
      ++storages_opened_;
      return std::unique_ptr<node::ManagerStorage>(std::make_unique<MemoryStorage>());
    };
    p.make_executor = [l = ledger_](const node::Membership&) { return std::make_unique<LedgerExecutor>(l); };
    p.dispatcher_endpoint = endpoint_;
    p.describe = [] {
      NodeDescription d;
      d.hostname = "manager1";
      return d;
    };
    swarm_ = std::make_unique<node::SwarmNode>(std::move(p));
    api_ = std::make_unique<api::Api>(*swarm_, nullptr, clock_);
    sessions_ = std::make_unique<http::Server>(http::ServerOptions{{endpoint_}, 1, 8},
                                               [this](http::Exchange ex) { swarm_->serve_session(std::move(ex)); });
    ASSERT_TRUE(sessions_->start().ok());
  }
  void TearDown() override {
    for (auto& a : agents_) a->stop();
    swarm_->stop();
    sessions_->stop();
    std::filesystem::remove_all(dir_);
  }

  http::Response call(const std::string& method, const std::string& target, const std::string& body = "") {
    return api_->handle(make_request(method, target, body));
  }
  void add_agent(const std::string& node_id) {
    execs_.push_back(std::make_unique<agent::FakeExecutor>());
    agent::AgentOptions o;
    o.dispatcher = endpoint_;
    o.node_id = node_id;
    o.description.hostname = node_id;
    agents_.push_back(std::make_unique<agent::Agent>(*execs_.back(), clock_, o));
    agents_.back()->start();
  }
  // Real threads and sockets: poll with a deadline.
  template <typename F>
  bool eventually(F f, std::chrono::seconds limit = std::chrono::seconds(20)) {
    auto deadline = Clk::now() + limit;
    while (Clk::now() < deadline) {
      if (f()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return f();
  }
  size_t running_tasks() {
    auto s = swarm_->store();
    if (!s) return 0;
    size_t n = 0;
    s->view([&](const StoreSnapshot& snap) {
      for (const auto& [_, c] : snap.running_by_service) n += c;
    });
    return n;
  }

  std::string dir_ = "/tmp/shoal-integration-" + std::to_string(getpid());
  std::string endpoint_ = "unix://" + dir_ + "/dispatcher.sock";
  RealClock clock_;
  std::shared_ptr<Ledger> ledger_ = std::make_shared<Ledger>();
  int storages_opened_ = 0;
  std::unique_ptr<node::SwarmNode> swarm_;
  std::unique_ptr<api::Api> api_;
  std::unique_ptr<http::Server> sessions_;
  std::vector<std::unique_ptr<agent::FakeExecutor>> execs_;
  std::vector<std::unique_ptr<agent::Agent>> agents_;
};

TEST_F(SwarmTest, InitCreateServiceTasksRunOnEveryNode) {
  ASSERT_EQ(call("POST", "/v1.41/swarm/init", R"({"ListenAddr":"0.0.0.0:2377"})").status, 200);
  add_agent("worker1");
  add_agent("worker2");
  ASSERT_TRUE(eventually([&] { return swarm_->store()->nodes().size() == 3; }));
  auto r = call("POST", "/v1.41/services/create",
                R"({"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},)"
                R"("Mode":{"Replicated":{"Replicas":6}}})");
  ASSERT_EQ(r.status, 201) << r.body;
  ASSERT_TRUE(eventually([&] { return running_tasks() == 6; })) << running_tasks() << " of 6 running";
  std::set<std::string> nodes;
  for (const auto& t : swarm_->store()->tasks()) nodes.insert(t.node_id);
  EXPECT_EQ(nodes.size(), 3u);  // spread over the manager and both workers
  EXPECT_TRUE(swarm_->manager()->is_leader());
}

TEST_F(SwarmTest, LeaveRightAfterInitIsQuickAndRequestsInFlightStaySafe) {
  for (int round = 0; round < 3; ++round) {
    ASSERT_EQ(call("POST", "/v1.41/swarm/init", "{}").status, 200);
    std::shared_ptr<Store> held = swarm_->store();  // a request in flight
    ASSERT_TRUE(held);
    auto t0 = Clk::now();
    auto r = call("POST", "/v1.41/swarm/leave?force=1");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_LT(Clk::now() - t0, std::chrono::seconds(1));
    EXPECT_TRUE(held->cluster().has_value());  // still valid memory after leave
    EXPECT_EQ(call("GET", "/v1.41/services").status, 503);
    EXPECT_EQ(call("POST", "/v1.41/swarm/leave?force=1").status, 503);  // not in a swarm
  }
  EXPECT_EQ(storages_opened_, 3);
}

// Leaving removes every container of this node, also those the agent's
// worker was still creating when leave began (it finishes its queued
// operations while it stops): none is left running outside any swarm.
TEST_F(SwarmTest, LeaveRemovesTheContainersTheAgentWasStillCreating) {
  ASSERT_EQ(call("POST", "/v1.41/swarm/init", "{}").status, 200);
  ledger_->prepare_delay_ms = 20;
  auto r = call("POST", "/v1.41/services/create",
                R"({"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},)"
                R"("Mode":{"Replicated":{"Replicas":40}}})");
  ASSERT_EQ(r.status, 201) << r.body;
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lk(ledger_->mu);
    return !ledger_->containers.empty();
  }));
  r = call("POST", "/v1.41/swarm/leave?force=1");
  EXPECT_EQ(r.status, 200) << r.body;
  std::lock_guard lk(ledger_->mu);
  EXPECT_TRUE(ledger_->containers.empty()) << ledger_->containers.size() << " containers left after leave";
}

TEST_F(SwarmTest, InitTwiceIsRefused) {
  ASSERT_EQ(call("POST", "/v1.41/swarm/init", "{}").status, 200);
  auto r = call("POST", "/v1.41/swarm/init", "{}");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("already part of a swarm"), std::string::npos) << r.body;
  r = call("POST", "/v1.41/swarm/leave");  // the last manager needs --force
  EXPECT_NE(r.status, 200);
  EXPECT_NE(r.body.find("--force"), std::string::npos) << r.body;
  EXPECT_TRUE(swarm_->active());
}

}  // namespace
}  // namespace shoal
