// Datapath on real namespaces (root only): two "nodes" (network namespaces
// joined by an underlay veth with TEST-NET-1 addresses), one Datapath per
// node, one task namespace per node. Everything lives in namespaces and
// files this test makes; nothing is configured in the host's namespace.
#include "agent/network/overlay/datapath.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netlink/route/link.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "os/netns_file.h"
#include "agent/network/overlay/rtnl.h"

namespace shoal::netoverlay {
namespace {

using namespace std::chrono_literals;

TEST(DatapathNames, MacForIpIsDockers) {
  EXPECT_EQ(Datapath::mac_for_ip("10.0.0.2"), "02:42:0a:00:00:02");
  EXPECT_EQ(Datapath::mac_for_ip("10.99.255.254"), "02:42:0a:63:ff:fe");
  EXPECT_EQ(Datapath::mac_for_ip("10.0.0"), "");
  EXPECT_EQ(Datapath::veth_name("abcdefghijklmnop"), "ve-abcdefghijk");
  EXPECT_LE(Datapath::veth_name("abcdefghijklmnop").size(), 15u);
  EXPECT_EQ(Datapath::temp_vxlan_name("0123456789abcdef"), "vx-0123456789ab");
}

TEST(DatapathNames, ParseMac) {
  unsigned char b[6];
  EXPECT_TRUE(rtnl::parse_mac("02:42:0A:ff:00:01", b));
  EXPECT_EQ(b[2], 0x0a);
  EXPECT_EQ(b[3], 0xff);
  EXPECT_FALSE(rtnl::parse_mac("02:42:0a:ff:00", b));
  EXPECT_FALSE(rtnl::parse_mac("02-42-0a-ff-00-01", b));
  EXPECT_FALSE(rtnl::parse_mac("02:42:0g:ff:00:01", b));
}

std::string unique_dir() {
  static std::atomic<int> n{0};
  return "/tmp/shoal-netoverlay-" + std::to_string(getpid()) + "-" + std::to_string(n++);
}

TEST(DatapathValidation, RefusesBadInput) {
  std::string dir = unique_dir();
  auto dp = Datapath::create({dir, "192.0.2.1", 4789, "", {}});
  ASSERT_TRUE(dp.ok()) << dp.status().message();
  NetworkConfig n{"netvalidation1", 4096, "10.99.0.0/24", "10.99.0.1"};
  auto bad = n;
  bad.vni = 0;
  EXPECT_EQ((*dp)->ensure_network(bad).code(), Code::kInvalidArgument);
  bad = n;
  bad.gateway = "10.98.0.1";
  EXPECT_EQ((*dp)->ensure_network(bad).code(), Code::kInvalidArgument);
  bad = n;
  bad.id = "short";
  EXPECT_EQ((*dp)->ensure_network(bad).code(), Code::kInvalidArgument);
  bad = n;
  bad.id = "../../etc/passwd";
  EXPECT_EQ((*dp)->ensure_network(bad).code(), Code::kInvalidArgument);
  LocalEndpoint e{"taskvalidation", "/proc/self/ns/net", "eth0", "10.99.0.2", "", false};
  Status st = (*dp)->attach(n.id, e);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.message();
  EXPECT_EQ((*dp)->set_peers(n.id, {{"10.99.0.3", "", "192.0.2.2"}}).code(), Code::kFailedPrecondition);
  EXPECT_EQ((*dp)->set_peers(n.id, {{"10.99.0.3", "", "192.0.2.2"}, {"10.99.0.3", "", "192.0.2.3"}}).code(),
            Code::kInvalidArgument);
  st = (*dp)->detach(n.id, "taskvalidation");
  EXPECT_TRUE(st.ok()) << st.message();
  st = (*dp)->remove_network(n.id);
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_TRUE((*dp)->networks().empty());
  std::filesystem::remove_all(dir);
}

// The permission bits (and setuid/setgid/sticky) of `path` itself.
mode_t mode_of(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

TEST(DatapathStateDir, IsMadeAndKeptOwnerOnly) {
  const std::string dir = unique_dir();
  const std::string state = dir + "/a/state";
  // Made anew (with its parents): 0700 whatever the umask.
  mode_t old_umask = ::umask(0);
  auto dp = Datapath::create({state + "/", "192.0.2.1", 4789, "", {}});
  ::umask(old_umask);
  ASSERT_TRUE(dp.ok()) << dp.status().message();
  EXPECT_EQ(mode_of(state), 0700u);
  EXPECT_EQ((*dp)->netns_path("net0123456789"), state + "/ns-net012345678");
  // Found with group/other bits (and setgid, sticky): fixed.
  ASSERT_EQ(::chmod(state.c_str(), 03777), 0);
  dp = Datapath::create({state, "192.0.2.1", 4789, "", {}});
  ASSERT_TRUE(dp.ok()) << dp.status().message();
  EXPECT_EQ(mode_of(state), 0700u);
  // Found owned by someone else: given back to this process's user.
  if (geteuid() == 0) {
    ASSERT_EQ(::chown(state.c_str(), 65534, 65534), 0);
    ASSERT_EQ(::chmod(state.c_str(), 0750), 0);
    dp = Datapath::create({state, "192.0.2.1", 4789, "", {}});
    ASSERT_TRUE(dp.ok()) << dp.status().message();
    struct stat st {};
    ASSERT_EQ(::stat(state.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_gid, 0u);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
  }
  std::filesystem::remove_all(dir);
}

TEST(DatapathStateDir, RefusesASymlinkOrAFileAndLeavesThemAlone) {
  const std::string dir = unique_dir();
  ASSERT_TRUE(std::filesystem::create_directories(dir + "/real"));
  ASSERT_EQ(::chmod((dir + "/real").c_str(), 0755), 0);
  ASSERT_EQ(::symlink((dir + "/real").c_str(), (dir + "/link").c_str()), 0);
  auto dp = Datapath::create({dir + "/link", "192.0.2.1", 4789, "", {}});
  ASSERT_FALSE(dp.ok());
  EXPECT_EQ(dp.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(dp.status().message().find("is a symbolic link"), std::string::npos) << dp.status().message();
  EXPECT_EQ(mode_of(dir + "/real"), 0755u) << "the symlink's target is not touched";
  // A dangling symlink is refused the same way (nothing is made through it).
  ASSERT_EQ(::symlink((dir + "/nowhere").c_str(), (dir + "/dangling").c_str()), 0);
  dp = Datapath::create({dir + "/dangling", "192.0.2.1", 4789, "", {}});
  EXPECT_EQ(dp.status().code(), Code::kFailedPrecondition) << dp.status().message();
  EXPECT_FALSE(std::filesystem::exists(dir + "/nowhere"));
  // A regular file.
  std::ofstream(dir + "/file") << "x";
  ASSERT_EQ(::chmod((dir + "/file").c_str(), 0644), 0);
  dp = Datapath::create({dir + "/file", "192.0.2.1", 4789, "", {}});
  ASSERT_FALSE(dp.ok());
  EXPECT_EQ(dp.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(dp.status().message().find("is not a directory"), std::string::npos) << dp.status().message();
  EXPECT_EQ(mode_of(dir + "/file"), 0644u);
  // The root directory is never made 0700.
  dp = Datapath::create({"/", "192.0.2.1", 4789, "", {}});
  EXPECT_EQ(dp.status().code(), Code::kFailedPrecondition) << dp.status().message();
  std::filesystem::remove_all(dir);
}

// The inode of the calling thread's network namespace.
ino_t current_netns() {
  struct stat st {};
  ::stat("/proc/thread-self/ns/net", &st);
  return st.st_ino;
}

class OverlayTest : public ::testing::Test {
 protected:
  static constexpr const char* kNet = "ovltestnet000001";
  static constexpr uint32_t kVni = 4242;
  static constexpr const char* kTaskA = "taskaaaaaaaaaaaaaaaa";
  static constexpr const char* kTaskB = "taskbbbbbbbbbbbbbbbb";
  static constexpr const char* kIpA = "10.99.0.2";
  static constexpr const char* kIpB = "10.99.0.3";
  static constexpr const char* kVtepA = "192.0.2.1";
  static constexpr const char* kVtepB = "192.0.2.2";

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: creates network namespaces";
    dir_ = unique_dir();
    ASSERT_TRUE(std::filesystem::create_directories(dir_));
    for (const char* name : {"nodeA", "nodeB", "taskA", "taskB"}) {
      std::string p = dir_ + "/" + name;
      Status st = create_netns_file(p);
      ASSERT_TRUE(st.ok()) << st.message();
      made_ns_.push_back(p);
    }
    node_a_ = dir_ + "/nodeA";
    node_b_ = dir_ + "/nodeB";
    task_a_ = dir_ + "/taskA";
    task_b_ = dir_ + "/taskB";
    build_underlay();
    auto a = Datapath::create({dir_ + "/stateA", kVtepA, 4789, node_a_, {}});
    ASSERT_TRUE(a.ok()) << a.status().message();
    dp_a_ = std::move(a).value();
    auto b = Datapath::create({dir_ + "/stateB", kVtepB, 4789, node_b_, {}});
    ASSERT_TRUE(b.ok()) << b.status().message();
    dp_b_ = std::move(b).value();
  }

  void TearDown() override {
    for (auto* dp : {dp_a_.get(), dp_b_.get()}) {
      if (!dp) continue;
      Status st = dp->remove_all();
      EXPECT_TRUE(st.ok()) << st.message();
    }
    for (const auto& p : made_ns_) {
      Status st = remove_netns_file(p);
      EXPECT_TRUE(st.ok()) << st.message();
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  rtnl::Socket sock(const std::string& ns_path) {
    auto fd = open_netns(ns_path, ns_path);
    EXPECT_TRUE(fd.ok()) << fd.status().message();
    auto s = rtnl::Socket::open_in(fd->get(), ns_path);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return std::move(s).value();
  }

  void up_with_address(rtnl::Socket& s, const std::string& name, const std::string& ip) {
    auto l = rtnl::get_link(s, name);
    ASSERT_TRUE(l.ok() && *l) << name;
    rtnl::LinkChange c;
    c.up = true;
    ASSERT_TRUE(rtnl::change_link(s, **l, c).ok());
    if (!ip.empty()) {
      ASSERT_TRUE(rtnl::add_address(s, **l, ip, 24).ok());
    }
  }

  // nodeA:ul0 192.0.2.1/24 <-> nodeB:ul0 192.0.2.2/24.
  void build_underlay() {
    auto a = sock(node_a_);
    auto b_fd = open_netns(node_b_, "node B");
    ASSERT_TRUE(b_fd.ok());
    Status st = rtnl::add_veth(a, {"ul0", 1500, "ul0", "02:00:00:00:0b:01", b_fd->get()});
    ASSERT_TRUE(st.ok()) << st.message();
    auto b = sock(node_b_);
    up_with_address(a, "lo", "");
    up_with_address(b, "lo", "");
    up_with_address(a, "ul0", std::string(kVtepA));
    up_with_address(b, "ul0", std::string(kVtepB));
  }

  NetworkConfig net() const { return {kNet, kVni, "10.99.0.0/24", "10.99.0.1"}; }

  void ensure_and_attach_both() {
    Status st = dp_a_->ensure_network(net());
    ASSERT_TRUE(st.ok()) << st.message();
    st = dp_b_->ensure_network(net());
    ASSERT_TRUE(st.ok()) << st.message();
    st = dp_a_->attach(kNet, {kTaskA, task_a_, "eth0", kIpA, "", true});
    ASSERT_TRUE(st.ok()) << st.message();
    st = dp_b_->attach(kNet, {kTaskB, task_b_, "eth0", kIpB, "", true});
    ASSERT_TRUE(st.ok()) << st.message();
  }

  void peer_both() {
    Status st = dp_a_->set_peers(kNet, {{kIpB, "", kVtepB}});
    ASSERT_TRUE(st.ok()) << st.message();
    st = dp_b_->set_peers(kNet, {{kIpA, "", kVtepA}});
    ASSERT_TRUE(st.ok()) << st.message();
  }

  // A TCP socket made in the namespace `ns_path`.
  UniqueFd tcp_socket_in(const std::string& ns_path) {
    auto ns = open_netns(ns_path, ns_path);
    EXPECT_TRUE(ns.ok());
    int fd = -1;
    Status st = run_in_netns_thread(ns->get(), ns_path, [&] {
      fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      return fd < 0 ? errno_status("socket", errno) : ok_status();
    });
    EXPECT_TRUE(st.ok()) << st.message();
    return UniqueFd(fd);
  }

  // True when a TCP connection from a socket in `from_ns` reaches a
  // listener on ip:port made in `to_ns` within `within`. Retries refused or
  // unreachable attempts until then, so it also waits out link setup.
  bool tcp_reaches(const std::string& from_ns, const std::string& to_ns, const std::string& ip,
                   std::chrono::milliseconds within) {
    UniqueFd listener = tcp_socket_in(to_ns);
    sockaddr_in any{};
    any.sin_family = AF_INET;
    int one = 1;
    ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&any), sizeof any) != 0) return false;
    if (::listen(listener.get(), 4) != 0) return false;
    socklen_t len = sizeof any;
    ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&any), &len);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = any.sin_port;
    inet_pton(AF_INET, ip.c_str(), &dst.sin_addr);
    auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
      UniqueFd c = tcp_socket_in(from_ns);
      int rc = ::connect(c.get(), reinterpret_cast<sockaddr*>(&dst), sizeof dst);
      int err = rc == 0 ? 0 : errno;
      if (err == EINPROGRESS) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd p{c.get(), POLLOUT, 0};
        if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 1))) <= 0) return false;  // timed out
        socklen_t el = sizeof err;
        ::getsockopt(c.get(), SOL_SOCKET, SO_ERROR, &err, &el);
      }
      if (err == 0) return true;
      // Refused/unreachable: the path is not there (yet); poll the listener
      // as the pause before the next attempt so this is not a bare sleep.
      pollfd lp{listener.get(), POLLIN, 0};
      ::poll(&lp, 1, 50);
    }
    return false;
  }

  bool a_reaches_b(std::chrono::milliseconds within = 5s) { return tcp_reaches(task_a_, task_b_, kIpB, within); }
  bool b_reaches_a(std::chrono::milliseconds within = 5s) { return tcp_reaches(task_b_, task_a_, kIpA, within); }
  bool a_cannot_reach_b() { return !tcp_reaches(task_a_, task_b_, kIpB, 1500ms); }

  // A link that is no VXLAN device, named `name`: a dummy, or a bridge on
  // kernels without the dummy driver. Its kind goes to *kind.
  void add_foreign(rtnl::Socket& s, const std::string& name, std::string* kind) {
    rtnl_link* l = rtnl_link_alloc();
    ASSERT_NE(l, nullptr);
    rtnl_link_set_name(l, name.c_str());
    int err = rtnl_link_set_type(l, "dummy");
    if (err == 0) err = rtnl_link_add(s.get(), l, NLM_F_CREATE | NLM_F_EXCL);
    rtnl_link_put(l);
    *kind = "dummy";
    if (err == -NLE_OPNOTSUPP) {
      *kind = "bridge";
      Status st = rtnl::add_bridge(s, name, 1500);
      ASSERT_TRUE(st.ok()) << st.message();
      return;
    }
    ASSERT_EQ(err, 0) << "adding dummy " << name << ": " << nl_geterror(err);
  }

  // The link `name` in `s`, which must be there.
  rtnl::Link must_have(rtnl::Socket& s, const std::string& name) {
    auto l = rtnl::get_link(s, name);
    EXPECT_TRUE(l.ok() && *l) << name << " is missing in " << s.where();
    return l.ok() && *l ? **l : rtnl::Link{};
  }

  bool has_link(rtnl::Socket& s, const std::string& name) {
    auto l = rtnl::get_link(s, name);
    EXPECT_TRUE(l.ok()) << l.status().message();
    return l.ok() && l->has_value();
  }

  void delete_link(rtnl::Socket& s, const std::string& name) {
    auto l = rtnl::get_link(s, name);
    ASSERT_TRUE(l.ok() && *l) << name;
    Status st = rtnl::delete_link(s, (*l)->index, name);
    ASSERT_TRUE(st.ok()) << st.message();
  }

  // vxlan0's entries in node A's namespace of the network.
  std::pair<std::vector<rtnl::FdbEntry>, std::vector<rtnl::NeighEntry>> entries_a() {
    auto s = sock(dp_a_->netns_path(kNet));
    auto vx = rtnl::get_link(s, "vxlan0");
    EXPECT_TRUE(vx.ok() && *vx);
    auto fdb = rtnl::list_fdb(s, (*vx)->index);
    auto neigh = rtnl::list_neigh(s, (*vx)->index);
    EXPECT_TRUE(fdb.ok() && neigh.ok());
    return {*fdb, *neigh};
  }

  std::string dir_, node_a_, node_b_, task_a_, task_b_;
  std::vector<std::string> made_ns_;
  std::unique_ptr<Datapath> dp_a_, dp_b_;
};

