#include "agent/network/overlay/rtnl.h"

#include <arpa/inet.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/link/vxlan.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include <cstdio>
#include <cstring>

#include "os/netns_file.h"

namespace shoal::netoverlay::rtnl {

namespace {

struct LinkPut {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
struct AddrPut {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
struct NeighPut {
  void operator()(rtnl_neigh* n) const { rtnl_neigh_put(n); }
};
struct RtAddrPut {
  void operator()(rtnl_addr* a) const { rtnl_addr_put(a); }
};
struct RoutePut {
  void operator()(rtnl_route* r) const { rtnl_route_put(r); }
};
struct CachePut {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
struct CbPut {
  void operator()(nl_cb* c) const { nl_cb_put(c); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkPut>;
using AddrPtr = std::unique_ptr<nl_addr, AddrPut>;
using NeighPtr = std::unique_ptr<rtnl_neigh, NeighPut>;
using RtAddrPtr = std::unique_ptr<rtnl_addr, RtAddrPut>;
using RoutePtr = std::unique_ptr<rtnl_route, RoutePut>;
using CachePtr = std::unique_ptr<nl_cache, CachePut>;
using CbPtr = std::unique_ptr<nl_cb, CbPut>;

// libnl reports kernel errnos as its own NLE_* codes.
Status nl_error(const Socket& s, const std::string& what, int err) {
  Code code = Code::kInternal;
  switch (err < 0 ? -err : err) {
    case NLE_EXIST: code = Code::kAlreadyExists; break;
    case NLE_NODEV:
    case NLE_OBJ_NOTFOUND: code = Code::kNotFound; break;
    case NLE_PERM:
    case NLE_NOACCESS: code = Code::kPermissionDenied; break;
    case NLE_INVAL:
    case NLE_RANGE: code = Code::kInvalidArgument; break;
    default: break;
  }
  return Status(code, what + " in " + s.where() + ": " + nl_geterror(err));
}

bool is_missing(int err) {
  err = err < 0 ? -err : err;
  return err == NLE_NODEV || err == NLE_OBJ_NOTFOUND;
}

Result<AddrPtr> ipv4_addr(const std::string& ip, int prefix = 32) {
  in_addr a{};
  if (inet_pton(AF_INET, ip.c_str(), &a) != 1) return invalid_argument("not an IPv4 address: \"" + ip + "\"");
  AddrPtr p(nl_addr_build(AF_INET, &a, sizeof a));
  if (!p) return internal_error("out of memory building an address");
  nl_addr_set_prefixlen(p.get(), prefix);
  return p;
}

Result<AddrPtr> mac_addr(const std::string& mac) {
  unsigned char b[6];
  if (!parse_mac(mac, b)) return invalid_argument("not a MAC address: \"" + mac + "\"");
  AddrPtr p(nl_addr_build(AF_LLC, b, sizeof b));
  if (!p) return internal_error("out of memory building an address");
  return p;
}

std::string format_addr(nl_addr* a) {
  if (!a) return "";
  auto* b = static_cast<const unsigned char*>(nl_addr_get_binary_addr(a));
  unsigned len = nl_addr_get_len(a);
  char buf[64];
  if (len == 4) return inet_ntop(AF_INET, b, buf, sizeof buf) ? buf : "";
  if (len == 6) {
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
    return buf;
  }
  return "";
}

Link to_link(rtnl_link* l) {
  Link out;
  out.index = rtnl_link_get_ifindex(l);
  if (const char* n = rtnl_link_get_name(l)) out.name = n;
  if (const char* k = rtnl_link_get_type(l)) out.kind = k;
  out.flags = rtnl_link_get_flags(l);
  out.mtu = rtnl_link_get_mtu(l);
  out.master = rtnl_link_get_master(l);
  out.mac = format_addr(rtnl_link_get_addr(l));
  if (out.kind == "vxlan") {
    uint32_t v = 0;
    if (rtnl_link_vxlan_get_id(l, &v) == 0) out.vni = v;
    uint32_t port = 0;
    if (rtnl_link_vxlan_get_port(l, &port) == 0) out.port = static_cast<uint16_t>(port);
    nl_addr* local = nullptr;
    if (rtnl_link_vxlan_get_local(l, &local) == 0) {
      AddrPtr owned(local);
      out.local = format_addr(owned.get());
    }
  }
  return out;
}

// A link object addressing an existing link by index.
LinkPtr link_ref(const Link& link) {
  LinkPtr l(rtnl_link_alloc());
  if (!l) return l;
  rtnl_link_set_ifindex(l.get(), link.index);
  rtnl_link_set_name(l.get(), link.name.c_str());
  return l;
}

struct DumpedNeigh {
  int ifindex = 0;
  int family = 0;
  int state = 0;
  unsigned flags = 0;
  std::string dst;
  std::string lladdr;
};

int on_neigh(nl_msg* msg, void* arg) {
  auto* out = static_cast<std::vector<DumpedNeigh>*>(arg);
  rtnl_neigh* n = nullptr;
  if (rtnl_neigh_parse(nlmsg_hdr(msg), &n) < 0 || !n) return NL_SKIP;
  DumpedNeigh d;
  d.ifindex = rtnl_neigh_get_ifindex(n);
  d.family = rtnl_neigh_get_family(n);
  d.state = rtnl_neigh_get_state(n);
  d.flags = rtnl_neigh_get_flags(n);
  d.dst = format_addr(rtnl_neigh_get_dst(n));
  d.lladdr = format_addr(rtnl_neigh_get_lladdr(n));
  rtnl_neigh_put(n);
  out->push_back(std::move(d));
  return NL_OK;
}

// RTM_GETNEIGH dump of one family (AF_BRIDGE: FDB entries; AF_INET: ARP).
Result<std::vector<DumpedNeigh>> dump_neigh(Socket& s, int family, const std::string& what) {
  ndmsg hdr{};
  hdr.ndm_family = static_cast<unsigned char>(family);
  int err = nl_send_simple(s.get(), RTM_GETNEIGH, NLM_F_DUMP, &hdr, sizeof hdr);
  if (err < 0) return nl_error(s, "requesting " + what, err);
  nl_cb* sock_cb = nl_socket_get_cb(s.get());
  CbPtr cb(nl_cb_clone(sock_cb));
  nl_cb_put(sock_cb);
  if (!cb) return internal_error("out of memory reading " + what);
  std::vector<DumpedNeigh> out;
  nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, on_neigh, &out);
  err = nl_recvmsgs(s.get(), cb.get());
  if (err < 0) return nl_error(s, "reading " + what, err);
  return out;
}

}  // namespace

bool parse_mac(const std::string& s, unsigned char out[6]) {
  if (s.size() != 17) return false;
  for (int i = 0; i < 6; ++i) {
    unsigned v = 0;
    for (int k = 0; k < 2; ++k) {
      char c = s[i * 3 + k];
      unsigned d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else return false;
      v = v * 16 + d;
    }
    if (i < 5 && s[i * 3 + 2] != ':') return false;
    out[i] = static_cast<unsigned char>(v);
  }
  return true;
}

Result<Socket> Socket::open_in(int ns_fd, const std::string& where) {
  nl_sock* sk = nullptr;
  Status st = os::run_in_netns_thread(ns_fd, where, [&]() -> Status {
    sk = nl_socket_alloc();
    if (!sk) return internal_error("out of memory allocating a netlink socket for " + where);
    int err = nl_connect(sk, NETLINK_ROUTE);
    if (err < 0) {
      nl_socket_free(sk);
      sk = nullptr;
      return internal_error("connecting a netlink socket in " + where + ": " + nl_geterror(err));
    }
    return ok_status();
  });
  if (!st.ok()) return st;
  return Socket(sk, where);
}

Socket::Socket(Socket&& o) noexcept : sk_(o.sk_), where_(std::move(o.where_)) { o.sk_ = nullptr; }

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    if (sk_) nl_socket_free(sk_);
    sk_ = o.sk_;
    where_ = std::move(o.where_);
    o.sk_ = nullptr;
  }
  return *this;
}

Socket::~Socket() {
  if (sk_) nl_socket_free(sk_);  // closes the fd too
}

Result<std::optional<Link>> get_link(Socket& s, const std::string& name) {
  rtnl_link* raw = nullptr;
  int err = rtnl_link_get_kernel(s.get(), 0, name.c_str(), &raw);
  if (err < 0) {
    if (is_missing(err)) return std::optional<Link>();
    return nl_error(s, "looking up link " + name, err);
  }
  LinkPtr l(raw);
  return std::optional<Link>(to_link(l.get()));
}

Result<std::vector<Link>> list_links(Socket& s) {
  nl_cache* raw = nullptr;
  int err = rtnl_link_alloc_cache(s.get(), AF_UNSPEC, &raw);
  if (err < 0) return nl_error(s, "listing links", err);
  CachePtr cache(raw);
  std::vector<Link> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o))
    out.push_back(to_link(reinterpret_cast<rtnl_link*>(o)));
  return out;
}

Status change_link(Socket& s, const Link& link, const LinkChange& c) {
  LinkPtr orig = link_ref(link);
  LinkPtr ch(rtnl_link_alloc());
  if (!orig || !ch) return internal_error("out of memory changing link " + link.name);
  std::string what = "changing link " + link.name + " (";
  if (c.name) {
    rtnl_link_set_name(ch.get(), c.name->c_str());
    what += " name " + *c.name;
  }
  if (c.mtu) {
    rtnl_link_set_mtu(ch.get(), *c.mtu);
    what += " mtu " + std::to_string(*c.mtu);
  }
  if (c.master) {
    rtnl_link_set_master(ch.get(), *c.master);
    what += " master ifindex " + std::to_string(*c.master);
  }
  AddrPtr mac;
  if (c.mac) {
    SHOAL_ASSIGN_OR_RETURN(mac, mac_addr(*c.mac));
    rtnl_link_set_addr(ch.get(), mac.get());
    what += " address " + *c.mac;
  }
  if (c.up) {
    rtnl_link_set_flags(ch.get(), IFF_UP);
    what += " up";
  }
  if (c.ns_fd >= 0) {
    rtnl_link_set_ns_fd(ch.get(), c.ns_fd);
    what += " to another namespace";
  }
  what += " )";
  int err = rtnl_link_change(s.get(), orig.get(), ch.get(), 0);
  if (err < 0) return nl_error(s, what, err);
  return ok_status();
}

Status delete_link(Socket& s, int index, const std::string& name) {
  LinkPtr l(rtnl_link_alloc());
  if (!l) return internal_error("out of memory deleting link " + name);
  rtnl_link_set_ifindex(l.get(), index);
  int err = rtnl_link_delete(s.get(), l.get());
  if (err < 0 && !is_missing(err)) return nl_error(s, "deleting link " + name, err);
  return ok_status();
}

Status add_bridge(Socket& s, const std::string& name, unsigned mtu) {
  LinkPtr l(rtnl_link_alloc());
  if (!l) return internal_error("out of memory creating bridge " + name);
  int err = rtnl_link_set_type(l.get(), "bridge");
  if (err < 0) return nl_error(s, "creating bridge " + name, err);
  rtnl_link_set_name(l.get(), name.c_str());
  rtnl_link_set_mtu(l.get(), mtu);
  err = rtnl_link_add(s.get(), l.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (err < 0) return nl_error(s, "creating bridge " + name, err);
  return ok_status();
}

Status add_vxlan(Socket& s, const VxlanSpec& v) {
  std::string what = "creating VXLAN device " + v.name + " (vni " + std::to_string(v.vni) + ", local " + v.local +
                     ", dstport " + std::to_string(v.port) + ")";
  LinkPtr l(rtnl_link_vxlan_alloc());
  if (!l) return internal_error("out of memory " + what);
  SHOAL_ASSIGN_OR_RETURN(AddrPtr local, ipv4_addr(v.local));
  rtnl_link_set_name(l.get(), v.name.c_str());
  rtnl_link_set_mtu(l.get(), v.mtu);
  rtnl_link_vxlan_set_id(l.get(), v.vni);
  rtnl_link_vxlan_set_local(l.get(), local.get());
  rtnl_link_vxlan_set_port(l.get(), v.port);
  rtnl_link_vxlan_set_learning(l.get(), 0);
  rtnl_link_vxlan_set_proxy(l.get(), 1);
  rtnl_link_vxlan_set_l2miss(l.get(), 0);
  rtnl_link_vxlan_set_l3miss(l.get(), 0);
  int err = rtnl_link_add(s.get(), l.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (err < 0) return nl_error(s, what, err);
  return ok_status();
}

Status add_veth(Socket& s, const VethSpec& v) {
  std::string what = "creating veth pair " + v.name + " / " + v.peer_name;
  LinkPtr l(rtnl_link_veth_alloc());
  if (!l) return internal_error("out of memory " + what);
  LinkPtr peer(rtnl_link_veth_get_peer(l.get()));
  SHOAL_ASSIGN_OR_RETURN(AddrPtr mac, mac_addr(v.peer_mac));
  rtnl_link_set_name(l.get(), v.name.c_str());
  rtnl_link_set_mtu(l.get(), v.mtu);
  rtnl_link_set_name(peer.get(), v.peer_name.c_str());
  rtnl_link_set_mtu(peer.get(), v.mtu);
  rtnl_link_set_addr(peer.get(), mac.get());
  // The kernel creates the peer directly in its namespace under its final
  // name, so no temporary name ever shows up in the task's namespace.
  if (v.peer_ns_fd >= 0) rtnl_link_set_ns_fd(peer.get(), v.peer_ns_fd);
  int err = rtnl_link_add(s.get(), l.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (err < 0) return nl_error(s, what, err);
  return ok_status();
}

Status add_address(Socket& s, const Link& link, const std::string& ip, int prefix) {
  std::string what = "adding address " + ip + "/" + std::to_string(prefix) + " to " + link.name;
  SHOAL_ASSIGN_OR_RETURN(AddrPtr local, ipv4_addr(ip, prefix));
  RtAddrPtr a(rtnl_addr_alloc());
  if (!a) return internal_error("out of memory " + what);
  rtnl_addr_set_ifindex(a.get(), link.index);
  rtnl_addr_set_family(a.get(), AF_INET);
  int err = rtnl_addr_set_local(a.get(), local.get());
  if (err >= 0) {
    rtnl_addr_set_prefixlen(a.get(), prefix);
    err = rtnl_addr_add(s.get(), a.get(), NLM_F_CREATE | NLM_F_EXCL);
  }
  if (err == -NLE_EXIST) return ok_status();
  if (err < 0) return nl_error(s, what, err);
  return ok_status();
}

Result<std::vector<std::string>> list_addresses(Socket& s, int ifindex) {
  nl_cache* raw = nullptr;
  int err = rtnl_addr_alloc_cache(s.get(), &raw);
  if (err < 0) return nl_error(s, "listing addresses", err);
  CachePtr cache(raw);
  std::vector<std::string> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_ifindex(a) != ifindex || rtnl_addr_get_family(a) != AF_INET) continue;
    out.push_back(format_addr(rtnl_addr_get_local(a)) + "/" + std::to_string(rtnl_addr_get_prefixlen(a)));
  }
  return out;
}

Status replace_default_route(Socket& s, const Link& link, const std::string& gateway) {
  std::string what = "setting the default route via " + gateway + " dev " + link.name;
  SHOAL_ASSIGN_OR_RETURN(AddrPtr dst, ipv4_addr("0.0.0.0", 0));
  SHOAL_ASSIGN_OR_RETURN(AddrPtr gw, ipv4_addr(gateway));
  RoutePtr r(rtnl_route_alloc());
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  if (!r || !nh) {
    if (nh) rtnl_route_nh_free(nh);
    return internal_error("out of memory " + what);
  }
  rtnl_route_set_family(r.get(), AF_INET);
  rtnl_route_set_dst(r.get(), dst.get());
  rtnl_route_set_table(r.get(), RT_TABLE_MAIN);
  rtnl_route_set_scope(r.get(), RT_SCOPE_UNIVERSE);
  rtnl_route_set_protocol(r.get(), RTPROT_BOOT);
  rtnl_route_set_type(r.get(), RTN_UNICAST);
  rtnl_route_nh_set_ifindex(nh, link.index);
  rtnl_route_nh_set_gateway(nh, gw.get());
  rtnl_route_add_nexthop(r.get(), nh);  // the route owns nh from here
  int err = rtnl_route_add(s.get(), r.get(), NLM_F_CREATE | NLM_F_REPLACE);
  if (err < 0) return nl_error(s, what, err);
  return ok_status();
}

Result<std::vector<FdbEntry>> list_fdb(Socket& s, int ifindex) {
  SHOAL_ASSIGN_OR_RETURN(auto all, dump_neigh(s, AF_BRIDGE, "the FDB"));
  std::vector<FdbEntry> out;
  for (const auto& d : all) {
    // NTF_SELF: the VXLAN device's own table, not the bridge's learned one.
    if (d.ifindex != ifindex || d.family != AF_BRIDGE || !(d.flags & NTF_SELF) || d.dst.empty()) continue;
    out.push_back({d.lladdr, d.dst});
  }
  return out;
}

Result<std::vector<NeighEntry>> list_neigh(Socket& s, int ifindex) {
  SHOAL_ASSIGN_OR_RETURN(auto all, dump_neigh(s, AF_INET, "the neighbour table"));
  std::vector<NeighEntry> out;
  for (const auto& d : all) {
    if (d.ifindex != ifindex || d.family != AF_INET || !(d.state & NUD_PERMANENT)) continue;
    out.push_back({d.dst, d.lladdr});
  }
  return out;
}

namespace {

enum class NeighOp { kReplace, kDelete };

// One FDB (AF_BRIDGE, NTF_SELF) or neighbour (AF_INET) request.
Status neigh_request(Socket& s, const Link& link, bool fdb, const std::string& ip, const std::string& mac,
                     NeighOp op) {
  std::string what = std::string(op == NeighOp::kReplace ? "adding " : "removing ") +
                     (fdb ? "FDB entry " + mac + " dst " + ip : "neighbour entry " + ip + " lladdr " + mac) +
                     " on " + link.name;
  SHOAL_ASSIGN_OR_RETURN(AddrPtr ipa, ipv4_addr(ip));
  SHOAL_ASSIGN_OR_RETURN(AddrPtr maca, mac_addr(mac));
  NeighPtr n(rtnl_neigh_alloc());
  if (!n) return internal_error("out of memory " + what);
  rtnl_neigh_set_ifindex(n.get(), link.index);
  rtnl_neigh_set_state(n.get(), NUD_PERMANENT);
  rtnl_neigh_set_lladdr(n.get(), maca.get());
  int err = rtnl_neigh_set_dst(n.get(), ipa.get());
  if (err < 0) return nl_error(s, what, err);
  if (fdb) {
    rtnl_neigh_set_family(n.get(), AF_BRIDGE);
    // NTF_SELF sends the request to the VXLAN device; without it the
    // kernel would address the bridge it is a port of.
    rtnl_neigh_set_flags(n.get(), NTF_SELF);
  } else {
    rtnl_neigh_set_family(n.get(), AF_INET);
  }
  if (op == NeighOp::kReplace) {
    err = rtnl_neigh_add(s.get(), n.get(), NLM_F_CREATE | NLM_F_REPLACE);
  } else {
    err = rtnl_neigh_delete(s.get(), n.get(), 0);
    if (err < 0 && is_missing(err)) err = 0;
  }
  if (err < 0) return nl_error(s, what, err);
  return ok_status();
}

}  // namespace

Status replace_fdb(Socket& s, const Link& link, const FdbEntry& e) {
  return neigh_request(s, link, true, e.dst, e.mac, NeighOp::kReplace);
}
Status delete_fdb(Socket& s, const Link& link, const FdbEntry& e) {
  return neigh_request(s, link, true, e.dst, e.mac, NeighOp::kDelete);
}
Status replace_neigh(Socket& s, const Link& link, const NeighEntry& e) {
  return neigh_request(s, link, false, e.ip, e.mac, NeighOp::kReplace);
}
Status delete_neigh(Socket& s, const Link& link, const NeighEntry& e) {
  return neigh_request(s, link, false, e.ip, e.mac, NeighOp::kDelete);
}

}  // namespace shoal::netoverlay::rtnl
