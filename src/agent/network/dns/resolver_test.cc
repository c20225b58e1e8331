// The resolver over real loopback sockets: listeners on 127.0.0.1 with
// free ports stand in for the tasks' 127.0.0.11:53, and a fake upstream
// (UDP+TCP on 127.0.0.1, named in a temp resolv.conf) is driven by the
// test itself, so every step is ordered and waits are poll deadlines.
#include "agent/network/dns/resolver.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <utility>
#include <vector>

#include "agent/network/dns/dns_test_util.h"
#include "agent/network/dns/listeners.h"
#include "agent/network/dns/listeners.h"

namespace shoal::netdns {
namespace {

using namespace std::chrono_literals;
using testing::Bytes;
using testing::Fd;
using testing::make_query;
using testing::parse_reply;

class ResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/shoal-netdns-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto up = open_listeners("127.0.0.1", 0);
    ASSERT_TRUE(up.ok()) << up.status().message();
    upstream_ = *up;
    // The fake upstream is read by the test with blocking calls bounded by poll.
    write_resolv_conf("nameserver 127.0.0.1\n");
  }
  void TearDown() override {
    resolver_.reset();
    ::close(upstream_.udp);
    ::close(upstream_.tcp);
    std::filesystem::remove_all(dir_);
  }

  void write_resolv_conf(const std::string& text) {
    // A new file each time (new inode), so the change is seen even within
    // the same mtime tick.
    const std::string tmp = dir_ + "/resolv.conf.tmp";
    std::ofstream(tmp) << text;
    std::filesystem::rename(tmp, dir_ + "/resolv.conf");
  }

  // Options pointing at the fake upstream.
  Options options(std::chrono::milliseconds timeout = 300ms, size_t max_outstanding = 64) {
    Options o;
    o.resolv_conf = dir_ + "/resolv.conf";
    o.upstream_port = upstream_.port;
    o.forward_timeout = timeout;
    o.max_outstanding = max_outstanding;
    return o;
  }
  void start(const Options& o) {
    resolver_ = std::make_unique<Resolver>(o);
    ASSERT_TRUE(resolver_->start().ok());
  }
  void start(std::chrono::milliseconds timeout = 300ms, size_t max_outstanding = 64) {
    start(options(timeout, max_outstanding));
  }

  // Listeners for a new task; returns their port.
  uint16_t add(const std::string& task, Scope scope, bool forward = true) {
    auto l = open_listeners("127.0.0.1", 0);
    EXPECT_TRUE(l.ok()) << l.status().message();
    if (!l.ok()) return 0;
    Status st = resolver_->add_task(task, l->udp, l->tcp, std::move(scope), forward);
    EXPECT_TRUE(st.ok()) << st.message();
    return l->port;
  }

  testing::Reply ask(uint16_t port, const std::string& name, ldns_rr_type type = LDNS_RR_TYPE_A, uint16_t id = 1) {
    auto b = testing::udp_exchange(port, make_query(name, type, id));
    if (!b) return {};
    return parse_reply(*b);
  }

  // The fake upstream receives one UDP query (or none within `wait`).
  std::optional<Bytes> upstream_query(sockaddr_in* from, std::chrono::milliseconds wait = testing::kWait) {
    return testing::recv_datagram(upstream_.udp, wait, from);
  }

  std::string dir_;
  ListenerFds upstream_;
  std::unique_ptr<Resolver> resolver_;
};

const Scope kFront = make_scope({{"web", {"10.0.1.2"}},
                                 {"www", {"10.0.1.2"}},
                                 {"tasks.web", {"10.0.1.5", "10.0.1.6"}}});

TEST_F(ResolverTest, AnswersServiceTasksAliasAnyCaseWithOrWithoutDot) {
  start();
  uint16_t port = add("t1", kFront);
  testing::Reply r = ask(port, "web", LDNS_RR_TYPE_A, 321);
  EXPECT_EQ(r.id, 321);
  EXPECT_EQ(r.rcode, LDNS_RCODE_NOERROR);
  EXPECT_EQ(r.a, std::vector<std::string>{"10.0.1.2"});
  EXPECT_EQ(ask(port, "WWW.").a, std::vector<std::string>{"10.0.1.2"});
  EXPECT_EQ(ask(port, "Web.").a, std::vector<std::string>{"10.0.1.2"});
  testing::Reply t1 = ask(port, "tasks.web");
  testing::Reply t2 = ask(port, "TASKS.WEB.");
  ASSERT_EQ(t1.a.size(), 2u);
  ASSERT_EQ(t2.a.size(), 2u);
  EXPECT_NE(t1.a[0], t2.a[0]);  // rotated per query
  EXPECT_EQ(t1.a[0], t2.a[1]);
}