TEST_F(OverlayTest, TasksReachEachOtherOverVxlanOnlyWithPeers) {
  ino_t my_ns = current_netns();
  ensure_and_attach_both();
  EXPECT_EQ(current_netns(), my_ns) << "the caller's thread must never change namespace";

  // The task side: eth0 with the address, Docker's MAC, the MTU, up.
  auto t = sock(task_a_);
  auto eth = rtnl::get_link(t, "eth0");
  ASSERT_TRUE(eth.ok() && *eth);
  EXPECT_EQ((*eth)->mac, "02:42:0a:63:00:02");
  EXPECT_EQ((*eth)->mtu, 1450u);
  EXPECT_TRUE((*eth)->flags & IFF_UP);
  auto addrs = rtnl::list_addresses(t, (*eth)->index);
  ASSERT_TRUE(addrs.ok());
  EXPECT_EQ(*addrs, std::vector<std::string>{"10.99.0.2/24"});
  // The network side: vxlan0 as configured, a port of br0.
  auto n = sock(dp_a_->netns_path(kNet));
  auto vx = rtnl::get_link(n, "vxlan0");
  auto br = rtnl::get_link(n, "br0");
  ASSERT_TRUE(vx.ok() && *vx && br.ok() && *br);
  EXPECT_EQ((*vx)->vni, kVni);
  EXPECT_EQ((*vx)->port, 4789);
  EXPECT_EQ((*vx)->local, kVtepA);
  EXPECT_EQ((*vx)->master, (*br)->index);
  EXPECT_EQ((*vx)->mtu, 1450u);
  EXPECT_EQ((*br)->mtu, 1450u);

  EXPECT_TRUE(a_cannot_reach_b()) << "no peers programmed yet";
  peer_both();
  EXPECT_TRUE(a_reaches_b());
  EXPECT_TRUE(b_reaches_a());
  // The gateway is on br0 (the default route's next hop) and answers.
  EXPECT_TRUE(tcp_reaches(task_a_, dp_a_->netns_path(kNet), "10.99.0.1", 5s));

  // Removing the peer cuts the path, putting it back restores it.
  ASSERT_TRUE(dp_a_->set_peers(kNet, {}).ok());
  EXPECT_TRUE(entries_a().first.empty());
  EXPECT_TRUE(entries_a().second.empty());
  EXPECT_TRUE(a_cannot_reach_b());
  ASSERT_TRUE(dp_a_->set_peers(kNet, {{kIpB, "", kVtepB}}).ok());
  EXPECT_TRUE(a_reaches_b());

  // Detaching B cuts it off; detaching again is fine.
  ASSERT_TRUE(dp_b_->detach(kNet, kTaskB).ok());
  auto tb = sock(task_b_);
  auto gone = rtnl::get_link(tb, "eth0");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(*gone) << "the task's end of the veth goes with the network's end";
  EXPECT_TRUE(a_cannot_reach_b());
  EXPECT_TRUE(dp_b_->detach(kNet, kTaskB).ok());
  // And attaching it again brings it back.
  ASSERT_TRUE(dp_b_->attach(kNet, {kTaskB, task_b_, "eth0", kIpB, "", true}).ok());
  EXPECT_TRUE(a_reaches_b());
  EXPECT_EQ(current_netns(), my_ns);
}

