// Exchange::on_client_gone: a handler that parks a request (a long poll)
// learns within moments that its client closed, half-closed or reset the
// connection, over unix, TCP and TLS (close_notify or a bare close); a
// watched exchange still serves a pipelined request and a kept-alive
// connection; stop() counts as the client going. Clients are raw sockets
// (OpenSSL for TLS) so each test controls what reaches the server; every
// wait has a deadline.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/server.h"
#include "manager/ca/node_certs.h"
#include "manager/ca/root_ca.h"

namespace shoal::http {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

std::string sock_path() { return "/tmp/shoal-client-gone-test-" + std::to_string(getpid()) + ".sock"; }

// A handler that parks "/poll" (registering a client-gone callback) and
// answers everything else at once; counts registrations and callbacks.
struct Parker {
  std::mutex mu;
  std::condition_variable cv;
  int registered = 0;  // under mu
  int gone = 0;        // under mu
  std::vector<Responder> parked;  // under mu

  Handler handler() {
    return [this](Exchange ex) {
      if (ex.request.path != "/poll") {
        ex.respond({200, {}, "answered " + ex.request.path});
        return;
      }
      {
        std::lock_guard lk(mu);
        parked.push_back(std::move(ex.respond));
      }
      ASSERT_TRUE(ex.on_client_gone);
      ex.on_client_gone([this] {
        std::lock_guard lk(mu);
        ++gone;
        cv.notify_all();
      });
      std::lock_guard lk(mu);
      ++registered;
      cv.notify_all();
    };
  }
  bool wait(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, limit, pred);
  }
  bool registered_within(int n, std::chrono::milliseconds limit) {
    return wait([&] { return registered >= n; }, limit);
  }
  bool gone_within(int n, std::chrono::milliseconds limit) {
    return wait([&] { return gone >= n; }, limit);
  }
  int gone_now() {
    std::lock_guard lk(mu);
    return gone;
  }
  int registered_now() {
    std::lock_guard lk(mu);
    return registered;
  }
  // Answers the oldest parked poll.
  void answer(const std::string& body) {
    Responder r;
    {
      std::lock_guard lk(mu);
      r = std::move(parked.front());
      parked.erase(parked.begin());
    }
    r({200, {}, body});
  }
};

// One complete response at the start of `d` (headers and a Content-Length
// body): its length, or 0.
size_t complete_response(const std::string& d) {
  auto end = d.find("\r\n\r\n");
  if (end == std::string::npos) return 0;
  auto cl = d.find("Content-Length: ");
  size_t len = cl == std::string::npos || cl > end ? 0 : std::stoul(d.substr(cl + 16));
  return d.size() >= end + 4 + len ? end + 4 + len : 0;
}

enum class Transport { kUnix, kTcp, kTls };

// A blocking client; every read gives up after 5 s.
class Conn {
 public:
  Conn(Transport t, int port) : tls_(t == Transport::kTls) {
    if (t == Transport::kUnix) {
      fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock_path().c_str());
      ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    } else {
      fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<uint16_t>(port));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    }
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (ok_ && tls_) {
      ctx_ = SSL_CTX_new(TLS_client_method());
      ssl_ = SSL_new(ctx_);
      SSL_set_fd(ssl_, fd_);
      ok_ = SSL_connect(ssl_) == 1;
    }
  }
  ~Conn() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return ok_; }
  bool send(const std::string& s) {
    if (tls_) return SSL_write(ssl_, s.data(), static_cast<int>(s.size())) == static_cast<int>(s.size());
    return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  // The next complete response, or what came before the peer closed or 5 s passed.
  std::string response() {
    while (complete_response(data_) == 0) {
      char b[4096];
      ssize_t n = tls_ ? SSL_read(ssl_, b, sizeof b) : ::recv(fd_, b, sizeof b, 0);
      if (n <= 0) break;
      data_.append(b, static_cast<size_t>(n));
    }
    size_t n = complete_response(data_);
    std::string r = data_.substr(0, n ? n : data_.size());
    data_.erase(0, r.size());
    return r;
  }
  // How the client leaves.
  void close() { close_fd(); }
  void half_close() { ::shutdown(fd_, SHUT_WR); }
  void reset() {
    linger l{1, 0};  // close() sends an RST
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close_fd();
  }
  void close_notify_and_close() {
    SSL_shutdown(ssl_);
    close_fd();
  }

 private:
  void close_fd() {
    ::close(fd_);
    fd_ = -1;
  }
  bool tls_;
  int fd_ = -1;
  bool ok_ = false;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string data_;
};

