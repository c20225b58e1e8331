// The client never resends a non-idempotent request by itself. A raw unix
// socket server (no Beast) plays a server that closes a kept-alive
// connection right after reading the next request on it, unanswered: the
// race a stale pooled connection creates, made deterministic.
#include "http/client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace shoal::http {
namespace {

constexpr char kOk[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok";

class RawServer {
 public:
  RawServer() : path_("/tmp/shoal-client-test-" + std::to_string(getpid()) + ".sock") {
    unlink(path_.c_str());
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(fd_, 8), 0);
  }
  ~RawServer() {
    close(fd_);
    unlink(path_.c_str());
  }
  std::string endpoint() const { return "unix://" + path_; }
  int accept_one() {
    int c = accept(fd_, nullptr, nullptr);
    if (c >= 0) ++connections;
    return c;
  }
  // Reads one request (headers and a Content-Length body) from c.
  bool read_request(int c) {
    std::string data;
    char buf[4096];
    while (true) {
      auto end = data.find("\r\n\r\n");
      if (end != std::string::npos) {
        size_t len = 0;
        auto cl = data.find("Content-Length: ");
        if (cl != std::string::npos && cl < end) len = std::stoul(data.substr(cl + 16));
        if (data.size() >= end + 4 + len) break;
      }
      ssize_t n = read(c, buf, sizeof buf);
      if (n <= 0) return false;
      data.append(buf, static_cast<size_t>(n));
    }
    ++requests;
    return true;
  }
  std::atomic<int> connections{0};
  std::atomic<int> requests{0};

 private:
  std::string path_;
  int fd_ = -1;
};

void send_all(int c, const std::string& s) { ASSERT_EQ(write(c, s.data(), s.size()), static_cast<ssize_t>(s.size())); }

// First request answered and kept alive; the second read, then the
// connection closed unanswered. Any further connection is answered.
void serve_then_drop(RawServer& srv, std::atomic<bool>& stop) {
  int c = srv.accept_one();
  ASSERT_TRUE(srv.read_request(c));
  send_all(c, kOk);
  ASSERT_TRUE(srv.read_request(c));
  close(c);
  while (!stop) {
    int d = srv.accept_one();
    if (d < 0 || stop) {
      if (d >= 0) close(d);
      return;
    }
    if (srv.read_request(d)) send_all(d, kOk);
    close(d);
  }
}

void unblock_accept(RawServer& srv, std::atomic<bool>& stop) {
  stop = true;
  Client poke(srv.endpoint());
  (void)poke.request("GET", "/stop", "", {}, std::chrono::milliseconds(200));
}

TEST(ClientRetry, NonIdempotentRequestIsNotResentAndReportsOutcomeUnknown) {
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH"}) {
    RawServer srv;
    std::atomic<bool> stop{false};
    std::thread t([&] { serve_then_drop(srv, stop); });
    Client c(srv.endpoint());
    auto first = c.request(method, "/a", "x");
    ASSERT_TRUE(first.ok()) << first.status().message();
    auto second = c.request(method, "/b", "y");
    ASSERT_FALSE(second.ok()) << method;
    EXPECT_TRUE(Client::outcome_unknown(second.status())) << second.status().message();
    EXPECT_NE(second.status().message().find("may or may not have been applied"), std::string::npos);
    EXPECT_EQ(srv.requests.load(), 2) << method << " was sent again";
    EXPECT_EQ(srv.connections.load(), 1);
    unblock_accept(srv, stop);
    t.join();
  }
}

TEST(ClientRetry, IdempotentRequestIsResentOnAFreshConnection) {
  for (auto [method, idem] : {std::pair{"GET", Idempotent::kByMethod}, std::pair{"POST", Idempotent::kYes}}) {
    RawServer srv;
    std::atomic<bool> stop{false};
    std::thread t([&] { serve_then_drop(srv, stop); });
    Client c(srv.endpoint());
    ASSERT_TRUE(c.request(method, "/a", "", {}, std::chrono::seconds(5), idem).ok());
    auto second = c.request(method, "/b", "", {}, std::chrono::seconds(5), idem);
    ASSERT_TRUE(second.ok()) << second.status().message();
    EXPECT_EQ(second->body, "ok");
    EXPECT_EQ(srv.requests.load(), 3);  // the lost one, and once more on a new connection
    EXPECT_EQ(srv.connections.load(), 2);
    unblock_accept(srv, stop);
    t.join();
  }
}