TEST_F(OverlayTest, EnsureAndAttachAreIdempotent) {
  ensure_and_attach_both();
  peer_both();
  ASSERT_TRUE(a_reaches_b());
  auto n = sock(dp_a_->netns_path(kNet));
  auto vx_before = rtnl::get_link(n, "vxlan0");
  ASSERT_TRUE(vx_before.ok() && *vx_before);
  // Again, unchanged: the same devices stay (same ifindex), peers stay.
  ASSERT_TRUE(dp_a_->ensure_network(net()).ok());
  Status st = dp_a_->attach(kNet, {kTaskA, task_a_, "eth0", kIpA, "", true});
  ASSERT_TRUE(st.ok()) << st.message();
  auto vx_after = rtnl::get_link(n, "vxlan0");
  ASSERT_TRUE(vx_after.ok() && *vx_after);
  EXPECT_EQ((*vx_after)->index, (*vx_before)->index);
  EXPECT_EQ(entries_a().first.size(), 1u);
  auto t = sock(task_a_);
  auto eth = rtnl::get_link(t, "eth0");
  ASSERT_TRUE(eth.ok() && *eth);
  auto addrs = rtnl::list_addresses(t, (*eth)->index);
  ASSERT_TRUE(addrs.ok());
  EXPECT_EQ(addrs->size(), 1u);
  EXPECT_TRUE(a_reaches_b());

  // Another interface name that is taken by something else is refused.
  st = dp_a_->attach(kNet, {"taskccccccccccccc", task_a_, "eth0", "10.99.0.4", "", false});
  EXPECT_EQ(st.code(), Code::kAlreadyExists) << st.message();
}