struct Pki {
  ca::RootCA ca;
  ca::IssuedCert server;
};

Pki make_pki() {
  Pki p;
  p.ca = *ca::create_root_ca();
  ca::CertRequest sr;
  sr.common_name = "manager1";
  sr.ip_addresses = {"127.0.0.1"};
  sr.server_auth = true;
  p.server = *ca::issue_certificate(p.ca, sr);
  return p;
}

// A server with a Parker on one transport.
class ClientGoneTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.io_threads = 2;
    o.worker_threads = 2;
    switch (GetParam()) {
      case Transport::kUnix:
        o.listen = {"unix://" + sock_path()};
        break;
      case Transport::kTcp:
        o.listen = {"tcp://127.0.0.1:0"};
        break;
      case Transport::kTls: {
        Pki pki = make_pki();
        o.listen = {"tls://127.0.0.1:0"};
        o.tls = {pki.server.cert_pem, pki.server.key_pem, pki.ca.cert_pem};
        break;
      }
    }
    server_ = std::make_unique<Server>(o, parker_.handler());
    ASSERT_TRUE(server_->start().ok());
    if (GetParam() != Transport::kUnix) port_ = server_->bound_ports().at(0);
  }
  void TearDown() override { server_.reset(); }

  std::unique_ptr<Conn> connect() {
    auto c = std::make_unique<Conn>(GetParam(), port_);
    EXPECT_TRUE(c->ok());
    return c;
  }
  // A client with a parked long poll whose handler holds a callback.
  std::unique_ptr<Conn> parked_poll() {
    int before = parker_.registered_now();
    auto c = connect();
    EXPECT_TRUE(c->send("GET /poll HTTP/1.1\r\nHost: a\r\n\r\n"));
    EXPECT_TRUE(parker_.registered_within(before + 1, 5s));
    return c;
  }
  bool connections_drop_to_zero_within(std::chrono::milliseconds limit) {
    auto deadline = SteadyClock::now() + limit;
    while (server_->connections() > 0 && SteadyClock::now() < deadline) std::this_thread::yield();
    return server_->connections() == 0;
  }

  Parker parker_;
  std::unique_ptr<Server> server_;
  int port_ = 0;
};

// Before: nothing told the handler; a dropped long poll held its place
// (and its connection) until the handler answered it.
TEST_P(ClientGoneTest, AClientThatClosesIsReportedAtOnce) {
  auto c = parked_poll();
  EXPECT_EQ(parker_.gone_now(), 0) << "reported gone while it waits";
  if (GetParam() == Transport::kTls) {
    c->close_notify_and_close();
  } else {
    c->close();
  }
  EXPECT_TRUE(parker_.gone_within(1, 2s)) << "the handler never learnt that its client left";
  EXPECT_TRUE(connections_drop_to_zero_within(2s));
  parker_.answer("late");  // into the closed exchange: harmless
  EXPECT_EQ(parker_.gone_now(), 1);
}

TEST_P(ClientGoneTest, AClientThatResetsTheConnectionIsReported) {
  auto c = parked_poll();
  c->reset();  // for TLS: no close_notify either
  EXPECT_TRUE(parker_.gone_within(1, 2s));
  EXPECT_TRUE(connections_drop_to_zero_within(2s));
}

// As Go's server counts it (and the stock docker CLI never half-closes).
TEST_P(ClientGoneTest, AClientThatHalfClosesIsReported) {
  auto c = parked_poll();
  c->half_close();
  EXPECT_TRUE(parker_.gone_within(1, 2s));
}