TEST_F(ResolverTest, AaaaOfAKnownNameIsEmptyNoerror) {
  start();
  uint16_t port = add("t1", kFront);
  testing::Reply r = ask(port, "web", LDNS_RR_TYPE_AAAA);
  EXPECT_TRUE(r.parsed);
  EXPECT_EQ(r.rcode, LDNS_RCODE_NOERROR);
  EXPECT_EQ(r.answers, 0u);
}

TEST_F(ResolverTest, ScopesAreIsolatedAndForeignNamesForwardedWithIdRewrite) {
  start();
  uint16_t a = add("ta", kFront);
  uint16_t b = add("tb", make_scope({{"db", {"10.0.2.9"}}}));
  EXPECT_EQ(ask(b, "db").a, std::vector<std::string>{"10.0.2.9"});
  EXPECT_EQ(ask(a, "web").a, std::vector<std::string>{"10.0.1.2"});

  // "db" is only in tb's scope: ta's query goes upstream, not answered here.
  Fd client(testing::udp_client());
  testing::send_datagram(client.fd, make_query("db", LDNS_RR_TYPE_A, 0x4242), testing::loopback(a));
  sockaddr_in from{};
  auto q = upstream_query(&from);
  ASSERT_TRUE(q.has_value());
  testing::Reply seen = parse_reply(*q);
  EXPECT_EQ(seen.question, "db.");
  // A reply with the wrong id (a spoof, or stale) is ignored...
  Bytes wrong = testing::make_answer(*q, {"6.6.6.6"});
  LDNS_ID_SET(wrong.data(), static_cast<uint16_t>(seen.id + 1));
  testing::send_datagram(upstream_.udp, wrong, from);
  // ...the right one relayed, with the client's id.
  testing::send_datagram(upstream_.udp, testing::make_answer(*q, {"9.9.9.9"}), from);
  auto got = testing::recv_datagram(client.fd, testing::kWait);
  ASSERT_TRUE(got.has_value());
  testing::Reply r = parse_reply(*got);
  EXPECT_EQ(r.id, 0x4242);
  EXPECT_EQ(r.a, std::vector<std::string>{"9.9.9.9"});
  EXPECT_EQ(resolver_->stats().forwarded, 1u);
  EXPECT_EQ(resolver_->stats().outstanding, 0u);
}

TEST_F(ResolverTest, SetScopeTakesEffectAtTheNextQuery) {
  start();
  uint16_t port = add("t1", kFront);
  EXPECT_EQ(ask(port, "web").a, std::vector<std::string>{"10.0.1.2"});
  ASSERT_TRUE(resolver_->set_scope("t1", make_scope({{"web", {"10.0.1.3"}}})).ok());
  EXPECT_EQ(ask(port, "web").a, std::vector<std::string>{"10.0.1.3"});
  EXPECT_EQ(resolver_->set_scope("nope", kFront).code(), Code::kNotFound);
}

TEST_F(ResolverTest, RemoveTaskClosesItsSockets) {
  start();
  uint16_t port = add("t1", kFront);
  Fd conn(testing::tcp_connect(port));
  ASSERT_GE(conn.fd, 0);
  EXPECT_EQ(ask(port, "web").a.size(), 1u);
  // The connection is accepted once the resolver answers on it.
  Bytes f = testing::framed(make_query("web", LDNS_RR_TYPE_A, 5));
  ASSERT_EQ(::send(conn.fd, f.data(), f.size(), MSG_NOSIGNAL), static_cast<ssize_t>(f.size()));
  ASSERT_TRUE(testing::read_frame(conn.fd).has_value());

  resolver_->remove_task("t1");
  EXPECT_TRUE(testing::closed_by_peer(conn.fd));
  EXPECT_LT(testing::tcp_connect(port), 0);  // listener gone: refused
  // Nobody listens on the UDP port any more: the kernel refuses.
  Fd c(testing::udp_client());
  sockaddr_in to = testing::loopback(port);
  ASSERT_EQ(::connect(c.fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)), 0);
  Bytes q = make_query("web", LDNS_RR_TYPE_A, 6);
  ::send(c.fd, q.data(), q.size(), 0);
  ASSERT_TRUE(testing::wait_readable(c.fd, testing::kWait));
  uint8_t buf[512];
  EXPECT_LT(::recv(c.fd, buf, sizeof(buf), 0), 0);
  EXPECT_EQ(errno, ECONNREFUSED);
  EXPECT_EQ(resolver_->stats().tasks, 0u);
  resolver_->remove_task("t1");  // again: a no-op
}

