// Agent::stop() is bounded: a long poll the dispatcher never answers (it
// arrived as the manager was stopping) must not hold stop() for the poll's
// 40 s timeout. A dispatcher stand-in answers registration and parks every
// long poll forever.
#include "agent/agent.h"
#include "agent/agent_test_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "agent/fake_executor.h"
#include "http/server.h"

namespace shoal::agent {
namespace {

class ParkingDispatcher {
 public:
  explicit ParkingDispatcher(const std::string& endpoint)
      : server_({{endpoint}, 1, 4}, [this](http::Exchange ex) { serve(std::move(ex)); }) {}
  ~ParkingDispatcher() {
    server_.stop();
  }
  Status start() { return server_.start(); }
  bool has_parked_poll() {
    std::lock_guard lk(mu_);
    return !parked_.empty();
  }

 private:
  void serve(http::Exchange ex) {
    const std::string& p = ex.request.path;
    if (p == std::string(session::kPrefix) + "assignments") {
      std::lock_guard lk(mu_);
      parked_.push_back(std::move(ex.respond));  // never answered
      return;
    }
    http::Response r;
    r.headers["Content-Type"] = "application/json";
    if (p == std::string(session::kPrefix) + "session") {
      session::RegisterResponse resp;
      resp.session_id = "s1";
      r.body = json(resp).dump();
    } else {
      r.body = "{}";
    }
    ex.respond(r);
  }

  std::mutex mu_;
  std::vector<http::Responder> parked_;
  http::Server server_;
};

TEST(AgentTest, StopCancelsAParkedLongPoll) {
  TestSocketDir sock("agent-test");
  ParkingDispatcher d(sock.endpoint);
  ASSERT_TRUE(d.start().ok());
  RealClock clock;
  FakeExecutor exec;
  Agent agent(exec, clock, node_n1_options(sock.endpoint));
  agent.start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!d.has_parked_poll() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // a real server's thread: poll with a deadline
  }
  ASSERT_TRUE(d.has_parked_poll());
  auto t0 = std::chrono::steady_clock::now();
  agent.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
}

}  // namespace
}  // namespace shoal::agent
