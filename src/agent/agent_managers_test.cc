// The agent's list of managers: a manager that does not answer is skipped
// for the next one, and the register answer's list replaces the agent's
// (on_managers is told). Plain TCP stand-ins (the scheme follows the
// dispatcher endpoint's; TLS is tested in src/http).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>

#include "agent/agent.h"
#include "agent/fake_executor.h"
#include "common/clock.h"
#include "http/server.h"

namespace shoal::agent {
namespace {

// A port nothing listens on (bound, then closed).
int dead_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  ::close(fd);
  return ntohs(a.sin_port);
}

TEST(AgentManagers, SkipsADeadManagerAndAdoptsTheRegisterAnswersList) {
  std::vector<std::string> answered = {"10.9.9.1:2377", "10.9.9.2:2377"};
  http::Server live({{"tcp://127.0.0.1:0"}, 1, 4}, [&](http::Exchange ex) {
    http::Response r;
    r.headers["Content-Type"] = "application/json";
    if (ex.request.path == std::string(session::kPrefix) + "session") {
      session::RegisterResponse resp;
      resp.session_id = "s1";
      resp.managers = answered;
      r.body = json(resp).dump();
    } else {
      r.status = 503;  // the agent backs off and asks again
      r.body = R"({"message":"not now"})";
    }
    ex.respond(r);
  });
  ASSERT_TRUE(live.start().ok());
  std::string dead = "127.0.0.1:" + std::to_string(dead_port());
  std::string alive = "127.0.0.1:" + std::to_string(live.bound_ports().at(0));

  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> told;
  AgentOptions o;
  o.dispatcher = "http://" + dead;
  o.managers = {dead, alive};
  o.node_id = "n1";
  o.on_managers = [&](const std::vector<std::string>& m) {
    std::lock_guard lk(mu);
    told = m;
    cv.notify_all();
  };
  FakeExecutor executor;
  RealClock clock;
  Agent agent(executor, clock, o);
  agent.start();
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(10), [&] { return !told.empty(); }))
        << "the agent never registered with the live manager";
  }
  EXPECT_TRUE(agent.registered());
  EXPECT_EQ(told, answered);
  agent.stop();
  live.stop();
}

}  // namespace
}  // namespace shoal::agent