TEST(ClientRetry, PooledConnectionClosedWhileIdleIsReplacedBeforeSending) {
  RawServer srv;
  std::atomic<bool> closed{false};
  std::thread t([&] {
    int c = srv.accept_one();
    ASSERT_TRUE(srv.read_request(c));
    send_all(c, kOk);
    close(c);  // the server ends the idle connection
    closed = true;
    int d = srv.accept_one();
    if (srv.read_request(d)) send_all(d, kOk);
    close(d);
  });
  Client c(srv.endpoint());
  ASSERT_TRUE(c.request("POST", "/a", "x").ok());
  while (!closed) std::this_thread::yield();
  auto second = c.request("POST", "/b", "y");
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(srv.requests.load(), 2);
  EXPECT_EQ(srv.connections.load(), 2);
  t.join();
}

TEST(ClientRetry, ConnectFailureIsNotOutcomeUnknown) {
  Client c("unix:///tmp/shoal-client-test-no-such.sock");
  auto r = c.request("POST", "/a", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(Client::outcome_unknown(r.status()));
}

// cancel() ends every request in flight at once, on pooled and on fresh
// connections alike (here five, one of them on the pooled connection), and
// later requests fail without being sent.
TEST(ClientCancel, EveryRequestInFlightReturnsAtOnce) {
  RawServer srv;
  constexpr int kRequests = 5;
  std::vector<std::thread> holders;  // one per connection: reads, answers only the first request
  std::mutex mu;
  std::vector<int> fds;
  std::atomic<bool> stop{false};
  std::thread acceptor([&] {
    for (bool first = true;; first = false) {
      int fd = srv.accept_one();
      if (fd < 0 || stop) {
        if (fd >= 0) close(fd);
        return;
      }
      {
        std::lock_guard lk(mu);
        fds.push_back(fd);
      }
      holders.emplace_back([&srv, fd, first] {
        if (first && srv.read_request(fd)) send_all(fd, kOk);  // kept alive: pooled by the client
        while (srv.read_request(fd)) {
        }  // never answered; ends when the client closes
      });
    }
  });
  Client c(srv.endpoint());
  ASSERT_TRUE(c.request("POST", "/first", "x").ok());
  std::atomic<int> cancelled{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < kRequests; ++i) {
    callers.emplace_back([&] {
      auto r = c.request("POST", "/poll", "x", {}, std::chrono::seconds(30));
      // Sent, then cut off: the server may have applied it.
      if (!r.ok() && r.status().message().find("cancelled") != std::string::npos && Client::outcome_unknown(r.status())) {
        ++cancelled;
      }
    });
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (srv.requests.load() < 1 + kRequests && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_EQ(srv.requests.load(), 1 + kRequests);
  EXPECT_EQ(srv.connections.load(), kRequests) << "one request should have reused the pooled connection";
  auto t0 = std::chrono::steady_clock::now();
  c.cancel();
  for (auto& t : callers) t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_EQ(cancelled.load(), kRequests);
  auto later = c.request("GET", "/later");
  ASSERT_FALSE(later.ok());
  EXPECT_NE(later.status().message().find("cancelled"), std::string::npos);
  EXPECT_FALSE(Client::outcome_unknown(later.status())) << "nothing was sent";
  EXPECT_EQ(srv.requests.load(), 1 + kRequests) << "a request after cancel() was sent";
  stop = true;
  Client poke(srv.endpoint());
  (void)poke.request("GET", "/stop", "", {}, std::chrono::milliseconds(200));
  acceptor.join();
  for (auto& t : holders) t.join();
  std::lock_guard lk(mu);
  for (int fd : fds) close(fd);
}

// A stream whose request cannot be written (the server never reads) ends at
// once on cancel(), not after the 10 s write timeout (~EtcdWatch on a hung etcd).
TEST(ClientCancel, AStreamStuckWritingEndsAtOnce) {
  RawServer srv;
  std::atomic<int> fd{-1};
  std::thread acceptor([&] { fd = srv.accept_one(); });
  Client c(srv.endpoint());
  std::atomic<bool> cancel{false};
  Status st;
  std::thread streamer([&] {
    st = c.stream("POST", "/v3/watch", std::string(64 << 20, 'x'), [](const std::string&) { return true; }, cancel);
  });
  acceptor.join();
  ASSERT_GE(fd.load(), 0);
  auto t0 = std::chrono::steady_clock::now();
  cancel = true;
  c.cancel();
  streamer.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_TRUE(st.ok()) << st.message();
  close(fd);
}

TEST(ClientTls, BadFilesAreAClearError) {
  Client c("https://127.0.0.1:1", TlsOptions{"/nonexistent/ca.crt", "", ""});
  auto r = c.request("GET", "/");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/ca.crt"), std::string::npos);
  EXPECT_EQ(Client("https://127.0.0.1:1").request("GET", "/").status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace shoal::http
