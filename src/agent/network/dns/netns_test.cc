// With root: the real thing. A namespace made by the test (ip netns add
// shoal-dnstest-<pid>-<n>), listeners opened on 127.0.0.11:53 inside it by
// open_listeners_in_netns, and queries sent from inside it; forwarded
// queries leave from the resolver's (the test's) namespace, to a fake
// upstream on this namespace's 127.0.0.1. Skipped without root.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/network/dns/dns_test_util.h"
#include "agent/network/dns/listeners.h"
#include "agent/network/dns/resolver.h"
#include "os/process.h"

namespace shoal::netdns {
namespace {

using testing::Bytes;
using testing::Fd;
using testing::make_query;
using testing::parse_reply;

std::string thread_netns() {
  return std::filesystem::read_symlink("/proc/thread-self/ns/net").string();
}

// A socket made by a thread that joined the namespace: it stays there.
int socket_in(const std::string& ns_path, int type) {
  int fd = -1;
  std::thread t([&] {
    int ns = ::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0) return;
    if (::setns(ns, CLONE_NEWNET) == 0) fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    ::close(ns);
  });
  t.join();
  return fd;
}

class NetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, port 53)";
    static int n = 0;
    name_ = "shoal-dnstest-" + std::to_string(getpid()) + "-" + std::to_string(n++);
    auto r = os::run_capture({"ip", "netns", "add", name_});
    ASSERT_TRUE(r.ok()) << r.status().message();
    made_ = true;
    path_ = "/run/netns/" + name_;
  }
  void TearDown() override {
    if (made_) {
      EXPECT_TRUE(os::run_capture({"ip", "netns", "del", name_}).ok());
    }
  }
  std::string name_, path_;
  bool made_ = false;
};

TEST_F(NetnsTest, ServesOnResolverAddressInsideTheNamespace) {
  const std::string before = thread_netns();
  auto l = open_listeners_in_netns(path_);
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(thread_netns(), before);  // the caller never moved
  EXPECT_EQ(l->port, kResolverPort);

  // The fake upstream lives in the test's namespace, where the resolver
  // forwards from.
  auto up = open_listeners("127.0.0.1", 0);
  ASSERT_TRUE(up.ok());
  Fd up_udp(up->udp), up_tcp(up->tcp);
  char tmpl[] = "/tmp/shoal-netdns-nstest-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  std::ofstream(dir + "/resolv.conf") << "nameserver 127.0.0.1\n";

  Options o;
  o.resolv_conf = dir + "/resolv.conf";
  o.upstream_port = up->port;
  {
    Resolver resolver(o);
    ASSERT_TRUE(resolver.start().ok());
    ASSERT_TRUE(resolver.add_task("task1", l->udp, l->tcp, make_scope({{"web", {"10.0.1.2"}}})).ok());

    Fd c(socket_in(path_, SOCK_DGRAM));
    ASSERT_GE(c.fd, 0);
    const sockaddr_in to = testing::loopback(kResolverPort, kResolverAddress);
    testing::send_datagram(c.fd, make_query("web", LDNS_RR_TYPE_A, 808), to);
    auto got = testing::recv_datagram(c.fd, testing::kWait);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(parse_reply(*got).id, 808);
    EXPECT_EQ(parse_reply(*got).a, std::vector<std::string>{"10.0.1.2"});

    // Over TCP too.
    Fd t(socket_in(path_, SOCK_STREAM));
    ASSERT_EQ(::connect(t.fd, reinterpret_cast<const sockaddr*>(&to), sizeof(to)), 0);
    Bytes f = testing::framed(make_query("WEB.", LDNS_RR_TYPE_A, 809));
    ASSERT_EQ(::send(t.fd, f.data(), f.size(), MSG_NOSIGNAL), static_cast<ssize_t>(f.size()));
    auto tr = testing::read_frame(t.fd);
    ASSERT_TRUE(tr.has_value());
    EXPECT_EQ(parse_reply(*tr).a, std::vector<std::string>{"10.0.1.2"});

    // A name not ours goes out from the node's namespace.
    testing::send_datagram(c.fd, make_query("example.net", LDNS_RR_TYPE_A, 810), to);
    sockaddr_in from{};
    auto q = testing::recv_datagram(up_udp.fd, testing::kWait, &from);
    ASSERT_TRUE(q.has_value());
    testing::send_datagram(up_udp.fd, testing::make_answer(*q, {"192.0.2.55"}), from);
    got = testing::recv_datagram(c.fd, testing::kWait);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(parse_reply(*got).id, 810);
    EXPECT_EQ(parse_reply(*got).a, std::vector<std::string>{"192.0.2.55"});
  }
  std::filesystem::remove_all(dir);
}

TEST_F(NetnsTest, MissingNamespaceIsAnError) {
  auto l = open_listeners_in_netns(path_ + "-missing");
  EXPECT_FALSE(l.ok());
}

}  // namespace
}  // namespace shoal::netdns