TEST_F(ResolverTest, MalformedPacketIsDroppedAndServingGoesOn) {
  start();
  uint16_t port = add("t1", kFront);
  Fd c(testing::udp_client());
  testing::send_datagram(c.fd, Bytes{0xde, 0xad}, testing::loopback(port));
  Bytes junk(100, 0x3f);
  junk[2] = 0;
  testing::send_datagram(c.fd, junk, testing::loopback(port));
  testing::send_datagram(c.fd, make_query("web", LDNS_RR_TYPE_A, 77), testing::loopback(port));
  auto got = testing::recv_datagram(c.fd, testing::kWait);  // the first datagram back answers the query
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(parse_reply(*got).id, 77);
  EXPECT_EQ(resolver_->stats().dropped, 2u);
}

TEST_F(ResolverTest, TcpQueriesWithLengthPrefixPipelined) {
  start();
  uint16_t port = add("t1", kFront);
  auto one = testing::tcp_exchange(port, make_query("tasks.web", LDNS_RR_TYPE_A, 11));
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(parse_reply(*one).a.size(), 2u);

  Fd conn(testing::tcp_connect(port));
  Bytes both = testing::framed(make_query("web", LDNS_RR_TYPE_A, 12));
  Bytes second = testing::framed(make_query("www", LDNS_RR_TYPE_A, 13));
  both.insert(both.end(), second.begin(), second.end());
  ASSERT_EQ(::send(conn.fd, both.data(), both.size(), MSG_NOSIGNAL), static_cast<ssize_t>(both.size()));
  auto r1 = testing::read_frame(conn.fd);
  auto r2 = testing::read_frame(conn.fd);
  ASSERT_TRUE(r1 && r2);
  EXPECT_EQ(parse_reply(*r1).id, 12);
  EXPECT_EQ(parse_reply(*r2).id, 13);
}

TEST_F(ResolverTest, OversizedTcpLengthClosesTheConnection) {
  start();
  uint16_t port = add("t1", kFront);
  Fd conn(testing::tcp_connect(port));
  const uint8_t huge[2] = {0xff, 0xff};
  ASSERT_EQ(::send(conn.fd, huge, 2, MSG_NOSIGNAL), 2);
  EXPECT_TRUE(testing::closed_by_peer(conn.fd));
  EXPECT_EQ(ask(port, "web").a.size(), 1u);  // still serving
}

TEST_F(ResolverTest, TcpQueryIsForwardedOverTcp) {
  start();
  uint16_t port = add("t1", kFront);
  Fd conn(testing::tcp_connect(port));
  Bytes f = testing::framed(make_query("example.org", LDNS_RR_TYPE_A, 0x5151));
  ASSERT_EQ(::send(conn.fd, f.data(), f.size(), MSG_NOSIGNAL), static_cast<ssize_t>(f.size()));
  ASSERT_TRUE(testing::wait_readable(upstream_.tcp, testing::kWait));
  Fd up(::accept(upstream_.tcp, nullptr, nullptr));
  ASSERT_GE(up.fd, 0);
  auto q = testing::read_frame(up.fd);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(parse_reply(*q).question, "example.org.");
  Bytes a = testing::framed(testing::make_answer(*q, {"192.0.2.7"}));
  ASSERT_EQ(::send(up.fd, a.data(), a.size(), MSG_NOSIGNAL), static_cast<ssize_t>(a.size()));
  auto r = testing::read_frame(conn.fd);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(parse_reply(*r).id, 0x5151);
  EXPECT_EQ(parse_reply(*r).a, std::vector<std::string>{"192.0.2.7"});
}