TEST_F(OverlayTest, SetPeersReconcilesAndIsIdempotent) {
  ensure_and_attach_both();
  std::vector<RemotePeer> peers = {{kIpB, "", kVtepB}, {"10.99.0.9", "", "192.0.2.9"}};
  ASSERT_TRUE(dp_a_->set_peers(kNet, peers).ok());
  auto [fdb, neigh] = entries_a();
  std::sort(fdb.begin(), fdb.end(), [](auto& x, auto& y) { return x.mac < y.mac; });
  std::sort(neigh.begin(), neigh.end(), [](auto& x, auto& y) { return x.ip < y.ip; });
  EXPECT_EQ(fdb, (std::vector<rtnl::FdbEntry>{{"02:42:0a:63:00:03", kVtepB}, {"02:42:0a:63:00:09", "192.0.2.9"}}));
  EXPECT_EQ(neigh, (std::vector<rtnl::NeighEntry>{{kIpB, "02:42:0a:63:00:03"}, {"10.99.0.9", "02:42:0a:63:00:09"}}));
  ASSERT_TRUE(dp_a_->set_peers(kNet, peers).ok());
  EXPECT_EQ(entries_a().first.size(), 2u);
  EXPECT_EQ(entries_a().second.size(), 2u);

  // The stale one goes, a moved one (same IP, new VTEP) is replaced, the
  // rest is left alone.
  ASSERT_TRUE(dp_a_->set_peers(kNet, {{kIpB, "", kVtepB}, {"10.99.0.10", "02:42:AA:BB:CC:DD", "192.0.2.10"}}).ok());
  std::tie(fdb, neigh) = entries_a();
  std::sort(fdb.begin(), fdb.end(), [](auto& x, auto& y) { return x.mac < y.mac; });
  EXPECT_EQ(fdb, (std::vector<rtnl::FdbEntry>{{"02:42:0a:63:00:03", kVtepB}, {"02:42:aa:bb:cc:dd", "192.0.2.10"}}));
  ASSERT_TRUE(dp_a_->set_peers(kNet, {{kIpB, "", "192.0.2.7"}}).ok());
  std::tie(fdb, neigh) = entries_a();
  EXPECT_EQ(fdb, (std::vector<rtnl::FdbEntry>{{"02:42:0a:63:00:03", "192.0.2.7"}}));
  EXPECT_EQ(neigh, (std::vector<rtnl::NeighEntry>{{kIpB, "02:42:0a:63:00:03"}}));
  // Pointed at the wrong VTEP, B is unreachable; pointed back, reachable.
  ASSERT_TRUE(dp_b_->set_peers(kNet, {{kIpA, "", kVtepA}}).ok());
  EXPECT_TRUE(a_cannot_reach_b());
  ASSERT_TRUE(dp_a_->set_peers(kNet, {{kIpB, "", kVtepB}}).ok());
  EXPECT_TRUE(a_reaches_b());
}

