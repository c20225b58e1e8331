// The rulesets in the kernel (root only): namespaces made by the test on a
// bridge of their own, addresses from 10.98.0.0/24 and 10.98.1.0/24 that
// exist only inside them. Every test builds its own lab, named after the
// test process (ctest runs tests in parallel processes), and removes it in
// TearDown, failure or not.
//
//   P-task 10.98.0.2 ─┐                    ┌─ P-b1 10.98.0.11 (default via .3)
//   P-node 10.98.0.3 ─┼─ br0 in P-br ──────┼─ P-b2 10.98.0.12
//      └ pub0 10.98.1.1 ── P-ext 10.98.1.2 └─ P-b3 10.98.0.13
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <thread>

#include "agent/network/lb/apply.h"
#include "os/netns_file.h"
#include "agent/network/lb/ruleset.h"
#include "os/process.h"

namespace shoal::netlb {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
constexpr milliseconds kTimeout{3000};
constexpr uint16_t kBackendPort = 7000;
const char* kVip = "10.98.0.200";

std::string ns_path(const std::string& name) { return "/run/netns/" + name; }

int poll_until(int fd, short events, steady_clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now()).count();
    if (left <= 0) return 0;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    return n;
  }
}

// A TCP server in a backend namespace: greets each connection with
// "<name> <peer address>\n", then echoes what it receives. Its listening
// socket is made in the namespace; the loop runs on an ordinary thread.
class Server {
 public:
  Server(const std::string& netns, std::string name) : name_(std::move(name)) {
    Status st = os::call_in_netns(netns, [&] {
      listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (listen_fd_ < 0) return errno_status("socket", errno);
      int one = 1;
      setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(kBackendPort);
      if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return errno_status("bind", errno);
      if (::listen(listen_fd_, 16) != 0) return errno_status("listen", errno);
      return ok_status();
    });
    EXPECT_TRUE(st.ok()) << st.message();
    stop_fd_ = eventfd(0, EFD_CLOEXEC);
    thread_ = std::thread([this] { loop(); });
  }
  ~Server() {
    uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
    thread_.join();
    ::close(stop_fd_);
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }

 private:
  void loop() {
    std::vector<int> clients;
    for (;;) {
      std::vector<pollfd> fds{{stop_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
      for (int c : clients) fds.push_back({c, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) break;
      if (fds[0].revents) break;
      if (fds[1].revents & POLLIN) {
        sockaddr_in peer{};
        socklen_t len = sizeof peer;
        int c = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
        if (c >= 0) {
          char ip[INET_ADDRSTRLEN];
          inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
          std::string hello = name_ + " " + ip + "\n";
          (void)!::write(c, hello.data(), hello.size());
          clients.push_back(c);
        }
      }
      for (size_t i = 2; i < fds.size(); ++i) {
        if (!fds[i].revents) continue;
        char buf[256];
        ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n > 0) {
          (void)!::write(fds[i].fd, buf, n);
        } else {
          ::close(fds[i].fd);
          std::erase(clients, fds[i].fd);
        }
      }
    }
    for (int c : clients) ::close(c);
  }

  std::string name_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;
  std::thread thread_;
};

// A TCP connection from namespace `netns`; err is the connect errno (0: ok).
struct Conn {
  int fd = -1;
  int err = 0;
  Conn() = default;
  Conn(Conn&& o) noexcept : fd(std::exchange(o.fd, -1)), err(o.err) {}
  ~Conn() {
    if (fd >= 0) ::close(fd);
  }
};

Conn connect_from(const std::string& netns, const std::string& ip, uint16_t port, int type = SOCK_STREAM) {
  Conn c;
  Status st = os::call_in_netns(netns, [&] {
    c.fd = ::socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    return c.fd < 0 ? errno_status("socket", errno) : ok_status();
  });
  EXPECT_TRUE(st.ok()) << st.message();
  if (!st.ok()) return c;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  if (::connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return c;
  if (errno != EINPROGRESS) {
    c.err = errno;
    return c;
  }
  if (poll_until(c.fd, POLLOUT, steady_clock::now() + kTimeout) == 0) {
    c.err = ETIMEDOUT;
    return c;
  }
  socklen_t len = sizeof c.err;
  getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &c.err, &len);
  return c;
}

// One line from fd, or "" on timeout / error / EOF.
std::string read_line(int fd) {
  auto deadline = steady_clock::now() + kTimeout;
  std::string line;
  while (poll_until(fd, POLLIN, deadline) > 0) {
    char ch;
    ssize_t n = ::read(fd, &ch, 1);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return "";
    if (ch == '\n') return line;
    line += ch;
  }
  return "";
}

// What a new connection to ip:port from `netns` is greeted with.
std::string greeting(const std::string& netns, const std::string& ip, uint16_t port) {
  Conn c = connect_from(netns, ip, port);
  if (c.err) return std::string("connect: ") + strerror(c.err);
  return read_line(c.fd);
}

bool echoes(const Conn& c) {
  if (::write(c.fd, "ping\n", 5) != 5) return false;
  return read_line(c.fd) == "ping";
}

class KernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, nftables)";
    prefix_ = "lb" + std::to_string(getpid());
    for (const char* n : {"br", "node", "ext", "task", "b1", "b2", "b3"}) {
      ip({"netns", "add", name(n)});
      if (HasFatalFailure()) return;
      made_.push_back(name(n));
      ip({"-n", name(n), "link", "set", "lo", "up"});
    }
    ip({"-n", name("br"), "link", "add", "br0", "type", "bridge"});
    ip({"-n", name("br"), "link", "set", "br0", "up"});
    const std::map<std::string, std::string> addr = {
        {"task", "10.98.0.2"}, {"node", "10.98.0.3"}, {"b1", "10.98.0.11"}, {"b2", "10.98.0.12"}, {"b3", "10.98.0.13"}};
    for (const auto& [n, a] : addr) {
      ip({"-n", name("br"), "link", "add", n, "type", "veth", "peer", "name", "eth0", "netns", name(n)});
      ip({"-n", name("br"), "link", "set", n, "master", "br0", "up"});
      ip({"-n", name(n), "addr", "add", a + "/24", "dev", "eth0"});
      ip({"-n", name(n), "link", "set", "eth0", "up"});
    }
    ip({"-n", name("node"), "link", "add", "pub0", "type", "veth", "peer", "name", "eth0", "netns", name("ext")});
    ip({"-n", name("node"), "addr", "add", "10.98.1.1/24", "dev", "pub0"});
    ip({"-n", name("node"), "link", "set", "pub0", "up"});
    ip({"-n", name("ext"), "addr", "add", "10.98.1.2/24", "dev", "eth0"});
    ip({"-n", name("ext"), "link", "set", "eth0", "up"});
    for (const char* b : {"b1", "b2", "b3"}) {
      // Replies to host-mode clients (not SNATed) go back through the node.
      ip({"-n", name(b), "route", "add", "default", "via", "10.98.0.3"});
      servers_.push_back(std::make_unique<Server>(ns(b), b));
    }
  }
  void TearDown() override {
    servers_.clear();
    for (const auto& n : made_) {
      auto r = os::run_capture({"ip", "netns", "del", n});
      EXPECT_TRUE(r.ok()) << r.status().message();
    }
  }

  std::string name(const std::string& n) const { return prefix_ + "-" + n; }
  std::string ns(const std::string& n) const { return ns_path(name(n)); }
  void ip(std::vector<std::string> args) {
    args.insert(args.begin(), "ip");
    auto r = os::run_capture(args);
    ASSERT_TRUE(r.ok()) << r.status().message();
  }
  void apply_vips(const std::vector<VipBackends>& vips) {
    auto script = render_task_ruleset(vips);
    ASSERT_TRUE(script.ok()) << script.status().message();
    Status st = apply_ruleset(ns("task"), *script);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  void apply_mesh(const MeshConfig& m) {
    auto script = render_mesh_ruleset(m);
    ASSERT_TRUE(script.ok()) << script.status().message();
    Status st = enable_mesh_sysctls(ns("node"));
    ASSERT_TRUE(st.ok()) << st.message();
    st = apply_ruleset(ns("node"), *script);
    ASSERT_TRUE(st.ok()) << st.message();
  }

  std::string prefix_;
  std::vector<std::string> made_;
  std::vector<std::unique_ptr<Server>> servers_;
};

std::string thread_netns() {
  char buf[64] = {};
  (void)!::readlink("/proc/thread-self/ns/net", buf, sizeof buf - 1);
  return buf;
}