TEST_F(ResolverTest, ServfailWhenTheUpstreamIsSilentAfterOneRetry) {
  start(200ms);
  uint16_t port = add("t1", kFront);
  Fd c(testing::udp_client());
  testing::send_datagram(c.fd, make_query("silent.example", LDNS_RR_TYPE_A, 99), testing::loopback(port));
  sockaddr_in from{};
  auto first = upstream_query(&from);
  auto retry = upstream_query(&from);  // the only nameserver is asked again
  ASSERT_TRUE(first && retry);
  EXPECT_EQ(parse_reply(*retry).question, "silent.example.");
  auto got = testing::recv_datagram(c.fd, testing::kWait);
  ASSERT_TRUE(got.has_value());
  testing::Reply r = parse_reply(*got);
  EXPECT_EQ(r.id, 99);
  EXPECT_EQ(r.rcode, LDNS_RCODE_SERVFAIL);
  EXPECT_FALSE(upstream_query(&from, 0ms).has_value());  // no third attempt queued
  EXPECT_EQ(resolver_->stats().servfail, 1u);
}

TEST_F(ResolverTest, RetryGoesToTheNextNameserver) {
  // A second fake upstream on 127.0.0.2, same port (the port is per resolver).
  auto second = open_listeners("127.0.0.2", upstream_.port);
  if (!second.ok()) GTEST_SKIP() << "127.0.0.2:" << upstream_.port << " is taken: " << second.status().message();
  Fd s_udp(second->udp), s_tcp(second->tcp);
  write_resolv_conf("nameserver 127.0.0.1\nnameserver 127.0.0.2\n");
  start(200ms);
  uint16_t port = add("t1", kFront);
  Fd c(testing::udp_client());
  testing::send_datagram(c.fd, make_query("next.example", LDNS_RR_TYPE_A, 1234), testing::loopback(port));
  sockaddr_in from{};
  ASSERT_TRUE(upstream_query(&from).has_value());  // first server: stays silent
  auto q = testing::recv_datagram(s_udp.fd, testing::kWait, &from);
  ASSERT_TRUE(q.has_value());
  testing::send_datagram(s_udp.fd, testing::make_answer(*q, {"198.51.100.1"}), from);
  auto got = testing::recv_datagram(c.fd, testing::kWait);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(parse_reply(*got).id, 1234);
  EXPECT_EQ(parse_reply(*got).a, std::vector<std::string>{"198.51.100.1"});
}

TEST_F(ResolverTest, ServfailAtOnceWithoutNameserverOrWhenTheTableIsFull) {
  write_resolv_conf("# nothing\n");
  start(2000ms, 1);
  uint16_t port = add("t1", kFront);
  testing::Reply r = ask(port, "nowhere.example", LDNS_RR_TYPE_A, 3);
  EXPECT_EQ(r.rcode, LDNS_RCODE_SERVFAIL);

  write_resolv_conf("nameserver 127.0.0.1\n");
  Fd c(testing::udp_client());
  testing::send_datagram(c.fd, make_query("held.example", LDNS_RR_TYPE_A, 4), testing::loopback(port));
  sockaddr_in from{};
  auto held = upstream_query(&from);  // now in flight: the table (of one) is full
  ASSERT_TRUE(held.has_value());
  r = ask(port, "other.example", LDNS_RR_TYPE_A, 5);
  EXPECT_EQ(r.id, 5);
  EXPECT_EQ(r.rcode, LDNS_RCODE_SERVFAIL);
  testing::send_datagram(upstream_.udp, testing::make_answer(*held, {"203.0.113.4"}), from);
  auto got = testing::recv_datagram(c.fd, testing::kWait);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(parse_reply(*got).a, std::vector<std::string>{"203.0.113.4"});
}

