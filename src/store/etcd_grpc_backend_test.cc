// EtcdGrpcBackend without an etcd: cancellation, configuration errors and an
// unreachable server. Its behaviour against a real etcd is tested in
// src/manager/etcd/etcd_member_test.cc (EtcdBackendTest.*).
#include "store/etcd_grpc_backend.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>

namespace shoal {
namespace {

// A listening socket on loopback that accepts connections and never answers:
// an etcd that hangs.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    ::listen(fd_, 8);
    socklen_t len = sizeof sa;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    port_ = ntohs(sa.sin_port);
  }
  ~SilentServer() {
    for (int c : accepted_) ::close(c);
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Accepts one connection, waiting at most 5 s; false if none came.
  bool accept_one() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) return false;
    int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return false;
    accepted_.push_back(c);
    return true;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::vector<int> accepted_;
};

// cancel() ends a call in flight on a hung etcd long before its deadline,
// fails later calls unsent, and resume() sends calls again (StopBound).
TEST(EtcdGrpcBackend, CancelEndsACallInFlightAndResumeSendsAgain) {
  SilentServer server;
  EtcdGrpcBackend b(server.url(), 128, {}, {std::chrono::seconds(30), std::chrono::seconds(30), std::chrono::seconds(30)});
  auto call = std::async(std::launch::async, [&] { return b.range("/x", false); });
  // The channel connects for its first call: once connected, the call is in flight.
  ASSERT_TRUE(server.accept_one()) << "the backend never connected";
  b.cancel();
  ASSERT_EQ(call.wait_for(std::chrono::seconds(5)), std::future_status::ready) << "cancel() did not end the call";
  auto r = call.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  auto unsent = b.lease_revoke(7);
  EXPECT_EQ(unsent.code(), Code::kUnavailable);
  EXPECT_NE(unsent.message().find("not sent"), std::string::npos) << unsent.message();
  b.resume();
  auto again = std::async(std::launch::async, [&] { return b.lease_keepalive(7); });
  EXPECT_EQ(again.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout)
      << "after resume() the call should be sent (and hang on the silent server)";
  b.cancel();
  ASSERT_EQ(again.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  Status st = again.get();
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_EQ(st.message().find("not sent"), std::string::npos) << st.message();
}

TEST(EtcdGrpcBackend, ADeadlineIsUnavailable) {
  SilentServer server;
  EtcdGrpcTimeouts t;
  t.write = std::chrono::milliseconds(200);
  EtcdGrpcBackend b(server.url(), 128, {}, t);
  auto put = b.txn({}, {{TxnOp::Type::kPut, "/k", "v", 0}}, {});
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), Code::kUnavailable) << put.status().message();  // outcome unknown
}

// The store's whole-state load (list) must not die at the short deadline
// point reads have: on a silent server a range ends at `read`, a list only
// at `list`.
TEST(EtcdGrpcBackend, AListGetsItsOwnLongerDeadline) {
  SilentServer server;
  EtcdGrpcTimeouts t;
  t.read = std::chrono::milliseconds(100);
  t.list = std::chrono::milliseconds(3000);
  EtcdGrpcBackend b(server.url(), 128, {}, t);
  auto list = std::async(std::launch::async, [&] { return b.list("/shoal/"); });
  ASSERT_TRUE(server.accept_one()) << "the backend never connected";
  auto r = b.range("/shoal/x", false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(list.wait_for(std::chrono::milliseconds(600)), std::future_status::timeout)
      << "the list ended with the point read's deadline";
  ASSERT_EQ(list.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto l = list.get();
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), Code::kUnavailable) << l.status().message();
}

TEST(EtcdGrpcBackend, AResentTxnGetsADoublingDeadlineUpToWriteMax) {
  SilentServer server;
  EtcdGrpcTimeouts t;
  t.write = std::chrono::milliseconds(200);
  t.write_max = std::chrono::milliseconds(800);
  EtcdGrpcBackend b(server.url(), 128, {}, t);
  const std::vector<TxnOp> put{{TxnOp::Type::kPut, "/shoal/x", "v", 0}};
  auto first = std::async(std::launch::async, [&] { return b.txn({}, put, {}); });
  ASSERT_TRUE(server.accept_one()) << "the backend never connected";
  ASSERT_FALSE(first.get().ok());
  auto timed = [&](int retry) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = b.resend_txn(retry, {}, put, {});
    EXPECT_FALSE(r.ok());
    if (!r.ok()) EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().message();
    return std::chrono::steady_clock::now() - t0;
  };
  // The first resend: twice the first deadline (400 ms), not write_max.
  auto one = timed(1);
  EXPECT_GE(one, std::chrono::milliseconds(400));
  EXPECT_LT(one, std::chrono::milliseconds(750)) << "the first resend already had write_max";
  EXPECT_GE(timed(2), std::chrono::milliseconds(800));
  // Bounded: retry 10 would be 200 ms * 1024 without write_max.
  EXPECT_LT(timed(10), std::chrono::seconds(3)) << "the deadline is not bounded by write_max";
}

TEST(EtcdGrpcBackend, AClosedPortIsUnavailable) {
  int port;
  {
    SilentServer gone;  // a port that was free a moment ago, now closed
    port = std::stoi(gone.url().substr(gone.url().rfind(':') + 1));
  }
  EtcdGrpcTimeouts t;
  t.read = std::chrono::milliseconds(300);  // calls wait for a connection until their deadline
  EtcdGrpcBackend b("http://127.0.0.1:" + std::to_string(port), 128, {}, t);
  auto r = b.range("/x", true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().message();
  EXPECT_NE(r.status().message().find("etcd at http://127.0.0.1:"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("no connection"), std::string::npos) << r.status().message();
}

TEST(EtcdGrpcBackend, ABadUrlOrUnreadableTlsFileIsAClearError) {
  EtcdGrpcBackend bad_url("ftp://127.0.0.1:2379", 128);
  auto r = bad_url.range("/x", false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("https://"), std::string::npos) << r.status().message();
  EXPECT_EQ(bad_url.wait_healthy(std::chrono::seconds(5)).code(), Code::kFailedPrecondition);

  EtcdGrpcBackend no_port("https://127.0.0.1", 128);
  EXPECT_EQ(no_port.lease_grant(5).status().code(), Code::kFailedPrecondition);

  EtcdGrpcBackend missing("https://127.0.0.1:2379", 128, {"/nonexistent/ca.crt", "/nonexistent/c.crt", "/nonexistent/c.key"});
  Status st = missing.lease_revoke(1);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("/nonexistent/ca.crt"), std::string::npos) << st.message();

  http::TlsOptions skip;
  skip.insecure_skip_verify = true;
  EtcdGrpcBackend insecure("https://127.0.0.1:2379", 128, skip);
  EXPECT_EQ(insecure.lease_keepalive(1).code(), Code::kFailedPrecondition);

  // A watch on a misconfigured backend reports the error once.
  std::promise<Status> err;
  int calls = 0;
  {
    auto w = missing.watch("/p/", 1, [](const std::vector<WatchEvent>&) {}, [&](const Status& s) {
      if (++calls == 1) err.set_value(s);
    });
    auto f = err.get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
    EXPECT_EQ(f.get().code(), Code::kFailedPrecondition);
  }
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace shoal