TEST_F(KernelTest, VipRoundRobinAndEstablishedFlowsSurviveAReapply) {
  const std::string before = thread_netns();
  ASSERT_NO_FATAL_FAILURE(apply_vips({{kVip, {"10.98.0.13", "10.98.0.11", "10.98.0.12"}}}));
  // Applied in the task's namespace, and only there; this thread never moved.
  EXPECT_EQ(thread_netns(), before);
  EXPECT_EQ(table_exists(ns("task"), "ip", kTaskTable).value_or(false), true);
  EXPECT_EQ(table_exists(ns("ext"), "ip", kTaskTable).value_or(true), false);

  std::vector<Conn> conns;
  std::vector<std::string> seen;
  for (int i = 0; i < 6; ++i) {
    conns.push_back(connect_from(ns("task"), kVip, kBackendPort));
    ASSERT_EQ(conns.back().err, 0) << strerror(conns.back().err);
    seen.push_back(read_line(conns.back().fd));
  }
  // Sorted backends, in turn; the task's own address reaches them (no SNAT).
  EXPECT_EQ(seen, (std::vector<std::string>{"b1 10.98.0.2", "b2 10.98.0.2", "b3 10.98.0.2", "b1 10.98.0.2",
                                            "b2 10.98.0.2", "b3 10.98.0.2"}));

  // b2 leaves the set: b3 moves from index 2 to 1 of the map, yet flows keep
  // their backend (conntrack), and new connections alternate b1, b3.
  ASSERT_NO_FATAL_FAILURE(apply_vips({{kVip, {"10.98.0.11", "10.98.0.13"}}}));
  EXPECT_TRUE(echoes(conns[0]));
  EXPECT_TRUE(echoes(conns[2]));
  EXPECT_TRUE(echoes(conns[1])) << "the removed backend's server still runs: its flow is kept too";
  std::vector<std::string> after;
  for (int i = 0; i < 4; ++i) after.push_back(greeting(ns("task"), kVip, kBackendPort));
  EXPECT_EQ(after, (std::vector<std::string>{"b1 10.98.0.2", "b3 10.98.0.2", "b1 10.98.0.2", "b3 10.98.0.2"}));

  // No VIP at all, then the VIP without backends: the table keeps conntrack
  // running (see kKeepConntrack in ruleset.cc), so flows go on.
  ASSERT_NO_FATAL_FAILURE(apply_vips({}));
  EXPECT_TRUE(echoes(conns[0]));
  ASSERT_NO_FATAL_FAILURE(apply_vips({{kVip, {}}}));
  EXPECT_TRUE(echoes(conns[2]));
  // Removing a table, present or not, is ok.
  ASSERT_TRUE(remove_table(ns("task"), "ip", kTaskTable).ok());
  EXPECT_EQ(table_exists(ns("task"), "ip", kTaskTable).value_or(true), false);
  Status again = remove_table(ns("task"), "ip", kTaskTable);
  EXPECT_TRUE(again.ok()) << again.message();
}

TEST_F(KernelTest, VipWithoutBackendsFailsFast) {
  ASSERT_NO_FATAL_FAILURE(apply_vips({{kVip, {}}, {"10.98.0.201", {"10.98.0.11"}}}));
  auto start = steady_clock::now();
  Conn tcp = connect_from(ns("task"), kVip, kBackendPort);
  EXPECT_EQ(tcp.err, ECONNREFUSED) << strerror(tcp.err);
  // Without the reject the SYN would wait on ARP for an address no one has.
  EXPECT_LT(steady_clock::now() - start, milliseconds(1000));

  Conn udp = connect_from(ns("task"), kVip, 53, SOCK_DGRAM);
  ASSERT_EQ(udp.err, 0);
  // The rejected datagram is dropped in the output hook: send() may report
  // that (EPERM) before the ICMP error arrives.
  ssize_t sent = ::send(udp.fd, "x", 1, 0);
  ASSERT_TRUE(sent == 1 || errno == EPERM) << strerror(errno);
  ASSERT_GT(poll_until(udp.fd, POLLIN | POLLERR, steady_clock::now() + kTimeout), 0);
  char b;
  EXPECT_EQ(::recv(udp.fd, &b, 1, 0), -1);
  EXPECT_EQ(errno, ECONNREFUSED) << "ICMP port unreachable";

  // The other VIP still works.
  EXPECT_EQ(greeting(ns("task"), "10.98.0.201", kBackendPort), "b1 10.98.0.2");
}

