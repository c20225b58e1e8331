// The agent's list of managers: a manager that does not answer is skipped
// for the next one, and the register answer's list replaces the agent's
// (on_managers is told). Plain TCP stand-ins (the scheme follows the
// dispatcher endpoint's; TLS is tested in src/http).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "agent/agent.h"
#include "agent/fake_executor.h"
#include "common/clock.h"
#include "http/server.h"

namespace shoal::agent {
namespace {

// Polls pred every 20 ms for up to 10 s; its last answer.
template <typename Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 500 && !pred(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return pred();
}

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
      // The agent backs off and asks again (a 503 would move it to the
      // answered managers, addresses off this host).
      r.status = 500;
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

// A stand-in manager that opens session `sid` and answers heartbeats until
// stopped (polls get a 500: the agent retries them where it is); counts
// registrations.
struct StandIn {
  explicit StandIn(std::string sid)
      : server({{"tcp://127.0.0.1:0"}, 1, 4}, [this, sid](http::Exchange ex) {
          http::Response r;
          r.headers["Content-Type"] = "application/json";
          if (ex.request.path == std::string(session::kPrefix) + "session") {
            session::RegisterResponse resp;
            resp.session_id = sid;
            resp.heartbeat_period = std::chrono::milliseconds(200);
            r.body = json(resp).dump();
            ++registers;
          } else if (ex.request.path == std::string(session::kPrefix) + "heartbeat") {
            json hb = json::object();
            if (!heartbeat_managers.empty()) hb["Managers"] = heartbeat_managers;
            if (!heartbeat_role.empty()) hb["Role"] = heartbeat_role;
            r.body = hb.dump();
            ++heartbeats;
          } else {  // polls: the agent waits and asks again, on this manager
            r.status = 500;
            r.body = R"({"message":"not now"})";
          }
          ex.respond(r);
        }) {}
  std::string addr() { return "127.0.0.1:" + std::to_string(server.bound_ports().at(0)); }
  std::atomic<int> registers{0};
  std::atomic<int> heartbeats{0};
  std::vector<std::string> heartbeat_managers;  // set before the agent starts: the heartbeat answer's list
  std::string heartbeat_role;                   // set before the agent starts: the heartbeat answer's Role
  http::Server server;
};

TEST(AgentManagers, MovesItsSessionToAnotherManagerWhenItsManagerGoes) {
  StandIn a("sa"), b("sb");
  ASSERT_TRUE(a.server.start().ok());
  ASSERT_TRUE(b.server.start().ok());
  AgentOptions o;
  o.dispatcher = "http://" + a.addr();
  o.managers = {a.addr(), b.addr()};
  o.node_id = "n1";
  FakeExecutor executor;
  RealClock clock;
  Agent agent(executor, clock, o);
  agent.start();
  ASSERT_TRUE(eventually([&] { return a.registers.load() == 1 && agent.registered(); }));
  a.server.stop();  // the manager holding the session goes (connections refused)
  EXPECT_TRUE(eventually([&] { return b.registers.load() == 1; }))
      << "the agent kept its session with the gone manager and never registered with the other";
  EXPECT_TRUE(eventually([&] { return agent.registered(); }));
  agent.stop();
  b.server.stop();
}

// An agent that registered before the other managers joined knows only its
// own; the heartbeat answers' list tells it of the others, so it can move.
TEST(AgentManagers, LearnsTheManagersFromHeartbeatsAndMovesToOneOfThem) {
  StandIn a("sa"), b("sb");
  ASSERT_TRUE(b.server.start().ok());
  ASSERT_TRUE(a.server.start().ok());
  a.heartbeat_managers = {a.addr(), b.addr()};  // before any request: no race with the handler
  std::mutex mu;
  std::vector<std::string> told;
  AgentOptions o;
  o.dispatcher = "http://" + a.addr();
  o.managers = {a.addr()};
  o.node_id = "n1";
  o.on_managers = [&](const std::vector<std::string>& m) {
    std::lock_guard lk(mu);
    told = m;
  };
  FakeExecutor executor;
  RealClock clock;
  Agent agent(executor, clock, o);
  agent.start();
  auto told_now = [&] {
    std::lock_guard lk(mu);
    return told;
  };
  ASSERT_TRUE(eventually([&] { return told_now().size() == 2; })) << "no heartbeat's list reached the agent";
  EXPECT_EQ(told_now(), (std::vector<std::string>{a.addr(), b.addr()}));
  a.server.stop();
  EXPECT_TRUE(eventually([&] { return b.registers.load() == 1; })) << "the agent never moved to the manager it learned of";
  agent.stop();
  b.server.stop();
}

// node promote/demote: a heartbeat answer naming another role than the one
// the node runs as tells on_role; one naming the same role does not.
TEST(AgentManagers, AHeartbeatNamingAnotherRoleTellsOnRole) {
  for (const std::string answered : {"manager", "worker"}) {
    StandIn a("sa");
    a.heartbeat_role = answered;
    ASSERT_TRUE(a.server.start().ok());
    std::mutex mu;
    std::vector<std::string> roles;
    AgentOptions o;
    o.dispatcher = "http://" + a.addr();
    o.managers = {a.addr()};
    o.node_id = "n1";
    o.role = "worker";
    o.on_role = [&](const std::string& r) {
      std::lock_guard lk(mu);
      roles.push_back(r);
    };
    FakeExecutor executor;
    RealClock clock;
    Agent agent(executor, clock, o);
    agent.start();
    auto told = [&] {
      std::lock_guard lk(mu);
      return roles;
    };
    ASSERT_TRUE(eventually([&] { return agent.registered(); }));
    if (answered == "manager") {
      ASSERT_TRUE(eventually([&] { return !told().empty(); })) << "a heartbeat naming role manager never reached on_role";
      EXPECT_EQ(told().front(), "manager");
    } else {
      // The agent sends a heartbeat only once it handled the previous
      // answer: at the third, two answers naming "worker" were handled.
      ASSERT_TRUE(eventually([&] { return a.heartbeats.load() >= 3; }));
      EXPECT_TRUE(told().empty()) << "on_role was told the role the node already has";
    }
    agent.stop();
    a.server.stop();
  }
}

}  // namespace
}  // namespace shoal::agent