TEST_F(ResolverTest, TaskAtItsForwardBoundGetsServfailWhileOthersStillForward) {
  Options o = options(5000ms);  // nothing times out within the test
  o.max_forwards_per_task = 2;
  start(o);
  uint16_t hog = add("hog", kFront);
  uint16_t other = add("other", kFront);
  Fd c(testing::udp_client());
  std::vector<std::pair<Bytes, sockaddr_in>> held;  // never answered by the upstream (yet)
  for (uint16_t id : {1, 2}) {
    testing::send_datagram(c.fd, make_query("slow" + std::to_string(id) + ".example", LDNS_RR_TYPE_A, id),
                           testing::loopback(hog));
    sockaddr_in from{};
    auto q = upstream_query(&from);
    ASSERT_TRUE(q.has_value());
    held.emplace_back(*q, from);
  }
  testing::Reply r = ask(hog, "slow3.example", LDNS_RR_TYPE_A, 3);  // at once, not after a timeout
  EXPECT_EQ(r.id, 3);
  EXPECT_EQ(r.rcode, LDNS_RCODE_SERVFAIL);
  sockaddr_in from{};
  EXPECT_FALSE(upstream_query(&from, 100ms).has_value());  // not sent upstream
  EXPECT_EQ(resolver_->stats().servfail, 1u);
  EXPECT_EQ(ask(hog, "web").a, std::vector<std::string>{"10.0.1.2"});  // its own names still answered

  // Another task's forward goes through meanwhile.
  Fd oc(testing::udp_client());
  testing::send_datagram(oc.fd, make_query("fast.example", LDNS_RR_TYPE_A, 7), testing::loopback(other));
  auto q = upstream_query(&from);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(parse_reply(*q).question, "fast.example.");
  testing::send_datagram(upstream_.udp, testing::make_answer(*q, {"192.0.2.1"}), from);
  auto got = testing::recv_datagram(oc.fd, testing::kWait);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(parse_reply(*got).id, 7);
  EXPECT_EQ(parse_reply(*got).a, std::vector<std::string>{"192.0.2.1"});

  // One of the hog's answered: it has room for one more forward.
  testing::send_datagram(upstream_.udp, testing::make_answer(held[0].first, {"192.0.2.2"}), held[0].second);
  got = testing::recv_datagram(c.fd, testing::kWait);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(parse_reply(*got).id, 1);
  testing::send_datagram(c.fd, make_query("slow4.example", LDNS_RR_TYPE_A, 4), testing::loopback(hog));
  q = upstream_query(&from);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(parse_reply(*q).question, "slow4.example.");
  EXPECT_EQ(resolver_->stats().outstanding, 2u);
  EXPECT_EQ(resolver_->stats().servfail, 1u);
}

TEST_F(ResolverTest, TcpConnectionsPastTheTasksBoundAreClosed) {
  Options o = options();
  o.max_tcp_connections_per_task = 2;
  start(o);
  uint16_t port = add("t1", kFront);
  uint16_t other = add("t2", kFront);
  Fd a(testing::tcp_connect(port)), b(testing::tcp_connect(port));
  const Bytes f = testing::framed(make_query("web", LDNS_RR_TYPE_A, 21));
  for (int fd : {a.fd, b.fd}) {  // answered, so accepted
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::send(fd, f.data(), f.size(), MSG_NOSIGNAL), static_cast<ssize_t>(f.size()));
    ASSERT_TRUE(testing::read_frame(fd).has_value());
  }
  Fd third(testing::tcp_connect(port));  // the kernel completes the handshake...
  ASSERT_GE(third.fd, 0);
  EXPECT_TRUE(testing::closed_by_peer(third.fd));  // ...the resolver closes it at once
  EXPECT_EQ(resolver_->stats().tcp_connections, 2u);
  // Another task's connections are not counted against this one's.
  auto r = testing::tcp_exchange(other, make_query("web", LDNS_RR_TYPE_A, 22));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(parse_reply(*r).id, 22);
  // One closed by its client: its place is free again.
  ::close(a.fd);
  a.fd = -1;
  const auto deadline = std::chrono::steady_clock::now() + testing::kWait;
  while (resolver_->stats().tcp_connections > 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(resolver_->stats().tcp_connections, 1u);
  r = testing::tcp_exchange(port, make_query("web", LDNS_RR_TYPE_A, 23));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(parse_reply(*r).id, 23);
}