TEST_F(OverlayTest, RemoveNetworkLeavesNothing) {
  ensure_and_attach_both();
  peer_both();
  const std::string path = dp_a_->netns_path(kNet);
  EXPECT_EQ(dp_a_->networks(), std::vector<std::string>{"ovltestnet00"});
  EXPECT_TRUE(is_mount_point(path));

  ASSERT_TRUE(dp_a_->remove_network(kNet).ok());
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(is_mount_point(path));
  EXPECT_TRUE(dp_a_->networks().empty());
  auto t = sock(task_a_);
  auto eth = rtnl::get_link(t, "eth0");
  ASSERT_TRUE(eth.ok());
  EXPECT_FALSE(*eth) << "the task's interface goes with the network";
  auto node = sock(node_a_);
  auto links = rtnl::list_links(node);
  ASSERT_TRUE(links.ok());
  for (const auto& l : *links) EXPECT_TRUE(l.name == "lo" || l.name == "ul0") << "left behind: " << l.name;
  EXPECT_TRUE(dp_a_->remove_network(kNet).ok()) << "missing is fine";

  // The VNI is free again at once: the network can be made anew.
  ensure_and_attach_both();
  peer_both();
  EXPECT_TRUE(a_reaches_b());
}

TEST_F(OverlayTest, EnsureNetworkRepairsAHalfMadeOne) {
  // A VXLAN device left in the node's namespace by an interrupted
  // ensure_network (same temporary name, even the same VNI).
  auto node = sock(node_a_);
  Status st = rtnl::add_vxlan(node, {Datapath::temp_vxlan_name(kNet), kVni, kVtepA, 4789, 1450});
  ASSERT_TRUE(st.ok()) << st.message();
  ensure_and_attach_both();
  auto stale = rtnl::get_link(node, Datapath::temp_vxlan_name(kNet));
  ASSERT_TRUE(stale.ok());
  EXPECT_FALSE(*stale);

  // vxlan0 lost (as if the process died before moving it): made again.
  auto n = sock(dp_a_->netns_path(kNet));
  auto vx = rtnl::get_link(n, "vxlan0");
  ASSERT_TRUE(vx.ok() && *vx);
  ASSERT_TRUE(rtnl::delete_link(n, (*vx)->index, "vxlan0").ok());
  st = dp_a_->ensure_network(net());
  ASSERT_TRUE(st.ok()) << st.message();
  peer_both();
  EXPECT_TRUE(a_reaches_b());
}

