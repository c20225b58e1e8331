#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "http/client.h"
#include "http/server.h"

namespace shoal::http {
namespace {

std::string sock_path() { return "/tmp/shoal-http-test-" + std::to_string(getpid()) + ".sock"; }

TEST(Http, RoundTripOverUnixAndTcp) {
  Server server({{"unix://" + sock_path(), "tcp://127.0.0.1:0"}, 1, 2}, [](Exchange ex) {
    Response r;
    r.body = ex.request.method + " " + ex.request.path + " " + ex.request.query_param("a").value_or("-") + " " +
             ex.request.body;
    ex.respond(r);
  });
  ASSERT_TRUE(server.start().ok());
  Client unix_client("unix://" + sock_path());
  auto r = unix_client.request("POST", "/v1.41/x%20y?a=b%26c", "hello");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "POST /v1.41/x y b&c hello");
  // Keep-alive reuse.
  EXPECT_TRUE(unix_client.request("GET", "/again").ok());
  Client tcp_client("http://127.0.0.1:" + std::to_string(server.bound_ports()[0]));
  auto t = tcp_client.request("GET", "/t");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->body, "GET /t - ");
  server.stop();
  EXPECT_FALSE(Client("unix://" + sock_path()).request("GET", "/").ok());
}

// The Host header carries the port unless it is the scheme's default: a
// registry builds the upload URLs it answers from it.
TEST(Http, HostHeaderNamesThePort) {
  Server server({{"tcp://127.0.0.1:0"}, 1, 2}, [](Exchange ex) {
    Response r;
    auto h = ex.request.headers.find("Host");
    r.body = h == ex.request.headers.end() ? "-" : h->second;
    ex.respond(r);
  });
  ASSERT_TRUE(server.start().ok());
  const std::string hp = "127.0.0.1:" + std::to_string(server.bound_ports()[0]);
  auto r = Client("http://" + hp + "/v2/").request("GET", "/h");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->body, hp);
  server.stop();
}

TEST(Http, LongPollsAnsweredLaterFromAnotherThread) {
  std::mutex mu;
  std::vector<Responder> pending;
  Server server({{"unix://" + sock_path()}, 2, 2}, [&](Exchange ex) {
    std::lock_guard lk(mu);
    pending.push_back(std::move(ex.respond));
  });
  ASSERT_TRUE(server.start().ok());
  constexpr int kN = 200;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kN; ++i) {
    clients.emplace_back([&] {
      Client c("unix://" + sock_path());
      auto r = c.request("GET", "/poll");
      if (r.ok() && r->body == "done") ok++;
    });
  }
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard lk(mu);
      if (pending.size() == kN) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::thread answer([&] {
    std::lock_guard lk(mu);
    Response r;
    r.body = "done";
    for (auto& p : pending) p(r);
  });
  answer.join();
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), kN);
}

TEST(Http, StreamsChunks) {
  Server server({{"unix://" + sock_path()}, 1, 2}, [](Exchange ex) {
    auto s = ex.start_stream(200, {});
    for (int i = 0; i < 5; ++i) s->write("line" + std::to_string(i) + "\n");
    s->close();
  });
  ASSERT_TRUE(server.start().ok());
  Client c("unix://" + sock_path());
  std::string all;
  std::atomic<bool> cancel{false};
  int status = 0;
  ASSERT_TRUE(c.stream("GET", "/s", "", [&](const std::string& d) { all += d; return true; }, cancel, &status).ok());
  EXPECT_EQ(status, 200);
  EXPECT_EQ(all, "line0\nline1\nline2\nline3\nline4\n");
}

}  // namespace
}  // namespace shoal::http