TEST_F(ResolverTest, NoForwardTaskIsRefusedOutsideItsScopeAndNothingGoesUpstream) {
  start(5000ms);  // nothing times out within the test
  uint16_t in = add("internal", kFront, /*forward=*/false);
  uint16_t out = add("external", kFront);
  testing::Reply r = ask(in, "example.org", LDNS_RR_TYPE_A, 31);
  EXPECT_EQ(r.id, 31);
  EXPECT_EQ(r.rcode, LDNS_RCODE_REFUSED);
  EXPECT_EQ(r.question, "example.org.");
  EXPECT_EQ(ask(in, "web").a, std::vector<std::string>{"10.0.1.2"});  // its scope still answered
  EXPECT_EQ(ask(in, "tasks.web").a.size(), 2u);
  auto t = testing::tcp_exchange(in, make_query("example.org", LDNS_RR_TYPE_AAAA, 32));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(parse_reply(*t).id, 32);
  EXPECT_EQ(parse_reply(*t).rcode, LDNS_RCODE_REFUSED);
  sockaddr_in from{};
  EXPECT_FALSE(upstream_query(&from, 100ms).has_value());      // no UDP query upstream
  EXPECT_FALSE(testing::wait_readable(upstream_.tcp, 0ms));  // nor a TCP connection
  EXPECT_EQ(resolver_->stats().outstanding, 0u);
  EXPECT_EQ(resolver_->stats().servfail, 0u);

  // A task that may forward, on the same resolver, still does.
  Fd c(testing::udp_client());
  testing::send_datagram(c.fd, make_query("example.org", LDNS_RR_TYPE_A, 33), testing::loopback(out));
  auto q = upstream_query(&from);
  ASSERT_TRUE(q.has_value());
  testing::send_datagram(upstream_.udp, testing::make_answer(*q, {"192.0.2.3"}), from);
  auto got = testing::recv_datagram(c.fd, testing::kWait);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(parse_reply(*got).id, 33);

  // set_forward switches it for the next query, both ways.
  ASSERT_TRUE(resolver_->set_forward("internal", true).ok());
  testing::send_datagram(c.fd, make_query("example.org", LDNS_RR_TYPE_A, 34), testing::loopback(in));
  q = upstream_query(&from);
  ASSERT_TRUE(q.has_value());
  testing::send_datagram(upstream_.udp, testing::make_answer(*q, {"192.0.2.4"}), from);
  got = testing::recv_datagram(c.fd, testing::kWait);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(parse_reply(*got).a, std::vector<std::string>{"192.0.2.4"});
  ASSERT_TRUE(resolver_->set_forward("internal", false).ok());
  EXPECT_EQ(ask(in, "example.org", LDNS_RR_TYPE_A, 35).rcode, LDNS_RCODE_REFUSED);
  EXPECT_FALSE(upstream_query(&from, 100ms).has_value());
  EXPECT_EQ(resolver_->set_forward("nope", false).code(), Code::kNotFound);
}

TEST_F(ResolverTest, AddTaskRules) {
  auto l = open_listeners("127.0.0.1", 0);
  ASSERT_TRUE(l.ok());
  Resolver idle(Options{});
  EXPECT_EQ(idle.add_task("t", l->udp, l->tcp, kFront).code(), Code::kFailedPrecondition);  // fds closed
  start();
  add("t1", kFront);
  auto l2 = open_listeners("127.0.0.1", 0);
  ASSERT_TRUE(l2.ok());
  EXPECT_EQ(resolver_->add_task("t1", l2->udp, l2->tcp, kFront).code(), Code::kAlreadyExists);
  EXPECT_LT(testing::tcp_connect(l2->port), 0);  // its fds were closed
}

}  // namespace
}  // namespace shoal::netdns

namespace shoal::netdns {
namespace {

// stop() closes the tasks' listeners at once: a resolver that replaces this
// one (a role change) can bind the same address before this one is destroyed.
TEST(ResolverStop, FreesTheListenersAddressAtOnce) {
  Resolver r(Options{});
  ASSERT_TRUE(r.start().ok());
  auto fds = open_listeners("127.0.0.1", 0);
  ASSERT_TRUE(fds.ok()) << fds.status().message();
  ASSERT_TRUE(r.add_task("taskstopfree1", fds->udp, fds->tcp, make_scope({})).ok());
  EXPECT_FALSE(open_listeners("127.0.0.1", fds->port).ok());  // taken while it serves
  r.stop();
  auto again = open_listeners("127.0.0.1", fds->port);
  ASSERT_TRUE(again.ok()) << again.status().message();
  ::close(again->udp);
  ::close(again->tcp);
  r.remove_task("taskstopfree1");  // after stop: nothing to close twice
}

}  // namespace
}  // namespace shoal::netdns
