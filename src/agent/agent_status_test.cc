// A status report the dispatcher refused because the session had expired
// (404) is put back and sent once the agent holds a new session, also when
// no other report follows: the status thread waits for a session too, so
// opening one must wake it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "agent/agent.h"
#include "agent/agent_test_util.h"
#include "agent/fake_executor.h"
#include "http/server.h"

namespace shoal::agent {
namespace {

using SteadyTime = std::chrono::steady_clock::time_point;

// Session s1 gets task t1; its first status report gets 404 (expired), and
// registrations are refused for a second after that, so the new session s2
// opens while the status thread is already waiting again.
class ExpiringDispatcher {
 public:
  explicit ExpiringDispatcher(const std::string& endpoint)
      : server_({{endpoint}, 1, 4}, [this](http::Exchange ex) { serve(std::move(ex)); }) {}
  ~ExpiringDispatcher() { server_.stop(); }
  Status start() { return server_.start(); }
  // Waits until a status report of session s2 arrived.
  bool wait_report_of_s2(std::chrono::seconds limit) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, limit, [&] { return s2_reported_; });
  }
  bool s2_opened() {
    std::lock_guard lk(mu_);
    return registrations_ >= 2;
  }

 private:
  void serve(http::Exchange ex) {
    const std::string prefix = session::kPrefix;
    const std::string& p = ex.request.path;
    http::Response r;
    r.headers["Content-Type"] = "application/json";
    r.body = "{}";
    std::unique_lock lk(mu_);
    if (p == prefix + "session") {
      if (expired_at_ && std::chrono::steady_clock::now() < *expired_at_ + std::chrono::seconds(1)) {
        r.status = 503;
      } else {
        session::RegisterResponse resp;
        resp.session_id = "s" + std::to_string(++registrations_);
        r.body = json(resp).dump();
      }
    } else if (p == prefix + "assignments") {
      std::string sid = ex.request.query["session"];
      if (sid == "s1" && expired_at_) {
        r.status = 404;
      } else {
        bool first = ex.request.query["since"] == "0";
        lk.unlock();
        if (!first) std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a long poll timing out
        session::AssignmentSet set;
        set.generation = 1;
        set.full = first;
        if (first) {
          Task t;
          t.id = "t1";
          t.node_id = "n1";
          t.desired_state = TaskState::kRunning;
          set.tasks.push_back(t);
        }
        r.body = json(set).dump();
        lk.lock();
      }
    } else if (p == prefix + "status") {
      auto batch = json::parse(ex.request.body).get<session::StatusBatch>();
      if (batch.session_id == "s1") {
        if (!expired_at_) expired_at_ = std::chrono::steady_clock::now();
        r.status = 404;
      } else {
        s2_reported_ = true;
        cv_.notify_all();
      }
    }
    lk.unlock();
    ex.respond(r);
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<SteadyTime> expired_at_;
  int registrations_ = 0;
  bool s2_reported_ = false;
  http::Server server_;
};

TEST(AgentStatus, AReportRefusedForAnExpiredSessionIsSentOnTheNextSession) {
  TestSocketDir sock("agent-status-test");
  ExpiringDispatcher d(sock.endpoint);
  ASSERT_TRUE(d.start().ok());
  RealClock clock;
  FakeExecutor exec;
  Agent agent(exec, clock, node_n1_options(sock.endpoint));
  agent.start();
  bool reported = d.wait_report_of_s2(std::chrono::seconds(8));
  bool reopened = d.s2_opened();
  agent.stop();
  EXPECT_TRUE(reopened) << "the agent never opened a second session";
  EXPECT_TRUE(reported) << "t1's status, refused with the expired session, was never sent with the new one";
}

}  // namespace
}  // namespace shoal::agent