TEST_F(KernelTest, ApplyErrorsAreReported) {
  Status st = apply_ruleset(ns("task"), "table ip shoal { chain c { nonsense } }\n");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("nft: "), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(ns("task")), std::string::npos) << st.message();
  st = apply_ruleset("/run/netns/" + prefix_ + "-missing", "");
  EXPECT_FALSE(st.ok());
  EXPECT_FALSE(remove_table(ns("task"), "ip", "bad name; flush ruleset").ok());
}

TEST_F(KernelTest, MeshRoutesNodeAddressAndLoopbackRoundRobin) {
  MeshConfig m;
  m.ports = {{"tcp", 8080, kBackendPort, {"10.98.0.11", "10.98.0.12", "10.98.0.13"}}};
  m.host_ports = {{"tcp", 9000, kBackendPort, {"10.98.0.12"}}};
  ASSERT_NO_FATAL_FAILURE(apply_mesh(m));
  EXPECT_EQ(read_sysctl(ns("node"), "net/ipv4/conf/all/route_localnet").value_or(""), "1");
  EXPECT_EQ(read_sysctl(ns("node"), "net/ipv4/ip_forward").value_or(""), "1");

  // From outside to the node's address: round robin, SNATed to the node.
  std::vector<std::string> ext, local;
  for (int i = 0; i < 4; ++i) ext.push_back(greeting(ns("ext"), "10.98.1.1", 8080));
  EXPECT_EQ(ext, (std::vector<std::string>{"b1 10.98.0.3", "b2 10.98.0.3", "b3 10.98.0.3", "b1 10.98.0.3"}));
  // From the node itself to 127.0.0.1 (nat/output has its own counter).
  for (int i = 0; i < 4; ++i) local.push_back(greeting(ns("node"), "127.0.0.1", 8080));
  EXPECT_EQ(local, (std::vector<std::string>{"b1 10.98.0.3", "b2 10.98.0.3", "b3 10.98.0.3", "b1 10.98.0.3"}));

  // Host mode keeps the client's address; loopback clients are SNATed.
  EXPECT_EQ(greeting(ns("ext"), "10.98.1.1", 9000), "b2 10.98.1.2");
  EXPECT_EQ(greeting(ns("node"), "127.0.0.1", 9000), "b2 10.98.0.3");

  ASSERT_TRUE(remove_table(ns("node"), "ip", kMeshTable).ok());
  EXPECT_EQ(greeting(ns("ext"), "10.98.1.1", 8080), std::string("connect: ") + strerror(ECONNREFUSED));
}

TEST_F(KernelTest, MeshSnatSourceAndPortWithoutBackends) {
  MeshConfig m;
  m.snat_source = "10.98.0.3";
  m.ports = {{"tcp", 8080, kBackendPort, {"10.98.0.13"}}, {"tcp", 8081, kBackendPort, {}}};
  ASSERT_NO_FATAL_FAILURE(apply_mesh(m));
  EXPECT_EQ(greeting(ns("ext"), "10.98.1.1", 8080), "b3 10.98.0.3");
  auto start = steady_clock::now();
  EXPECT_EQ(greeting(ns("ext"), "10.98.1.1", 8081), std::string("connect: ") + strerror(ECONNREFUSED));
  EXPECT_LT(steady_clock::now() - start, milliseconds(1000));

  // Re-applying the same configuration keeps established flows.
  Conn c = connect_from(ns("ext"), "10.98.1.1", 8080);
  ASSERT_EQ(c.err, 0);
  EXPECT_EQ(read_line(c.fd), "b3 10.98.0.3");
  ASSERT_NO_FATAL_FAILURE(apply_mesh(m));
  EXPECT_TRUE(echoes(c));
}

// A UDP socket in `netns` bound to `port` (0: any), in a Conn (which owns it).
Conn udp_socket_in(const std::string& netns, uint16_t port) {
  Conn c;
  Status st = os::call_in_netns(netns, [&] {
    c.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c.fd < 0) return errno_status("socket", errno);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (::bind(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return errno_status("bind", errno);
    return ok_status();
  });
  EXPECT_TRUE(st.ok()) << st.message();
  return c;
}

// Whether a datagram sent from `from` to ip:port reaches `listener` (bound
// there) within `within`. Each probe has its own payload, so a late one
// from an earlier probe does not count.
bool datagram_arrives(const std::string& from, const std::string& ip, uint16_t port, const Conn& listener,
                      milliseconds within) {
  static int probe = 0;
  const std::string payload = "probe " + std::to_string(++probe) + " from " + from;
  Conn out = udp_socket_in(from, 0);
  if (out.fd < 0) return false;
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &dst.sin_addr);
  if (::sendto(out.fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst) !=
      static_cast<ssize_t>(payload.size()))
    return false;
  auto deadline = steady_clock::now() + within;
  while (poll_until(listener.fd, POLLIN, deadline) > 0) {
    char buf[256];
    ssize_t n = ::recv(listener.fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n < 0) return false;
    if (std::string(buf, n) == payload) return true;
  }
  return false;
}