size_t open_fds() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

TEST_F(OverlayTest, LeavesNoFdsOpen) {
  size_t before = open_fds();
  ensure_and_attach_both();
  peer_both();
  ASSERT_TRUE(dp_a_->set_peers(kNet, {}).ok());
  ASSERT_TRUE(dp_a_->detach(kNet, kTaskA).ok());
  ASSERT_TRUE(dp_a_->remove_network(kNet).ok());
  ASSERT_TRUE(dp_b_->remove_all().ok());
  EXPECT_EQ(open_fds(), before);
}

TEST_F(OverlayTest, ANewDatapathFindsAndRemovesWhatTheOldOneMade) {
  ensure_and_attach_both();
  auto again = Datapath::create({dir_ + "/stateA", kVtepA, 4789, node_a_, {}});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->networks(), std::vector<std::string>{"ovltestnet00"});
  ASSERT_TRUE((*again)->remove_all().ok());
  EXPECT_TRUE(dp_a_->networks().empty());
  EXPECT_FALSE(is_mount_point(dp_a_->netns_path(kNet)));
}

TEST_F(OverlayTest, RemoveNetworkDeletesOnlyItsOwnLeftoverInTheNodeNamespace) {
  const std::string tmp = Datapath::temp_vxlan_name(kNet);
  auto node = sock(node_a_);

  // A link of another kind with the temporary VXLAN name survives (the
  // network must exist: without its file remove_network looks no further).
  ASSERT_TRUE(dp_a_->ensure_network(net()).ok());
  std::string kind;
  ASSERT_NO_FATAL_FAILURE(add_foreign(node, tmp, &kind));
  const rtnl::Link dummy = must_have(node, tmp);
  Status st = dp_a_->remove_network(kNet);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_FALSE(std::filesystem::exists(dp_a_->netns_path(kNet))) << "the rest of the removal is done";
  rtnl::Link after = must_have(node, tmp);
  EXPECT_EQ(after.index, dummy.index);
  EXPECT_EQ(after.kind, kind);
  ASSERT_NO_FATAL_FAILURE(delete_link(node, tmp));

  // So does a VXLAN device with that name made for another port.
  ASSERT_TRUE(dp_a_->ensure_network(net()).ok());
  st = rtnl::add_vxlan(node, {tmp, kVni + 1, kVtepA, 4790, 1450});
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_TRUE(dp_a_->remove_network(kNet).ok());
  after = must_have(node, tmp);
  EXPECT_EQ(after.kind, "vxlan");
  EXPECT_EQ(after.port, 4790);
  ASSERT_NO_FATAL_FAILURE(delete_link(node, tmp));

  // Its own leftover (any VNI) goes.
  ASSERT_TRUE(dp_a_->ensure_network(net()).ok());
  st = rtnl::add_vxlan(node, {tmp, kVni + 1, kVtepA, 4789, 1450});
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_TRUE(dp_a_->remove_network(kNet).ok());
  EXPECT_FALSE(has_link(node, tmp));
  auto links = rtnl::list_links(node);
  ASSERT_TRUE(links.ok());
  for (const auto& l : *links) EXPECT_TRUE(l.name == "lo" || l.name == "ul0") << "left behind: " << l.name;
}