// The watch reads (TLS) or peeks at (unix, TCP) what the client sends while
// its poll waits: a pipelined request is not lost, nor taken for a close.
TEST_P(ClientGoneTest, APipelinedRequestBehindAWatchedPollIsServed) {
  auto c = parked_poll();
  ASSERT_TRUE(c->send("GET /next HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_FALSE(parker_.gone_within(1, 200ms)) << "a pipelined request was taken for a close";
  parker_.answer("poll answered");
  std::string first = c->response();
  EXPECT_NE(first.find("poll answered"), std::string::npos) << first;
  std::string second = c->response();
  EXPECT_NE(second.find("answered /next"), std::string::npos) << second;
  c->close();
  EXPECT_TRUE(connections_drop_to_zero_within(2s));
  EXPECT_EQ(parker_.gone_now(), 0) << "answered exchanges never report their client gone";
}

// After the answer the watch is cancelled: the kept-alive connection serves
// the next request, and the answered poll's callback never runs.
TEST_P(ClientGoneTest, AnAnsweredPollKeepsItsConnection) {
  auto c = parked_poll();
  parker_.answer("poll answered");
  EXPECT_NE(c->response().find("poll answered"), std::string::npos);
  ASSERT_TRUE(c->send("GET /next HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_NE(c->response().find("answered /next"), std::string::npos);
  ASSERT_TRUE(c->send("GET /poll HTTP/1.1\r\nHost: a\r\n\r\n"));  // watched again
  ASSERT_TRUE(parker_.registered_within(2, 5s));
  c->close();
  EXPECT_TRUE(parker_.gone_within(1, 2s));
  EXPECT_EQ(parker_.gone_now(), 1) << "the first, answered poll was reported gone too";
}

TEST_P(ClientGoneTest, StopReportsEveryWaitingClientGone) {
  auto a = parked_poll();
  auto b = parked_poll();
  server_->stop();
  EXPECT_EQ(parker_.gone_now(), 2);
}

INSTANTIATE_TEST_SUITE_P(Transports, ClientGoneTest,
                         ::testing::Values(Transport::kUnix, Transport::kTcp, Transport::kTls),
                         [](const ::testing::TestParamInfo<Transport>& i) {
                           switch (i.param) {
                             case Transport::kUnix:
                               return std::string("Unix");
                             case Transport::kTcp:
                               return std::string("Tcp");
                             case Transport::kTls:
                               return std::string("Tls");
                           }
                           return std::string("?");
                         });

// A callback registered after the connection ended (here: the server
// stopped while the handler ran) runs at once, on the registering thread.
TEST(ClientGone, ACallbackRegisteredAfterTheClientLeftRunsAtOnce) {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false, ran = false;
  std::thread::id ran_on;
  ServerOptions o;
  o.listen = {"unix://" + sock_path()};
  Server s(o, [&](Exchange ex) {
    std::unique_lock lk(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lk, [&] { return release; });
    lk.unlock();
    ex.on_client_gone([&] {
      ran = true;
      ran_on = std::this_thread::get_id();
    });
    EXPECT_TRUE(ran);
    EXPECT_EQ(ran_on, std::this_thread::get_id());
  });
  ASSERT_TRUE(s.start().ok());
  Conn c(Transport::kUnix, 0);
  ASSERT_TRUE(c.send("GET /poll HTTP/1.1\r\nHost: a\r\n\r\n"));
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, 5s, [&] { return entered; }));
  }
  std::thread stopper([&] { s.stop(); });  // waits for the handler to return
  auto deadline = SteadyClock::now() + 5s;
  while (s.connections() > 0 && SteadyClock::now() < deadline) std::this_thread::yield();
  EXPECT_EQ(s.connections(), 0u);
  {
    std::lock_guard lk(mu);
    release = true;
  }
  cv.notify_all();
  stopper.join();
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace shoal::http