TEST_F(KernelTest, VxlanGuardLetsOnlyPeersReachThePort) {
  constexpr uint16_t kVxlanPort = 4789;
  constexpr milliseconds kDropWait{500};
  Conn vxlan = udp_socket_in(ns("node"), kVxlanPort);
  Conn other = udp_socket_in(ns("node"), kVxlanPort + 1);
  ASSERT_TRUE(vxlan.fd >= 0 && other.fd >= 0);
  auto arrives = [&](const char* from, const Conn& to, milliseconds within = kTimeout) {
    return datagram_arrives(ns(from), "10.98.0.3", to.fd == vxlan.fd ? kVxlanPort : kVxlanPort + 1, to, within);
  };
  // Without the guard everyone gets through (this also resolves ARP, so
  // the drops below are the guard's and not a slow neighbour).
  ASSERT_TRUE(arrives("b1", vxlan));
  ASSERT_TRUE(arrives("b2", vxlan));
  ASSERT_TRUE(datagram_arrives(ns("ext"), "10.98.1.1", kVxlanPort, vxlan, kTimeout));

  auto apply_guard = [&](const std::vector<std::string>& peers) {
    auto script = render_vxlan_guard(kVxlanPort, peers);
    ASSERT_TRUE(script.ok()) << script.status().message();
    Status st = apply_ruleset(ns("node"), *script);
    ASSERT_TRUE(st.ok()) << st.message();
  };
  ASSERT_NO_FATAL_FAILURE(apply_guard({"10.98.0.11", "10.98.0.13", "10.98.0.11"}));
  EXPECT_EQ(table_exists(ns("node"), "ip", kVxlanTable).value_or(false), true);
  EXPECT_EQ(table_exists(ns("b1"), "ip", kVxlanTable).value_or(true), false);
  auto listed = list_table(ns("node"), "ip", kVxlanTable);
  ASSERT_TRUE(listed.ok()) << listed.status().message();
  EXPECT_NE(listed->find("elements = { 10.98.0.11, 10.98.0.13 }"), std::string::npos) << *listed;
  // nft prints priority -10 by the standard priority's name.
  EXPECT_NE(listed->find("type filter hook input priority filter - 10; policy accept;"), std::string::npos)
      << *listed;
  EXPECT_NE(listed->find("udp dport 4789 ip saddr @peers accept"), std::string::npos) << *listed;
  EXPECT_NE(listed->find("udp dport 4789 drop"), std::string::npos) << *listed;

  EXPECT_TRUE(arrives("b1", vxlan));
  EXPECT_FALSE(arrives("b2", vxlan, kDropWait)) << "not a peer";
  EXPECT_FALSE(datagram_arrives(ns("ext"), "10.98.1.1", kVxlanPort, vxlan, kDropWait)) << "not a peer";
  EXPECT_TRUE(arrives("b2", other)) << "other ports are not guarded";

  // New peers replace the old ones.
  ASSERT_NO_FATAL_FAILURE(apply_guard({"10.98.0.12"}));
  EXPECT_TRUE(arrives("b2", vxlan));
  EXPECT_FALSE(arrives("b1", vxlan, kDropWait));
  // No peers: no one.
  ASSERT_NO_FATAL_FAILURE(apply_guard({}));
  EXPECT_FALSE(arrives("b1", vxlan, kDropWait));
  EXPECT_FALSE(arrives("b2", vxlan, kDropWait));
  EXPECT_TRUE(arrives("b2", other));
  // Removed: open again.
  ASSERT_TRUE(remove_table(ns("node"), "ip", kVxlanTable).ok());
  EXPECT_EQ(table_exists(ns("node"), "ip", kVxlanTable).value_or(true), false);
  EXPECT_FALSE(list_table(ns("node"), "ip", kVxlanTable).ok());
  EXPECT_TRUE(arrives("b1", vxlan));
}

}  // namespace
}  // namespace shoal::netlb
