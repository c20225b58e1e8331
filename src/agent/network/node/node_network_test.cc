// NodeNetwork on real namespaces (root only): a "node" namespace, two tasks
// attached to one overlay network through a view, as the agent does. Checks
// what a task sees: its interface, names from the embedded DNS, VIP load
// balancing to serving tasks only; and that detaching leaves nothing.
// Everything lives in namespaces and files this test makes.
#include "agent/network/node/node_network.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "agent/network/dns/dns_test_util.h"
#include "agent/network/lb/apply.h"
#include "agent/network/lb/ruleset.h"
#include "os/netns_file.h"
#include "os/process.h"

namespace shoal::netnode {
namespace {

namespace dt = netdns::testing;
using namespace std::chrono_literals;

constexpr char kNet[] = "nodenettest0000000000001";
constexpr char kTaskA[] = "aaaanodenettaskaaaaaaaaa";  // service "client"; the first 11 chars name its veth
constexpr char kTaskB[] = "bbbbnodenettaskbbbbbbbbb";  // service "web"
constexpr char kIpA[] = "10.98.0.3";
constexpr char kIpB[] = "10.98.0.4";
constexpr char kVip[] = "10.98.0.2";

Task task(const std::string& id, const std::string& ip) {
  Task t;
  t.id = id;
  t.networks = {{kNet, "front", {ip + "/24"}, {}}};
  return t;
}

session::NetworkView view(bool b_serving) {
  session::NetworkInfo n;
  n.id = kNet;
  n.name = "front";
  n.vni = 4300;
  n.subnet = "10.98.0.0/24";
  n.gateway = "10.98.0.1";
  n.endpoints = {{kTaskA, "client", "self", kIpA, "192.0.2.1", true},
                 {kTaskB, "web", "self", kIpB, "192.0.2.1", b_serving},
                 {"taskremotecccccccccccccc", "api", "other", "10.98.0.6", "192.0.2.9", true}};
  n.services = {{"api", "api", {}, "", {}}, {"client", "client", {}, "10.98.0.5", {}}, {"web", "web", {"www"}, kVip, {}}};
  return {{n}};
}

// Resolves `name` through 127.0.0.11 from inside the namespace at `ns`.
dt::Reply resolve(const std::string& ns, const std::string& name) {
  dt::Reply reply;
  Status st = os::call_in_netns(ns, [&] {
    auto b = dt::udp_exchange(53, dt::make_query(name, LDNS_RR_TYPE_A, 7), dt::kWait, "127.0.0.11");
    if (b) reply = dt::parse_reply(*b);
    return ok_status();
  });
  EXPECT_TRUE(st.ok()) << st.message();
  return reply;
}

// A TCP connect from inside `ns` to ip:port: 0 or the errno.
int connect_from(const std::string& ns, const std::string& ip, uint16_t port, int timeout_s = 3) {
  int err = -1;
  Status st = os::call_in_netns(ns, [&] {
    dt::Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    timeval tv{timeout_s, 0};
    setsockopt(fd.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a = dt::loopback(port, ip.c_str());
    err = ::connect(fd.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? 0 : errno;
    return ok_status();
  });
  EXPECT_TRUE(st.ok()) << st.message();
  return err;
}

// A listening TCP socket on 0.0.0.0:port made inside `ns`.
int listen_in(const std::string& ns, uint16_t port) {
  int fd = -1;
  Status st = os::call_in_netns(ns, [&] {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return errno_status("bind", errno);
    return ::listen(fd, 8) == 0 ? ok_status() : errno_status("listen", errno);
  });
  EXPECT_TRUE(st.ok()) << st.message();
  return fd;
}

// The address of the peer of the next connection on `listener`.
std::string accept_peer(int listener) {
  if (!dt::wait_readable(listener, dt::kWait)) return "";
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  dt::Fd conn(::accept4(listener, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC));
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &peer.sin_addr, text, sizeof text);
  return text;
}

// Whether interface `name` exists in `ns`.
bool has_link(const std::string& ns, const std::string& name) {
  bool found = false;
  (void)os::call_in_netns(ns, [&] {
    found = if_nametoindex(name.c_str()) != 0;
    return ok_status();
  });
  return found;
}

class NodeNetworkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: creates network namespaces";
    dir_ = "/tmp/shoal-netnode-" + std::to_string(getpid());
    std::filesystem::create_directories(dir_);
    node_ns_ = dir_ + "/node";
    ASSERT_TRUE(os::create_netns_file(node_ns_).ok());
    Options o = options(dir_ + "/state");
    o.view_wait = 2000ms;
    auto nn = NodeNetwork::create(o);
    ASSERT_TRUE(nn.ok()) << nn.status().message();
    nn_ = std::move(*nn);
  }
  void TearDown() override {
    if (nn_) {
      Status st = nn_->remove_all();
      EXPECT_TRUE(st.ok()) << st.message();
      nn_.reset();
    }
    if (!outside_.empty()) (void)os::run_capture({"ip", "netns", "del", outside_});
    if (!node_ns_.empty()) (void)os::remove_netns_file(node_ns_);
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  // The options of this test's node, its state in `state_dir`.
  Options options(const std::string& state_dir) const {
    Options o;
    o.state_dir = state_dir;
    o.node_id = "self";
    o.underlay_ip = "192.0.2.1";
    o.node_netns_path = node_ns_;
    return o;
  }
  // A host "outside" the node: namespace `name` (ip netns, removed in
  // TearDown) behind a veth, 198.51.100.2 there and 198.51.100.1 on the
  // node's out0; the node's lo up.
  void make_outside(const std::string& name) {
    ASSERT_TRUE(os::run_capture({"ip", "netns", "add", name}).ok());
    outside_ = name;
    for (const auto& argv : std::vector<std::vector<std::string>>{
             {"nsenter", "--net=" + node_ns_, "ip", "link", "add", "out0", "type", "veth", "peer", "name", "eth0",
              "netns", name},
             {"nsenter", "--net=" + node_ns_, "ip", "addr", "add", "198.51.100.1/24", "dev", "out0"},
             {"nsenter", "--net=" + node_ns_, "ip", "link", "set", "out0", "up"},
             {"nsenter", "--net=" + node_ns_, "ip", "link", "set", "lo", "up"},
             {"ip", "-n", name, "addr", "add", "198.51.100.2/24", "dev", "eth0"},
             {"ip", "-n", name, "link", "set", "eth0", "up"}}) {
      auto r = os::run_capture(argv);
      ASSERT_TRUE(r.ok()) << r.status().message();
    }
  }
  std::string dir_, node_ns_, outside_;
  std::unique_ptr<NodeNetwork> nn_;
};

TEST_F(NodeNetworkTest, TaskWithoutNetworksGetsNoNamespace) {
  Task t;
  t.id = "taskwithoutnetworks00001";
  auto r = nn_->attach_task(t);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "");
  EXPECT_TRUE(nn_->tasks().empty());
}

TEST_F(NodeNetworkTest, WaitsForTheViewThenGivesUp) {
  auto r = nn_->attach_task(task(kTaskA, kIpA));
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().message();
  EXPECT_NE(r.status().message().find("has not received the configuration"), std::string::npos);
  EXPECT_TRUE(nn_->tasks().empty());
  Task bad = task(kTaskA, kIpA);
  bad.networks[0].addresses.clear();
  EXPECT_EQ(nn_->attach_task(bad).status().code(), Code::kFailedPrecondition);
  // Two tasks whose ids share the 11 characters that name a veth: the
  // second is refused instead of taking over the first one's interface.
  nn_->set_view(view(true));
  ASSERT_TRUE(nn_->attach_task(task(kTaskA, kIpA)).ok());
  auto twin = nn_->attach_task(task(std::string(kTaskA).substr(0, 11) + "twin000000000", kIpB));
  EXPECT_EQ(twin.status().code(), Code::kAlreadyExists) << twin.status().message();
  bad.id = "../../etc";
  EXPECT_EQ(nn_->attach_task(bad).status().code(), Code::kInvalidArgument);
}

TEST_F(NodeNetworkTest, NamesAndVipFollowTheView) {
  nn_->set_view(view(true));
  auto a = nn_->attach_task(task(kTaskA, kIpA));
  ASSERT_TRUE(a.ok()) << a.status().message();
  auto b = nn_->attach_task(task(kTaskB, kIpB));
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(*a, dir_ + "/state/tasks/" + kTaskA);
  EXPECT_TRUE(os::is_netns_mount(*a));
  EXPECT_EQ(nn_->attach_task(task(kTaskA, kIpA)).status().code(), Code::kOk);  // idempotent

  // The node's VXLAN port takes packets only from the peers' tunnel endpoints.
  auto guard = netlb::list_table(node_ns_, "ip", netlb::kVxlanTable);
  ASSERT_TRUE(guard.ok()) << guard.status().message();
  EXPECT_NE(guard->find("192.0.2.9"), std::string::npos) << *guard;

  auto r = resolve(*a, "web");
  ASSERT_TRUE(r.parsed);
  EXPECT_EQ(r.a, (std::vector<std::string>{kVip}));
  EXPECT_EQ(resolve(*a, "WWW.").a, (std::vector<std::string>{kVip}));
  EXPECT_EQ(resolve(*a, "tasks.web").a, (std::vector<std::string>{kIpB}));
  EXPECT_EQ(resolve(*a, "api").a, (std::vector<std::string>{"10.98.0.6"}));  // dnsrr, on another node

  // A's connection to the VIP lands on B, with A's own address (no SNAT).
  dt::Fd listener(listen_in(*b, 8080));
  EXPECT_EQ(connect_from(*a, kVip, 8080), 0);
  EXPECT_EQ(accept_peer(listener.fd), kIpA);

  // The way out: eth1 on the node's gateway bridge, the default route via
  // it, masqueraded to the node's address: a host "outside" the node (a
  // namespace behind a veth) sees the node's address. But the node's own
  // services are not the tasks' to reach, nor is another task through it.
  EXPECT_TRUE(has_link(*a, "eth1"));
  EXPECT_TRUE(has_link(node_ns_, "shoal_gwbridge"));
  const std::string outside = "shoal-nntest-" + std::to_string(getpid());
  ASSERT_NO_FATAL_FAILURE(make_outside(outside));
  dt::Fd far(listen_in("/run/netns/" + outside, 9090));
  EXPECT_EQ(connect_from(*a, "198.51.100.2", 9090), 0);
  EXPECT_EQ(accept_peer(far.fd), "198.51.100.1");  // the node's address, not the task's
  dt::Fd on_node(listen_in(node_ns_, 9092));
  EXPECT_EQ(connect_from(*a, "172.18.0.1", 9092, 1), EINPROGRESS);    // the node's services: dropped
  EXPECT_EQ(connect_from(*a, "198.51.100.1", 9092, 1), EINPROGRESS);  // on any of its addresses
  dt::Fd on_a(listen_in(*a, 9091));
  EXPECT_EQ(connect_from(*a, "172.18.0.2", 9091), 0);       // it listens there
  EXPECT_EQ(connect_from(*b, "172.18.0.2", 9091, 1), EINPROGRESS);  // but from B the SYN is dropped

  // B stops serving: it leaves the names and the rotation at once.
  nn_->set_view(view(false));
  r = resolve(*a, "tasks.web");
  EXPECT_EQ(r.rcode, 0);
  EXPECT_TRUE(r.a.empty());
  EXPECT_EQ(connect_from(*a, kVip, 8080), ECONNREFUSED);
  EXPECT_EQ(connect_from(*a, kIpB, 8080), 0);  // still reachable by address

  // Detaching leaves no namespace, record or network behind.
  ASSERT_TRUE(nn_->detach_task(kTaskA).ok());
  ASSERT_TRUE(nn_->detach_task(kTaskB).ok());
  EXPECT_FALSE(std::filesystem::exists(*a));
  EXPECT_FALSE(std::filesystem::exists(*a + ".json"));
  EXPECT_TRUE(nn_->tasks().empty());
  EXPECT_FALSE(has_link(node_ns_, "shoal_gwbridge"));  // no task uses it
  nn_->set_view({});
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/state/ns-" + std::string(kNet).substr(0, 12)));
  EXPECT_FALSE(*netlb::table_exists(node_ns_, "ip", netlb::kVxlanTable));  // no network, no guard
}

TEST_F(NodeNetworkTest, InternalOnlyTasksGetNoForwarding) {
  auto v = view(true);
  v.networks[0].internal = true;
  nn_->set_view(v);
  auto a = nn_->attach_task(task(kTaskA, kIpA));
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(resolve(*a, "web").a, (std::vector<std::string>{kVip}));
  auto r = resolve(*a, "outside.example");
  ASSERT_TRUE(r.parsed);
  EXPECT_EQ(r.rcode, LDNS_RCODE_REFUSED);  // never sent to the node's nameservers
  EXPECT_FALSE(has_link(*a, "eth1"));          // and no way out
  EXPECT_FALSE(has_link(node_ns_, "shoal_gwbridge"));
}

// A data root reached through a symlink: the namespace files are still
// unmounted and removed on detach (mountinfo lists the real path).
TEST_F(NodeNetworkTest, SymlinkedStateDirDetachesCleanly) {
  nn_->remove_all();
  nn_.reset();
  std::filesystem::create_directories(dir_ + "/real");
  std::filesystem::create_directory_symlink(dir_ + "/real", dir_ + "/link");
  auto nn = NodeNetwork::create(options(dir_ + "/link/state"));
  ASSERT_TRUE(nn.ok()) << nn.status().message();
  nn_ = std::move(*nn);
  nn_->set_view(view(true));
  auto a = nn_->attach_task(task(kTaskA, kIpA));
  ASSERT_TRUE(a.ok()) << a.status().message();
  Status st = nn_->detach_task(kTaskA);
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/real/state/tasks/" + kTaskA));
}

TEST_F(NodeNetworkTest, RestartFindsAttachedTasksAgain) {
  nn_->set_view(view(true));
  auto a = nn_->attach_task(task(kTaskA, kIpA));
  ASSERT_TRUE(a.ok()) << a.status().message();
  nn_->stop();
  nn_.reset();  // shoald stops: the namespace file stays, like the container
  auto nn = NodeNetwork::create(options(dir_ + "/state"));
  ASSERT_TRUE(nn.ok()) << nn.status().message();
  nn_ = std::move(*nn);
  EXPECT_EQ(nn_->tasks(), (std::vector<std::string>{kTaskA}));
  nn_->set_view(view(true));  // listeners reopened, rules re-applied
  EXPECT_EQ(resolve(*a, "web").a, (std::vector<std::string>{kVip}));
}

// A host-mode port with no network: the task gets the gateway bridge only;
// the node's address and its 127.0.0.1 on the published port reach the
// task's target port, keeping an outside client's address (only loopback's
// connections are masqueraded); detaching takes the mapping away.
TEST_F(NodeNetworkTest, HostModePortsMapTheNodesPortToTheTask) {
  Task t;
  t.id = "hostporttaskaaaaaaaaaaaa";
  t.host_ports = {{"", "tcp", 9000, 8081, "host"}};
  auto ns = nn_->attach_task(t);
  ASSERT_TRUE(ns.ok()) << ns.status().message();
  ASSERT_FALSE(ns->empty());
  EXPECT_TRUE(has_link(*ns, "eth0"));  // the gateway bridge, its only interface
  const std::string outside = "shoal-nntest-" + std::to_string(getpid());
  ASSERT_NO_FATAL_FAILURE(make_outside(outside));
  dt::Fd listener(listen_in(*ns, 9000));
  EXPECT_EQ(connect_from("/run/netns/" + outside, "198.51.100.1", 8081), 0);
  EXPECT_EQ(accept_peer(listener.fd), "198.51.100.2");  // the client's own address
  EXPECT_EQ(connect_from(node_ns_, "127.0.0.1", 8081), 0);
  EXPECT_EQ(accept_peer(listener.fd), "172.18.0.1");  // loopback: masqueraded to the bridge's address
  EXPECT_EQ(connect_from("/run/netns/" + outside, "198.51.100.1", 9000, 1), ECONNREFUSED)
      << "only the published port is mapped";
  ASSERT_TRUE(nn_->detach_task(t.id).ok());
  EXPECT_FALSE(*netlb::table_exists(node_ns_, "ip", netlb::kMeshTable));
  EXPECT_FALSE(has_link(node_ns_, "shoal_gwbridge"));
}

TEST_F(NodeNetworkTest, AHostModePortTheNodeServesItselfIsRefused) {
  Options o = options(dir_ + "/state2");
  o.own_ports = {{"tcp", 2375}};
  nn_.reset();
  auto nn = NodeNetwork::create(o);
  ASSERT_TRUE(nn.ok()) << nn.status().message();
  nn_ = std::move(*nn);
  Task t;
  t.id = "hostporttaskbbbbbbbbbbbb";
  t.host_ports = {{"", "tcp", 80, 2375, "host"}};
  auto ns = nn_->attach_task(t);
  EXPECT_EQ(ns.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(ns.status().message().find("served by this node itself"), std::string::npos) << ns.status().message();
  EXPECT_TRUE(nn_->tasks().empty());
}

}  // namespace
}  // namespace shoal::netnode
