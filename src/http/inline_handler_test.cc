// ServerOptions::inline_handler: requests it answers are answered on the I/O
// thread, also while every worker is held by slow handlers (the leader
// probe's route on a busy leader); what it declines goes to the workers.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "http/client.h"
#include "http/server.h"

namespace shoal::http {
namespace {

using namespace std::chrono_literals;

// Holds every handler of "/slow" until release(); counts those running.
class Gate {
 public:
  void hold() {
    std::unique_lock lk(mu_);
    ++held_;
    cv_.notify_all();
    cv_.wait(lk, [&] { return open_; });
  }
  bool wait_held(int n) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, 5s, [&] { return held_ >= n; });
  }
  void release() {
    std::lock_guard lk(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int held_ = 0;
  bool open_ = false;
};

class InlineHandlerTest : public ::testing::Test {
 protected:
  void start(bool with_inline) {
    ServerOptions o;
    o.listen = {"tcp://127.0.0.1:0"};
    o.io_threads = 1;
    o.worker_threads = 2;
    if (with_inline) {
      o.inline_handler = [](const Request& r) -> std::optional<Response> {
        if (r.path == "/boom") throw std::runtime_error("inline failure");
        if (r.path != "/probe") return std::nullopt;
        return Response{200, {}, "alive"};
      };
    }
    server_ = std::make_unique<Server>(o, [this](Exchange ex) {
      if (ex.request.path == "/slow") gate_.hold();
      ex.respond({200, {}, "worker " + ex.request.path});
    });
    ASSERT_TRUE(server_->start().ok());
    endpoint_ = "http://127.0.0.1:" + std::to_string(server_->bound_ports().at(0));
  }
  // Every worker held by a slow request, and more queued behind them.
  void occupy_workers() {
    for (int i = 0; i < 4; ++i) {
      slow_.emplace_back([this] { (void)Client(endpoint_).request("GET", "/slow", "", {}, 10s); });
    }
    ASSERT_TRUE(gate_.wait_held(2)) << "the slow requests never reached the workers";
  }
  void TearDown() override {
    gate_.release();
    for (auto& t : slow_) t.join();
    if (server_) server_->stop();
  }
  Gate gate_;
  std::unique_ptr<Server> server_;
  std::string endpoint_;
  std::vector<std::thread> slow_;
};

TEST_F(InlineHandlerTest, AnInlineRouteIsAnsweredWhileEveryWorkerIsBusy) {
  start(true);
  occupy_workers();
  Client probe(endpoint_);
  for (int i = 0; i < 5; ++i) {  // on one kept-alive connection, as LeaderProbe does
    auto r = probe.request("GET", "/probe", "", {}, 300ms);
    ASSERT_TRUE(r.ok()) << "probe " << i << ": " << r.status().message();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "alive");
  }
  // A route the inline handler declines waits for a worker.
  auto other = Client(endpoint_).request("GET", "/other", "", {}, 300ms);
  EXPECT_FALSE(other.ok()) << "a declined request was answered without a worker";
}

// What the test above guards against: without the inline handler the same
// request waits behind the busy workers past the probe's deadline.
TEST_F(InlineHandlerTest, WithoutItTheSameRequestWaitsForAWorker) {
  start(false);
  occupy_workers();
  auto r = Client(endpoint_).request("GET", "/probe", "", {}, 300ms);
  EXPECT_FALSE(r.ok()) << "answered with every worker busy";
}

TEST_F(InlineHandlerTest, DeclinedRequestsGoToTheWorkersAndAThrowIsA500) {
  start(true);
  auto r = Client(endpoint_).request("GET", "/other", "", {}, 5s);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->body, "worker /other");
  auto boom = Client(endpoint_).request("GET", "/boom", "", {}, 5s);
  ASSERT_TRUE(boom.ok()) << boom.status().message();
  EXPECT_EQ(boom->status, 500);
  EXPECT_NE(boom->body.find("inline failure"), std::string::npos) << boom->body;
  auto again = Client(endpoint_).request("GET", "/probe", "", {}, 5s);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->body, "alive");
}

}  // namespace
}  // namespace shoal::http