TEST_F(OverlayTest, EnsureNetworkRefusesAForeignDeviceUnderTheTemporaryName) {
  const std::string tmp = Datapath::temp_vxlan_name(kNet);
  auto node = sock(node_a_);
  std::string kind;
  ASSERT_NO_FATAL_FAILURE(add_foreign(node, tmp, &kind));
  const rtnl::Link dummy = must_have(node, tmp);
  Status st = dp_a_->ensure_network(net());
  EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.message();
  EXPECT_NE(st.message().find(tmp + " (kind " + kind + ")"), std::string::npos) << st.message();
  EXPECT_EQ(must_have(node, tmp).index, dummy.index);
  ASSERT_NO_FATAL_FAILURE(delete_link(node, tmp));
  st = dp_a_->ensure_network(net());
  EXPECT_TRUE(st.ok()) << st.message();
}

TEST_F(OverlayTest, ANamespaceFileSymlinkIsNeverFollowed) {
  // ns-<id> in the state dir points at another namespace (node B's), which
  // has a br0 of its own and its underlay ul0.
  auto b = sock(node_b_);
  Status st = rtnl::add_bridge(b, "br0", 1500);
  ASSERT_TRUE(st.ok()) << st.message();
  const rtnl::Link br_b = must_have(b, "br0");
  const std::string path = dp_a_->netns_path(kNet);
  ASSERT_EQ(::symlink(node_b_.c_str(), path.c_str()), 0);

  st = dp_a_->ensure_network(net());
  EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.message();
  EXPECT_NE(st.message().find("symbolic link"), std::string::npos) << st.message();
  st = dp_a_->attach(kNet, {kTaskA, task_a_, "eth0", kIpA, "", true});
  EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.message();
  st = dp_a_->set_peers(kNet, {{kIpB, "", kVtepB}});
  EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.message();
  EXPECT_TRUE(dp_a_->detach(kNet, kTaskA).ok());
  EXPECT_FALSE(has_link(b, "vxlan0"));
  EXPECT_EQ(dp_a_->networks(), std::vector<std::string>{"ovltestnet00"});

  // Removing the "network" removes the symlink, nothing it points at.
  st = dp_a_->remove_network(kNet);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(path)));
  EXPECT_EQ(must_have(b, "br0").index, br_b.index);
  EXPECT_TRUE(has_link(b, "ul0"));
  EXPECT_TRUE(is_netns_mount(node_b_));
  ASSERT_NO_FATAL_FAILURE(delete_link(b, "br0"));
}

