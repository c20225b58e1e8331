// SwarmNode holds no lock while it stops roles: a node stopping what an
// init started (shoald shut down meanwhile) still answers other calls.
#include "node/swarm_node.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "agent/fake_executor.h"
#include "store/memory_backend.h"

namespace shoal::node {
namespace {

// Its stop() checks that the node answers another thread meanwhile. The
// probe threads are joined by the test once init has returned.
class ProbingStorage : public ManagerStorage {
 public:
  ProbingStorage(SwarmNode** node, std::atomic<int>* answered, std::vector<std::thread>* probes)
      : node_(node), answered_(answered), probes_(probes) {}
  Backend& backend() override { return backend_; }
  void stop() override {
    SwarmNode* n = *node_;
    auto done = std::make_shared<std::promise<void>>();
    auto answer = done->get_future();
    probes_->emplace_back([n, done] {
      (void)n->active();
      done->set_value();
    });
    // A held node lock makes the probe wait until this stop() returned.
    if (answer.wait_for(std::chrono::seconds(2)) == std::future_status::ready) answered_->fetch_add(1);
    else answered_->fetch_sub(100);
  }
  void destroy() override { stop(); }

 private:
  SwarmNode** node_;
  std::atomic<int>* answered_;
  std::vector<std::thread>* probes_;
  MemoryBackend backend_;
};

TEST(SwarmNode, StopsTheRolesOfAnInitThatStopOvertookWithoutHoldingItsLock) {
  SwarmNode* node = nullptr;
  std::atomic<int> answered{0};
  std::vector<std::thread> probes;
  RealClock clock;
  NodeParts p;
  p.clock = &clock;
  p.open_storage = [&](const Membership&, const SwarmCredentials*) -> Result<std::unique_ptr<ManagerStorage>> {
    return std::unique_ptr<ManagerStorage>(std::make_unique<ProbingStorage>(&node, &answered, &probes));
  };
  p.make_executor = [](const Membership&) { return std::make_unique<agent::FakeExecutor>(); };
  p.dispatcher_endpoint = "unix:///nonexistent/shoal-swarm-node-test.sock";
  // shoald shuts down while init records the membership.
  p.persist = [&](const std::optional<Membership>& m) {
    if (m) node->stop();
    return ok_status();
  };
  SwarmNode n(std::move(p));
  node = &n;
  auto r = n.init(api::InitRequest{});
  for (auto& t : probes) t.join();
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().message();
  EXPECT_EQ(answered.load(), 1) << "the roles were stopped once, the node answering meanwhile";
  EXPECT_FALSE(n.active());
}

}  // namespace
}  // namespace shoal::node
