#include "agent/network/overlay/datapath.h"

#include <fcntl.h>
#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>

#include "agent/network/overlay/plug.h"
#include "agent/network/overlay/rtnl.h"
#include "common/ipv4.h"

namespace shoal::netoverlay {

namespace {

constexpr const char* kBridge = "br0";
constexpr const char* kVxlan = "vxlan0";
constexpr uint32_t kMaxVni = (1u << 24) - 1;

// Ids end up in file and link names: keep them to a safe alphabet.
Status check_id(const std::string& what, const std::string& id, size_t min_chars) {
  if (id.size() < min_chars)
    return invalid_argument(what + " \"" + id + "\" is too short: at least " + std::to_string(min_chars) +
                            " characters are needed");
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-')
      return invalid_argument(what + " \"" + id + "\" has a character other than letters, digits, '_', '.', '-'");
  }
  return ok_status();
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// `mac` normalised to lower case, or mac_for_ip(ip) when empty.
Result<std::string> mac_or_default(const std::string& mac, const std::string& ip) {
  if (mac.empty()) return Datapath::mac_for_ip(ip);
  unsigned char b[6];
  if (!rtnl::parse_mac(mac, b)) return invalid_argument("\"" + mac + "\" is not a MAC address (aa:bb:cc:dd:ee:ff)");
  return lower(mac);
}

// The gateway/prefix on br0 tells attach() the network's subnet, so attach
// works from the kernel's state alone (also after an agent restart).
struct BridgeInfo {
  rtnl::Link link;
  uint32_t gateway = 0;
  int prefix = 0;
};

Result<BridgeInfo> find_bridge(rtnl::Socket& net, const std::string& network) {
  SHOAL_ASSIGN_OR_RETURN(auto br, rtnl::get_link(net, kBridge));
  if (!br || br->kind != "bridge")
    return failed_precondition(std::string("network ") + network + " has no " + kBridge + " in " + net.where() +
                               ": call ensure_network first");
  SHOAL_ASSIGN_OR_RETURN(auto addrs, rtnl::list_addresses(net, br->index));
  for (const auto& a : addrs) {
    auto slash = a.find('/');
    auto gw = ipv4::parse_addr(a.substr(0, slash));
    if (!gw.ok()) continue;
    return BridgeInfo{*br, *gw, std::stoi(a.substr(slash + 1))};
  }
  return failed_precondition(std::string("network ") + network + ": " + kBridge + " in " + net.where() +
                             " has no gateway address: call ensure_network first");
}

// Whether two namespace fds are the same namespace.
bool same_netns(int a, int b) {
  struct stat sa {}, sb {};
  return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// The namespace file of a network: never through a symlink, and never the
// node's own namespace (whose links are not the network's to change).
Result<UniqueFd> open_network_ns(const std::string& path, const std::string& network, int node_ns) {
  SHOAL_ASSIGN_OR_RETURN(UniqueFd fd, open_netns_nofollow(path, "network " + network));
  if (same_netns(fd.get(), node_ns))
    return failed_precondition("the namespace file of network " + network + " (" + path +
                               ") holds the node's own network namespace: refused");
  return fd;
}

// A network's namespace fd and a socket in it.
struct NetSockets {
  UniqueFd ns;
  rtnl::Socket net;
};

Result<NetSockets> open_network(const std::string& path, const std::string& network, int node_ns) {
  SHOAL_ASSIGN_OR_RETURN(UniqueFd fd, open_network_ns(path, network, node_ns));
  const std::string where = "the namespace of network " + network + " (" + path + ")";
  SHOAL_ASSIGN_OR_RETURN(rtnl::Socket s, rtnl::Socket::open_in(fd.get(), where));
  return NetSockets{std::move(fd), std::move(s)};
}

// open_network() of a network ensure_network() made: kFailedPrecondition
// when its namespace is not there.
Result<NetSockets> open_made_network(const std::string& path, const std::string& network, int node_ns) {
  if (!is_netns_mount(path))
    return failed_precondition("network " + network + " has no namespace on this node (" + path +
                               "): call ensure_network first");
  return open_network(path, network, node_ns);
}

// The links remove_network deletes in a network's namespace: the ones
// ensure_network and attach make there.
bool is_network_link(const std::string& name) {
  return name == kBridge || name == kVxlan || name.rfind("ve-", 0) == 0;
}

// Whether `l`, found under a temporary VXLAN name in the node's namespace,
// is one ensure_network left there: a VXLAN device with this datapath's
// port and underlay address, not a port of any bridge. (Its VNI is not
// checked: remove_network does not know it.) Anything else with that name
// is not ours and is left alone.
bool is_leftover_vxlan(const rtnl::Link& l, const Options& o) {
  return l.kind == "vxlan" && l.port == o.vxlan_port && l.local == o.underlay_ip && l.master == 0;
}

std::string describe(const rtnl::Link& l) {
  std::string s = l.name + " (kind " + (l.kind.empty() ? std::string("none") : l.kind);
  if (l.kind == "vxlan")
    s += ", vni " + std::to_string(l.vni) + ", dstport " + std::to_string(l.port) + ", local " +
         (l.local.empty() ? std::string("none") : l.local);
  if (l.master) s += ", a bridge port";
  return s + ")";
}

// The state directory: made if missing (mode 0700), then checked and fixed
// through an fd opened without following a symlink. Returns its real path.
Result<std::string> secure_state_dir(const std::filesystem::path& dir) {
  const std::string what = "state_dir " + dir.string();
  auto refused = [&](const std::string& why) { return failed_precondition("netoverlay: " + what + " " + why); };
  auto os_error = [&](const std::string& doing, int err) {
    return errno_status("netoverlay: " + doing + " " + what, err);
  };
  if (dir == dir.root_path()) return refused("is the root directory: refused");
  struct stat lst {};
  if (::lstat(dir.c_str(), &lst) == 0) {
    if (S_ISLNK(lst.st_mode)) return refused("is a symbolic link: refused (it must be a directory of its own)");
    if (!S_ISDIR(lst.st_mode)) return refused("exists and is not a directory");
  } else {
    std::error_code ec;
    std::filesystem::create_directories(dir.parent_path(), ec);
    if (ec) return internal_error("netoverlay: creating the parent directories of " + what + ": " + ec.message());
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return os_error("creating", errno);
  }
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    // O_DIRECTORY|O_NOFOLLOW on a symlink (one made since the lstat) is ENOTDIR.
    if (err == ENOTDIR || err == ELOOP) return refused("is a symbolic link or not a directory: refused");
    return os_error("opening", err);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return os_error("checking", errno);
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  if ((st.st_uid != uid || st.st_gid != gid) && ::fchown(fd.get(), uid, gid) != 0) {
    int err = errno;
    return os_error("giving uid " + std::to_string(uid) + " (owner now " + std::to_string(st.st_uid) + ")", err);
  }
  if ((st.st_mode & 07777) != 0700 && ::fchmod(fd.get(), 0700) != 0) return os_error("setting mode 0700 on", errno);
  std::error_code ec;
  auto real = std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(fd.get()), ec);
  if (ec) return internal_error("netoverlay: resolving " + what + ": " + ec.message());
  return real.string();
}

Status ensure_bridge(rtnl::Socket& net, const NetworkConfig& n, const ipv4::Cidr& subnet, rtnl::Link* out) {
  SHOAL_ASSIGN_OR_RETURN(auto br, rtnl::get_link(net, kBridge));
  if (br && br->kind != "bridge") {
    SHOAL_RETURN_IF_ERROR(rtnl::delete_link(net, br->index, kBridge));
    br.reset();
  }
  if (!br) {
    SHOAL_RETURN_IF_ERROR(rtnl::add_bridge(net, kBridge, n.mtu));
    SHOAL_ASSIGN_OR_RETURN(br, rtnl::get_link(net, kBridge));
    if (!br) return internal_error(std::string(kBridge) + " vanished right after it was created in " + net.where());
  }
  rtnl::LinkChange c;
  c.mtu = n.mtu;
  c.up = true;
  SHOAL_RETURN_IF_ERROR(rtnl::change_link(net, *br, c));
  SHOAL_RETURN_IF_ERROR(rtnl::add_address(net, *br, n.gateway, subnet.prefix));
  *out = *br;
  return ok_status();
}

}  // namespace

namespace detail {

Status bring_up_lo(rtnl::Socket& s) {
  SHOAL_ASSIGN_OR_RETURN(auto lo, rtnl::get_link(s, "lo"));
  if (!lo) return internal_error("no loopback device in " + s.where());
  if (lo->flags & IFF_UP) return ok_status();
  rtnl::LinkChange c;
  c.up = true;
  return rtnl::change_link(s, *lo, c);
}

Status plug_veth(const Plug& p) {
  SHOAL_ASSIGN_OR_RETURN(auto host, rtnl::get_link(*p.side, p.host_name));
  SHOAL_ASSIGN_OR_RETURN(auto inner, rtnl::get_link(*p.task, p.ifname));
  if (host && !inner) {
    // Our end survived but the task's end did not (the task's namespace was
    // made anew): start over.
    SHOAL_RETURN_IF_ERROR(rtnl::delete_link(*p.side, host->index, p.host_name));
    host.reset();
  }
  if (!host && inner)
    return already_exists("task " + p.task_id + " already has an interface " + p.ifname + " in " + p.netns_path +
                          " that is not attached to " + p.what);
  if (!host) {
    SHOAL_RETURN_IF_ERROR(rtnl::add_veth(*p.side, {p.host_name, p.bridge.mtu, p.ifname, p.mac, p.task_fd}));
    SHOAL_ASSIGN_OR_RETURN(host, rtnl::get_link(*p.side, p.host_name));
    SHOAL_ASSIGN_OR_RETURN(inner, rtnl::get_link(*p.task, p.ifname));
    if (!host || !inner)
      return internal_error("veth pair " + p.host_name + " / " + p.ifname + " of task " + p.task_id +
                            " vanished right after it was created");
  }
  rtnl::LinkChange hc;
  hc.mtu = p.bridge.mtu;
  hc.master = p.bridge.index;
  hc.up = true;
  SHOAL_RETURN_IF_ERROR(rtnl::change_link(*p.side, *host, hc));

  SHOAL_RETURN_IF_ERROR(bring_up_lo(*p.task));
  rtnl::LinkChange tc;
  tc.mtu = p.bridge.mtu;
  tc.up = true;
  if (inner->mac != p.mac) tc.mac = p.mac;
  SHOAL_RETURN_IF_ERROR(rtnl::change_link(*p.task, *inner, tc));
  SHOAL_RETURN_IF_ERROR(rtnl::add_address(*p.task, *inner, p.ip, p.prefix));
  if (!p.gateway.empty()) SHOAL_RETURN_IF_ERROR(rtnl::replace_default_route(*p.task, *inner, p.gateway));
  return ok_status();
}

}  // namespace detail

Result<std::unique_ptr<Datapath>> Datapath::create(Options o) {
  if (o.state_dir.empty()) return invalid_argument("netoverlay: state_dir is empty");
  auto underlay = ipv4::parse_addr(o.underlay_ip);
  if (!underlay.ok()) return underlay.status().with_context("netoverlay: underlay_ip");
  std::error_code ec;
  auto dir = std::filesystem::absolute(o.state_dir, ec).lexically_normal();
  if (ec) return internal_error("netoverlay: resolving state_dir " + o.state_dir + ": " + ec.message());
  if (!dir.has_filename() && dir != dir.root_path()) dir = dir.parent_path();  // "/a/b/" -> "/a/b"
  SHOAL_ASSIGN_OR_RETURN(o.state_dir, secure_state_dir(dir));
  Result<UniqueFd> node = o.node_netns_path.empty() ? open_current_netns() : open_netns(o.node_netns_path, "the node");
  if (!node.ok()) return node.status();
  return std::unique_ptr<Datapath>(new Datapath(std::move(o), std::move(node).value()));
}

std::string Datapath::netns_path(const std::string& network_id) const {
  return opts_.state_dir + "/ns-" + network_id.substr(0, kNsIdChars);
}

std::string Datapath::veth_name(const std::string& task_id) { return "ve-" + task_id.substr(0, kTaskIdChars); }

std::string Datapath::temp_vxlan_name(const std::string& net_id) { return "vx-" + net_id.substr(0, kNsIdChars); }

std::string Datapath::mac_for_ip(const std::string& ip) {
  auto a = ipv4::parse_addr(ip);
  if (!a.ok()) return "";
  char buf[18];
  std::snprintf(buf, sizeof buf, "02:42:%02x:%02x:%02x:%02x", (*a >> 24) & 0xff, (*a >> 16) & 0xff, (*a >> 8) & 0xff,
                *a & 0xff);
  return buf;
}

Status Datapath::ensure_network(const NetworkConfig& n) {
  SHOAL_RETURN_IF_ERROR(check_id("network id", n.id, kNsIdChars));
  if (n.vni == 0 || n.vni > kMaxVni)
    return invalid_argument("network " + n.id + ": VNI " + std::to_string(n.vni) + " is outside 1..16777215");
  if (n.mtu < 68 || n.mtu > 65535)
    return invalid_argument("network " + n.id + ": MTU " + std::to_string(n.mtu) + " is outside 68..65535");
  auto subnet = ipv4::parse_cidr(n.subnet);
  if (!subnet.ok()) return subnet.status().with_context("network " + n.id + ": subnet");
  auto gw = ipv4::parse_addr(n.gateway);
  if (!gw.ok()) return gw.status().with_context("network " + n.id + ": gateway");
  if (!ipv4::contains(*subnet, *gw) || subnet->prefix > 30 || *gw == subnet->base || *gw == ipv4::last(*subnet))
    return invalid_argument("network " + n.id + ": gateway " + n.gateway + " is not a host address of " + n.subnet);

  std::lock_guard lock(mu_);
  const std::string id = n.id.substr(0, kNsIdChars);
  const std::string path = netns_path(id);
  if (!is_netns_mount(path)) SHOAL_RETURN_IF_ERROR(create_netns_file(path).with_context("network " + id));
  SHOAL_ASSIGN_OR_RETURN(NetSockets ns, open_network(path, id, node_ns_.get()));
  SHOAL_ASSIGN_OR_RETURN(rtnl::Socket node, rtnl::Socket::open_in(node_ns_.get(), "the node's network namespace"));

  SHOAL_RETURN_IF_ERROR(detail::bring_up_lo(ns.net));
  rtnl::Link br;
  SHOAL_RETURN_IF_ERROR(ensure_bridge(ns.net, n, *subnet, &br));

  SHOAL_ASSIGN_OR_RETURN(auto vx, rtnl::get_link(ns.net, kVxlan));
  if (vx && (vx->kind != "vxlan" || vx->vni != n.vni || vx->port != opts_.vxlan_port ||
             vx->local != opts_.underlay_ip)) {
    // Made for another configuration: its FDB and neighbour entries go with
    // it; the next set_peers puts them back.
    SHOAL_RETURN_IF_ERROR(rtnl::delete_link(ns.net, vx->index, kVxlan));
    vx.reset();
  }
  if (!vx) {
    // Created in the node's namespace, where the underlay address is, so
    // its UDP socket lives there; then moved and renamed in one request.
    const std::string tmp = temp_vxlan_name(id);
    SHOAL_ASSIGN_OR_RETURN(auto stale, rtnl::get_link(node, tmp));
    if (stale && !is_leftover_vxlan(*stale, opts_))
      return failed_precondition("network " + id + ": " + node.where() + " has a device " + describe(*stale) +
                                 " that the datapath did not make, under the name it creates vxlan0 with: "
                                 "remove or rename that device");
    if (stale) SHOAL_RETURN_IF_ERROR(rtnl::delete_link(node, stale->index, tmp));
    SHOAL_RETURN_IF_ERROR(rtnl::add_vxlan(node, {tmp, n.vni, opts_.underlay_ip, opts_.vxlan_port, n.mtu}));
    SHOAL_ASSIGN_OR_RETURN(auto made, rtnl::get_link(node, tmp));
    if (!made) return internal_error(tmp + " vanished right after it was created in " + node.where());
    rtnl::LinkChange move;
    move.name = kVxlan;
    move.ns_fd = ns.ns.get();
    Status st = rtnl::change_link(node, *made, move);
    if (!st.ok()) {
      (void)rtnl::delete_link(node, made->index, tmp);
      return st;
    }
    SHOAL_ASSIGN_OR_RETURN(vx, rtnl::get_link(ns.net, kVxlan));
    if (!vx) return internal_error(std::string(kVxlan) + " is not in " + ns.net.where() + " after moving it there");
  }
  rtnl::LinkChange c;
  c.mtu = n.mtu;
  c.master = br.index;
  c.up = true;
  return rtnl::change_link(ns.net, *vx, c);
}

Status Datapath::attach(const std::string& network_id, const LocalEndpoint& e) {
  SHOAL_RETURN_IF_ERROR(check_id("network id", network_id, 1));
  SHOAL_RETURN_IF_ERROR(check_id("task id", e.task_id, kTaskIdChars));
  if (e.ifname.empty() || e.ifname.size() >= IFNAMSIZ || e.ifname.find_first_of("/ \t\n:") != std::string::npos)
    return invalid_argument("task " + e.task_id + ": \"" + e.ifname + "\" is not a valid interface name");
  auto ip = ipv4::parse_addr(e.ip);
  if (!ip.ok()) return ip.status().with_context("task " + e.task_id + ": ip");
  SHOAL_ASSIGN_OR_RETURN(std::string mac, mac_or_default(e.mac, e.ip));

  std::lock_guard lock(mu_);
  const std::string id = network_id.substr(0, kNsIdChars);
  const std::string path = netns_path(id);
  SHOAL_ASSIGN_OR_RETURN(NetSockets ns, open_made_network(path, id, node_ns_.get()));
  SHOAL_ASSIGN_OR_RETURN(UniqueFd task_fd, open_netns(e.netns_path, "task " + e.task_id));
  const std::string task_where = "the namespace of task " + e.task_id + " (" + e.netns_path + ")";
  SHOAL_ASSIGN_OR_RETURN(rtnl::Socket task, rtnl::Socket::open_in(task_fd.get(), task_where));
  SHOAL_ASSIGN_OR_RETURN(BridgeInfo br, find_bridge(ns.net, id));
  ipv4::Cidr subnet{*ip & ipv4::mask(br.prefix), br.prefix};
  if (!ipv4::contains(subnet, br.gateway) || *ip == br.gateway)
    return invalid_argument("task " + e.task_id + ": " + e.ip + " is not a task address of network " + id + " (" +
                            ipv4::format(br.gateway) + "/" + std::to_string(br.prefix) + ")");

  detail::Plug p;
  p.side = &ns.net;
  p.bridge = br.link;
  p.host_name = veth_name(e.task_id);
  p.task = &task;
  p.task_fd = task_fd.get();
  p.task_id = e.task_id;
  p.netns_path = e.netns_path;
  p.what = "network " + id;
  p.ifname = e.ifname;
  p.ip = e.ip;
  p.mac = mac;
  p.prefix = br.prefix;
  if (e.default_route) p.gateway = ipv4::format(br.gateway);
  return detail::plug_veth(p);
}

Status Datapath::detach(const std::string& network_id, const std::string& task_id) {
  SHOAL_RETURN_IF_ERROR(check_id("network id", network_id, 1));
  SHOAL_RETURN_IF_ERROR(check_id("task id", task_id, kTaskIdChars));
  std::lock_guard lock(mu_);
  const std::string id = network_id.substr(0, kNsIdChars);
  const std::string path = netns_path(id);
  if (!is_netns_mount(path)) return ok_status();
  SHOAL_ASSIGN_OR_RETURN(NetSockets ns, open_network(path, id, node_ns_.get()));
  const std::string host_name = veth_name(task_id);
  SHOAL_ASSIGN_OR_RETURN(auto host, rtnl::get_link(ns.net, host_name));
  if (!host) return ok_status();
  // Deleting one end of a veth pair deletes the other, in the task.
  return rtnl::delete_link(ns.net, host->index, host_name);
}

Status Datapath::set_peers(const std::string& network_id, const std::vector<RemotePeer>& peers) {
  SHOAL_RETURN_IF_ERROR(check_id("network id", network_id, 1));
  std::map<std::string, std::string> want_fdb;    // mac -> vtep
  std::map<std::string, std::string> want_neigh;  // ip -> mac
  for (const auto& p : peers) {
    std::string who = "peer " + p.ip + " (vtep " + p.vtep + ")";
    auto ip = ipv4::parse_addr(p.ip);
    if (!ip.ok()) return ip.status().with_context(who);
    auto vtep = ipv4::parse_addr(p.vtep);
    if (!vtep.ok()) return vtep.status().with_context(who);
    SHOAL_ASSIGN_OR_RETURN(std::string mac, mac_or_default(p.mac, p.ip));
    const std::string ip_s = ipv4::format(*ip), vtep_s = ipv4::format(*vtep);
    auto [f, fnew] = want_fdb.emplace(mac, vtep_s);
    if (!fnew && f->second != vtep_s)
      return invalid_argument(who + ": MAC " + mac + " is also given at vtep " + f->second);
    auto [nb, nnew] = want_neigh.emplace(ip_s, mac);
    if (!nnew && nb->second != mac)
      return invalid_argument(who + ": IP " + ip_s + " is also given with MAC " + nb->second);
  }

  std::lock_guard lock(mu_);
  const std::string id = network_id.substr(0, kNsIdChars);
  const std::string path = netns_path(id);
  SHOAL_ASSIGN_OR_RETURN(NetSockets ns, open_made_network(path, id, node_ns_.get()));
  SHOAL_ASSIGN_OR_RETURN(auto vx, rtnl::get_link(ns.net, kVxlan));
  if (!vx)
    return failed_precondition("network " + id + " has no " + kVxlan + " in " + ns.net.where() +
                               ": call ensure_network first");
  SHOAL_ASSIGN_OR_RETURN(auto fdb, rtnl::list_fdb(ns.net, vx->index));
  SHOAL_ASSIGN_OR_RETURN(auto neigh, rtnl::list_neigh(ns.net, vx->index));

  // Stale neighbours go before their FDB entries and new FDB entries come
  // before their neighbours, so the ARP proxy never answers with a MAC that
  // vxlan0 cannot deliver to.
  std::map<std::string, std::string> have_fdb, have_neigh;
  for (const auto& n : neigh) {
    auto it = want_neigh.find(n.ip);
    if (it == want_neigh.end() || it->second != n.mac) {
      SHOAL_RETURN_IF_ERROR(rtnl::delete_neigh(ns.net, *vx, n));
    } else {
      have_neigh.emplace(n.ip, n.mac);
    }
  }
  for (const auto& f : fdb) {
    auto it = want_fdb.find(f.mac);
    // A MAC with two destinations (not something we make) keeps only one.
    if (it == want_fdb.end() || it->second != f.dst || have_fdb.count(f.mac)) {
      SHOAL_RETURN_IF_ERROR(rtnl::delete_fdb(ns.net, *vx, f));
    } else {
      have_fdb.emplace(f.mac, f.dst);
    }
  }
  for (const auto& [mac, vtep] : want_fdb) {
    if (!have_fdb.count(mac)) SHOAL_RETURN_IF_ERROR(rtnl::replace_fdb(ns.net, *vx, {mac, vtep}));
  }
  for (const auto& [ip, mac] : want_neigh) {
    if (!have_neigh.count(ip)) SHOAL_RETURN_IF_ERROR(rtnl::replace_neigh(ns.net, *vx, {ip, mac}));
  }
  return ok_status();
}

Status Datapath::remove_network(const std::string& network_id) {
  SHOAL_RETURN_IF_ERROR(check_id("network id", network_id, 1));
  std::lock_guard lock(mu_);
  return remove_network_locked(network_id.substr(0, kNsIdChars));
}

Status Datapath::remove_network_locked(const std::string& id) {
  const std::string path = netns_path(id);
  if (is_netns_mount(path)) {
    // The links go explicitly rather than with the namespace: namespace
    // teardown is asynchronous, and until it ran the VNI would still be
    // taken in the node's namespace and the tasks would keep their eth.
    // Only the ones the datapath makes there; the rest go with the
    // namespace. A file holding the node's own namespace (not one
    // ensure_network made) has none of its links deleted, only the file.
    SHOAL_ASSIGN_OR_RETURN(UniqueFd fd, open_netns_nofollow(path, "network " + id));
    if (!same_netns(fd.get(), node_ns_.get())) {
      const std::string where = "the namespace of network " + id + " (" + path + ")";
      SHOAL_ASSIGN_OR_RETURN(rtnl::Socket net, rtnl::Socket::open_in(fd.get(), where));
      SHOAL_ASSIGN_OR_RETURN(auto links, rtnl::list_links(net));
      for (const auto& l : links) {
        if (is_network_link(l.name)) SHOAL_RETURN_IF_ERROR(rtnl::delete_link(net, l.index, l.name));
      }
    }
  }
  // ensure_network makes the file before the temporary VXLAN device and
  // this removes the device before the file, so without a file there is no
  // device to look for (and a missing network costs no privileges).
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::symlink_status(path, ec))) return ok_status();
  SHOAL_ASSIGN_OR_RETURN(rtnl::Socket node, rtnl::Socket::open_in(node_ns_.get(), "the node's network namespace"));
  const std::string tmp = temp_vxlan_name(id);
  SHOAL_ASSIGN_OR_RETURN(auto stale, rtnl::get_link(node, tmp));
  // Only our own leftover: a device of another kind, or a VXLAN device made
  // for something else, that happens to have the name is not touched.
  if (stale && is_leftover_vxlan(*stale, opts_)) SHOAL_RETURN_IF_ERROR(rtnl::delete_link(node, stale->index, tmp));
  return remove_netns_file(path).with_context("network " + id);
}

// Reads only the directory, so it needs no lock (remove_all calls it with
// the lock held).
std::vector<std::string> Datapath::networks() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(opts_.state_dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("ns-", 0) == 0 && name.size() > 3) out.push_back(name.substr(3));
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status Datapath::remove_all() {
  std::lock_guard lock(mu_);
  Status first;
  for (const auto& id : networks()) {
    Status st = remove_network_locked(id);
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

}  // namespace shoal::netoverlay