TEST_F(OverlayTest, ANamespaceFileHoldingTheNodesNamespaceIsNotWorkedOn) {
  // ns-<id> is a bind mount of node A's own namespace, with a br0.
  auto node = sock(node_a_);
  Status st = rtnl::add_bridge(node, "br0", 1500);
  ASSERT_TRUE(st.ok()) << st.message();
  const rtnl::Link br = must_have(node, "br0");
  const std::string path = dp_a_->netns_path(kNet);
  std::ofstream(path).close();
  ASSERT_EQ(::mount(node_a_.c_str(), path.c_str(), nullptr, MS_BIND, nullptr), 0) << strerror(errno);

  st = dp_a_->ensure_network(net());
  EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.message();
  EXPECT_NE(st.message().find("the node's own network namespace"), std::string::npos) << st.message();
  EXPECT_EQ(dp_a_->detach(kNet, kTaskA).code(), Code::kFailedPrecondition);
  EXPECT_FALSE(has_link(node, "vxlan0"));
  EXPECT_FALSE(has_link(node, Datapath::temp_vxlan_name(kNet)));

  st = dp_a_->remove_network(kNet);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(is_mount_point(path));
  EXPECT_EQ(must_have(node, "br0").index, br.index);
  EXPECT_TRUE(has_link(node, "ul0"));
  ASSERT_NO_FATAL_FAILURE(delete_link(node, "br0"));
}

}  // namespace
}  // namespace shoal::netoverlay
