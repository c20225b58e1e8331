// Server limits and concurrency: timeouts with short configured values, 413s,
// the connection cap, handlers that throw, long polls answered concurrently
// from other threads and cancelled by stop(). Clients are raw sockets so each
// test controls exactly what reaches the server; every wait has a deadline.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "http/server.h"

namespace shoal::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string sock_path() { return "/tmp/shoal-server-test-" + std::to_string(getpid()) + ".sock"; }

// A blocking unix-socket client with deadlines on every read.
class Raw {
 public:
  explicit Raw(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof(a.sun_path), "%s", path.c_str());
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~Raw() { ::close(fd_); }
  bool ok() const { return ok_; }
  bool send(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // Reads until `done(data)` or the peer closes or the deadline passes.
  // Returns what arrived; *closed tells whether the peer closed.
  std::string read_until(const std::function<bool(const std::string&)>& done, std::chrono::milliseconds limit,
                         bool* closed = nullptr) {
    auto deadline = Clock::now() + limit;
    if (closed) *closed = false;
    while (!done(data_)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
      char b[4096];
      ssize_t n = ::recv(fd_, b, sizeof(b), 0);
      if (n <= 0) {
        if (closed) *closed = true;
        break;
      }
      data_.append(b, static_cast<size_t>(n));
    }
    return data_;
  }
  // One complete response (headers and a Content-Length body).
  std::string response(std::chrono::milliseconds limit = 5s) {
    auto complete = [](const std::string& d) {
      auto end = d.find("\r\n\r\n");
      if (end == std::string::npos) return false;
      auto cl = d.find("Content-Length: ");
      if (cl == std::string::npos || cl > end) return true;
      return d.size() >= end + 4 + std::stoul(d.substr(cl + 16));
    };
    std::string r = read_until(complete, limit);
    data_.clear();
    return r;
  }
  void shut_write() { ::shutdown(fd_, SHUT_WR); }
  // True if the server closes the connection within `limit`.
  bool closed_within(std::chrono::milliseconds limit) {
    bool closed = false;
    read_until([](const std::string&) { return false; }, limit, &closed);
    return closed;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
  std::string data_;
};

ServerOptions opts() {
  ServerOptions o;
  o.listen = {"unix://" + sock_path()};
  o.io_threads = 2;
  o.worker_threads = 2;
  return o;
}

void echo(Exchange ex) {
  Response r;
  r.body = ex.request.method + " " + ex.request.path + " " + std::to_string(ex.request.body.size());
  ex.respond(r);
}

const char kGet[] = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";

TEST(Server, HeadersMustArriveWithinTheHeaderTimeout) {
  auto o = opts();
  o.header_timeout = 200ms;
  Server s(o, echo);
  ASSERT_TRUE(s.start().ok());
  Raw slow(sock_path());
  ASSERT_TRUE(slow.send("GET /x HTTP/1.1\r\nHost: a\r\n"));  // never finishes its headers
  auto t0 = Clock::now();
  EXPECT_TRUE(slow.closed_within(5s));
  EXPECT_LT(Clock::now() - t0, 3s);
  // The server still answers others.
  Raw other(sock_path());
  ASSERT_TRUE(other.send(kGet));
  EXPECT_NE(other.response().find("200 OK"), std::string::npos);
}

TEST(Server, AnIdleKeptAliveConnectionIsClosed) {
  auto o = opts();
  o.idle_timeout = 200ms;
  Server s(o, echo);
  ASSERT_TRUE(s.start().ok());
  Raw c(sock_path());
  ASSERT_TRUE(c.send(kGet));
  EXPECT_NE(c.response().find("GET /x 0"), std::string::npos);
  EXPECT_TRUE(c.closed_within(5s));
}

TEST(Server, ABodyThatStopsArrivingIsDropped) {
  auto o = opts();
  o.body_timeout = 200ms;
  Server s(o, echo);
  ASSERT_TRUE(s.start().ok());
  Raw c(sock_path());
  ASSERT_TRUE(c.send("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly-some"));
  EXPECT_TRUE(c.closed_within(5s));
}

TEST(Server, OversizedHeadersGet413) {
  auto o = opts();
  o.header_limit = 1024;
  Server s(o, echo);
  ASSERT_TRUE(s.start().ok());
  Raw c(sock_path());
  // Far more than the limit: the client is still sending when the answer
  // comes, and must still read it (no reset before the answer).
  ASSERT_TRUE(c.send("GET /x HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(4 << 20, 'a') + "\r\n\r\n"));
  std::string r = c.response();
  EXPECT_NE(r.find("413"), std::string::npos) << r;
  EXPECT_NE(r.find("request headers are larger than 1024 bytes"), std::string::npos) << r;
}

TEST(Server, OversizedBodiesGet413AndRoutesMayAllowMore) {
  auto o = opts();
  o.body_limit = 1000;
  o.route_body_limit = [](const std::string& method, const std::string& path) -> uint64_t {
    return method == "POST" && path == "/upload" ? 100000 : 0;
  };
  Server s(o, echo);
  ASSERT_TRUE(s.start().ok());
  {  // Known length: refused before the body is read.
    Raw c(sock_path());
    ASSERT_TRUE(c.send("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n"));
    std::string r = c.response();
    EXPECT_NE(r.find("413"), std::string::npos) << r;
    EXPECT_NE(r.find("larger than 1000 bytes"), std::string::npos) << r;
  }
  {  // Chunked: refused when the limit is crossed.
    Raw c(sock_path());
    std::string chunk(800, 'x');
    ASSERT_TRUE(c.send("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n" + chunk +
                       "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n"));
    EXPECT_NE(c.response().find("413"), std::string::npos);
  }
  {  // The upload route takes more.
    Raw c(sock_path());
    ASSERT_TRUE(c.send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'y')));
    EXPECT_NE(c.response().find("POST /upload 5000"), std::string::npos);
  }
}

TEST(Server, ExcessConnectionsGet503AtOnceWithoutBlockingOthers) {
  auto o = opts();
  o.max_connections = 2;
  Server s(o, echo);
  ASSERT_TRUE(s.start().ok());
  Raw a(sock_path()), b(sock_path());
  ASSERT_TRUE(a.send(kGet));
  ASSERT_NE(a.response().find("200"), std::string::npos);
  ASSERT_TRUE(b.send(kGet));
  ASSERT_NE(b.response().find("200"), std::string::npos);
  Raw c(sock_path());
  std::string r = c.response(2s);
  EXPECT_NE(r.find("503"), std::string::npos) << r;
  EXPECT_NE(r.find("too many connections"), std::string::npos) << r;
  // The two open connections still work.
  ASSERT_TRUE(a.send(kGet));
  EXPECT_NE(a.response().find("200"), std::string::npos);
}

TEST(Server, StuckClientsCannotHoldTheApi) {
  auto o = opts();
  o.max_connections = 4;
  o.header_timeout = 200ms;
  Server s(o, echo);
  ASSERT_TRUE(s.start().ok());
  std::vector<std::unique_ptr<Raw>> stuck;
  for (int i = 0; i < 4; ++i) {
    stuck.push_back(std::make_unique<Raw>(sock_path()));
    ASSERT_TRUE(stuck.back()->send("GET /x HTTP/1.1\r\n"));
  }
  for (auto& r : stuck) EXPECT_TRUE(r->closed_within(5s));
  // Freed slots are reused once the server has closed its side.
  auto deadline = Clock::now() + 5s;
  while (s.connections() > 0 && Clock::now() < deadline) std::this_thread::yield();
  Raw fresh(sock_path());
  ASSERT_TRUE(fresh.send(kGet));
  EXPECT_NE(fresh.response().find("200 OK"), std::string::npos);
}

TEST(Server, AHandlerThatThrowsGets500AndTheServerGoesOn) {
  Server s(opts(), [](Exchange ex) {
    if (ex.request.path == "/boom") throw std::runtime_error("kaboom");
    echo(std::move(ex));
  });
  ASSERT_TRUE(s.start().ok());
  Raw c(sock_path());
  ASSERT_TRUE(c.send("GET /boom HTTP/1.1\r\nHost: a\r\n\r\n"));
  std::string r = c.response();
  EXPECT_NE(r.find("500"), std::string::npos) << r;
  EXPECT_NE(r.find("internal error: kaboom"), std::string::npos) << r;
  ASSERT_TRUE(c.send(kGet));  // same connection, kept alive
  EXPECT_NE(c.response().find("GET /x 0"), std::string::npos);
}

TEST(Server, MalformedRequestsGet400) {
  Server s(opts(), echo);
  ASSERT_TRUE(s.start().ok());
  Raw c(sock_path());
  ASSERT_TRUE(c.send("GARBAGE\r\n\r\n"));
  EXPECT_NE(c.response().find("400"), std::string::npos);
}

// Every answer comes from another thread, racing the connection's switch to
// waiting; a lost wake-up leaves a client without its answer.
TEST(Server, LongPollsAnsweredConcurrentlyAreNeverLost) {
  auto o = opts();
  o.worker_threads = 4;
  Server s(o, [](Exchange ex) {
    std::thread([respond = std::move(ex.respond)] {
      Response r;
      r.body = "done";
      respond(r);
    }).detach();
  });
  ASSERT_TRUE(s.start().ok());
  constexpr int kClients = 8, kRequests = 300;
  std::atomic<int> answered{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      Raw c(sock_path());
      for (int k = 0; k < kRequests; ++k) {
        if (!c.send(kGet)) return;
        if (c.response(5s).find("done") == std::string::npos) return;
        answered++;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(answered.load(), kClients * kRequests);
}

TEST(Server, StopCancelsPendingLongPollsAndLateAnswersAreHarmless) {
  std::mutex mu;
  std::vector<Responder> pending;
  auto server = std::make_unique<Server>(opts(), [&](Exchange ex) {
    std::lock_guard lk(mu);
    pending.push_back(std::move(ex.respond));
  });
  ASSERT_TRUE(server->start().ok());
  std::vector<std::unique_ptr<Raw>> polls;
  for (int i = 0; i < 20; ++i) {
    polls.push_back(std::make_unique<Raw>(sock_path()));
    ASSERT_TRUE(polls.back()->send(kGet));
  }
  auto deadline = Clock::now() + 5s;
  for (;;) {
    {
      std::lock_guard lk(mu);
      if (pending.size() == polls.size() || Clock::now() > deadline) break;
    }
    std::this_thread::yield();
  }
  auto t0 = Clock::now();
  server->stop();
  EXPECT_LT(Clock::now() - t0, 2s);
  for (auto& p : polls) EXPECT_TRUE(p->closed_within(2s));
  server.reset();
  std::lock_guard lk(mu);
  for (auto& r : pending) r(Response{});  // after the server is gone: a no-op
}

// A temporary directory for spooled uploads, removed with what is left in it.
struct SpoolDir {
  std::string path;
  SpoolDir() {
    std::string t = "/tmp/shoal-spool-test-XXXXXX";
    path = ::mkdtemp(t.data()) ? t : "";
  }
  ~SpoolDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  size_t files() const {
    std::error_code ec;
    size_t n = 0;
    for (auto it = std::filesystem::directory_iterator(path, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec))
      ++n;
    return n;
  }
};

ServerOptions spool_opts(const SpoolDir& d, uint64_t limit) {
  auto o = opts();
  o.route_body_limit = [limit](const std::string&, const std::string& path) -> uint64_t {
    return path == "/upload" ? limit : 0;
  };
  o.route_body_spool = [dir = d.path](const std::string&, const std::string& path) {
    return path == "/upload" ? dir : std::string();
  };
  return o;
}

// The 413 of a spooled body crossing its limit names the route (its message
// was built from the parser the spool had moved away).
TEST(Server, ASpooledBodyOverItsLimitGets413NamingTheRoute) {
  SpoolDir d;
  ASSERT_FALSE(d.path.empty());
  Server s(spool_opts(d, 1000), echo);
  ASSERT_TRUE(s.start().ok());
  Raw c(sock_path());
  std::string chunk(800, 'x');
  ASSERT_TRUE(c.send("POST /upload?x=1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n320\r\n" + chunk +
                     "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n"));
  std::string r = c.response();
  EXPECT_NE(r.find("413"), std::string::npos) << r;
  EXPECT_NE(r.find("larger than 1000 bytes, the limit of POST /upload\""), std::string::npos) << r;
  EXPECT_TRUE(c.closed_within(5s));
  auto deadline = Clock::now() + 5s;
  while (d.files() > 0 && Clock::now() < deadline) std::this_thread::yield();
  EXPECT_EQ(d.files(), 0u);
}

// A partial upload is removed when the server stops in the middle of it.
// Here stop() closes the connection and the upload's coroutine resumes with an
// error, which removed the file before the RAII guard too; the test below is
// the one that needs the guard.
TEST(Server, StopRemovesAPartialUpload) {
  SpoolDir d;
  ASSERT_FALSE(d.path.empty());
  auto s = std::make_unique<Server>(spool_opts(d, 1 << 20), echo);
  ASSERT_TRUE(s->start().ok());
  Raw c(sock_path());
  ASSERT_TRUE(c.send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" + std::string(5000, 'y')));
  auto deadline = Clock::now() + 5s;
  while (d.files() == 0 && Clock::now() < deadline) std::this_thread::yield();
  ASSERT_EQ(d.files(), 1u) << "the upload was not spooled";
  s->stop();
  EXPECT_EQ(d.files(), 0u) << "stop() left the partial upload behind";
  s.reset();
  EXPECT_EQ(d.files(), 0u);
}

// The upload's coroutine frame is destroyed without ever resuming: its I/O
// thread is held (in another connection's route_body_limit) past stop()'s 5 s
// wait for connections to end, so stop() stops the context with the upload's
// close still queued and the frame goes with the context. Without the RAII
// guard in spool_body the file stayed behind. Takes about 6 s.
TEST(Server, AnUploadWhoseCoroutineNeverResumesIsRemoved) {
  SpoolDir d;
  ASSERT_FALSE(d.path.empty());
  std::mutex mu;
  std::condition_variable cv;
  bool held = false, release = false;
  auto o = spool_opts(d, 1 << 20);
  o.io_threads = 1;  // both connections on the one context
  o.route_body_limit = [&](const std::string&, const std::string& path) -> uint64_t {
    if (path == "/hold") {
      std::unique_lock lk(mu);
      held = true;
      cv.notify_all();
      cv.wait_for(lk, 20s, [&] { return release; });
    }
    return path == "/upload" ? (1 << 20) : 0;
  };
  auto s = std::make_unique<Server>(o, echo);
  ASSERT_TRUE(s->start().ok());
  Raw up(sock_path());
  ASSERT_TRUE(up.send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" + std::string(5000, 'y')));
  auto deadline = Clock::now() + 5s;
  while (d.files() == 0 && Clock::now() < deadline) std::this_thread::yield();
  ASSERT_EQ(d.files(), 1u) << "the upload was not spooled";
  Raw hold(sock_path());
  ASSERT_TRUE(hold.send("POST /hold HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n"));
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, 5s, [&] { return held; }));
  }
  auto started = Clock::now();
  std::thread stopper([&] { s->stop(); });
  std::this_thread::sleep_until(started + 6500ms);  // past stop()'s 5 s wait: the context is stopped
  {
    std::lock_guard lk(mu);
    release = true;
  }
  cv.notify_all();
  stopper.join();
  s.reset();  // the context, and the upload's unresumed frame with it
  EXPECT_EQ(d.files(), 0u) << "the partial upload of a coroutine that never resumed was left behind";
}

// stop() closes the listeners before it returns, also when no connection is
// open (a close merely posted to the io_context could be dropped by its stop).
TEST(Server, StopClosesTheListenersBeforeReturning) {
  for (int i = 0; i < 20; ++i) {
    ServerOptions o;
    o.listen = {"tcp://127.0.0.1:0"};
    Server s(o, echo);
    ASSERT_TRUE(s.start().ok());
    int port = s.bound_ports().at(0);
    s.stop();
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::close(fd);
    EXPECT_NE(rc, 0) << "round " << i << ": port " << port << " still accepts after stop()";
  }
}

}  // namespace
}  // namespace shoal::http

namespace shoal::http {
namespace {

// Reads from `fd` until `want` bytes or EOF or 5 s; *eof tells which.
std::string read_fd(int fd, size_t want, bool* eof) {
  std::string got;
  *eof = false;
  auto deadline = Clock::now() + 5s;
  while (got.size() < want && Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char b[256];
    ssize_t n = ::read(fd, b, sizeof(b));
    if (n <= 0) {
      *eof = true;
      break;
    }
    got.append(b, static_cast<size_t>(n));
  }
  return got;
}

// A hijacking handler over two pipes the test holds the other ends of.
struct Pipes {
  int in[2] = {-1, -1};   // the server writes the client's bytes to in[1]
  int out[2] = {-1, -1};  // the server sends what the test writes to out[1]
  Pipes() {
    EXPECT_EQ(::pipe2(in, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
  }
  ~Pipes() {
    for (int fd : {in[0], out[1]})
      if (fd >= 0) ::close(fd);
  }
  Handler handler() {
    return [this](Exchange ex) {
      Response r;
      r.status = 101;
      r.headers["Upgrade"] = "tcp";
      r.headers["Connection"] = "Upgrade";
      r.hijack = std::make_shared<Hijack>(in[1], out[0]);
      ex.respond(std::move(r));
    };
  }
};

const char kUpgrade[] = "POST /exec/x/start HTTP/1.1\r\nHost: a\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n";

TEST(Hijack, BytesFlowBothWaysAndEachSideEndsItsOwnDirection) {
  Pipes p;
  auto o = opts();
  o.idle_timeout = o.write_timeout = o.header_timeout = o.body_timeout = 100ms;  // none applies to the stream
  Server s(o, p.handler());
  ASSERT_TRUE(s.start().ok());
  Raw c(sock_path());
  ASSERT_TRUE(c.send(std::string(kUpgrade) + "early"));  // bytes right behind the request go in too
  std::string head = c.read_until([](const std::string& d) { return d.find("\r\n\r\n") != std::string::npos; }, 5s);
  EXPECT_EQ(head.rfind("HTTP/1.1 101", 0), 0u) << head;
  EXPECT_NE(head.find("Upgrade: tcp"), std::string::npos);
  EXPECT_EQ(head.find("Content-Length"), std::string::npos);
  bool eof = false;
  EXPECT_EQ(read_fd(p.in[0], 5, &eof), "early");
  std::this_thread::sleep_for(300ms);  // longer than every timeout: the stream is not cut
  ASSERT_TRUE(c.send("more"));
  EXPECT_EQ(read_fd(p.in[0], 4, &eof), "more");
  ASSERT_EQ(::write(p.out[1], "hello", 5), 5);
  std::string got = c.read_until([&](const std::string& d) { return d.size() >= head.size() + 5; }, 5s);
  EXPECT_EQ(got.substr(head.size()), "hello");
  c.shut_write();  // the client's EOF closes the input; output still flows
  read_fd(p.in[0], 1, &eof);
  EXPECT_TRUE(eof);
  ASSERT_EQ(::write(p.out[1], "bye", 3), 3);
  ::close(p.out[1]);
  p.out[1] = -1;
  bool closed = false;
  got = c.read_until([](const std::string&) { return false; }, 5s, &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(got.substr(head.size()), "hellobye");
}

TEST(Hijack, StopEndsAnIdleStream) {
  Pipes p;
  Server s(opts(), p.handler());
  ASSERT_TRUE(s.start().ok());
  Raw c(sock_path());
  ASSERT_TRUE(c.send(kUpgrade));
  c.read_until([](const std::string& d) { return d.find("\r\n\r\n") != std::string::npos; }, 5s);
  auto t0 = Clock::now();
  s.stop();
  EXPECT_LT(Clock::now() - t0, 3s);
  EXPECT_TRUE(c.closed_within(5s));
  bool eof = false;
  read_fd(p.in[0], 1, &eof);
  EXPECT_TRUE(eof);  // the server let go of the input
}

}  // namespace
}  // namespace shoal::http
