#include "agent/network/lb/ruleset.h"

#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "common/ipv4.h"

namespace shoal::netlb {

namespace {

// Error messages quote the offending input; keep them short and printable.
std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > 64) out += "...";
  return out + "\"";
}

std::string ipv4_text(uint32_t host_order) {
  in_addr a{htonl(host_order)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

// Validated backends: sorted numerically, duplicates dropped.
Result<std::vector<uint32_t>> parse_backends(const std::vector<std::string>& in, const std::string& what) {
  std::vector<uint32_t> out;
  for (const auto& b : in) {
    SHOAL_ASSIGN_OR_RETURN(uint32_t ip, parse_ipv4(b, what));
    out.push_back(ip);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// The DNAT target choosing among `ips` round robin: a plain address for
// one, an anonymous numgen map for more ("numgen inc" counts every
// connection the rule sees; the map turns the count into an address).
std::string dnat_target(const std::vector<uint32_t>& ips) {
  if (ips.size() == 1) return ipv4_text(ips[0]);
  std::string s = "numgen inc mod " + std::to_string(ips.size()) + " map { ";
  for (size_t i = 0; i < ips.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(i) + " : " + ipv4_text(ips[i]);
  }
  return s + " }";
}

// "table ip N {}" then "delete table ip N": the table exists (empty or not)
// and is then gone, all inside the transaction that re-creates it, so one
// script both creates and replaces.
std::string table_preamble(const char* name) {
  return std::string("table ip ") + name + " {}\ndelete table ip " + name + "\n";
}

// The kernel runs conntrack in a namespace only while some rule needs it
// (dnat, masquerade, ct expressions), and without conntrack's hooks flows
// already NATed are no longer translated. This rule keeps them registered
// when no VIP or port has a backend, so established flows survive that too.
// It changes nothing else: established packets never match the rejects
// (nat has already rewritten their destination, or they are forwarded).
const char* const kKeepConntrack = "\t\tct state established,related accept\n";

struct Port {
  std::string protocol;
  uint16_t published;
  uint16_t target;
  std::vector<uint32_t> backends;
  bool host;
};

Result<std::vector<Port>> parse_ports(const MeshConfig& m) {
  std::vector<Port> out;
  std::set<std::pair<std::string, uint16_t>> seen;
  auto add = [&](const PublishedPort& p, bool host) -> Status {
    const std::string mode = host ? "host-mode port " : "published port ";
    if (p.protocol != "tcp" && p.protocol != "udp")
      return invalid_argument(mode + std::to_string(p.published) + ": protocol " + quoted(p.protocol) +
                              " is not tcp or udp");
    const std::string name = mode + std::to_string(p.published) + "/" + p.protocol;
    if (p.published == 0) return invalid_argument(name + ": published port 0 is not a port (1-65535)");
    if (p.target == 0) return invalid_argument(name + ": target port 0 is not a port (1-65535)");
    if (!seen.insert({p.protocol, p.published}).second)
      return invalid_argument(name + ": published twice (a port and protocol can be published once per node)");
    SHOAL_ASSIGN_OR_RETURN(auto backends, parse_backends(p.backends, "backend of " + name));
    out.push_back({p.protocol, p.published, p.target, std::move(backends), host});
    return ok_status();
  };
  for (const auto& p : m.ports) SHOAL_RETURN_IF_ERROR(add(p, false));
  for (const auto& p : m.host_ports) SHOAL_RETURN_IF_ERROR(add(p, true));
  std::sort(out.begin(), out.end(), [](const Port& a, const Port& b) {
    return std::tie(a.protocol, a.published) < std::tie(b.protocol, b.published);
  });
  return out;
}

// "10.0.0.5" or "{ 10.0.0.5, 10.0.0.6 }".
std::string address_set(const std::vector<uint32_t>& ips) {
  if (ips.size() == 1) return ipv4_text(ips[0]);
  std::string s = "{ ";
  for (size_t i = 0; i < ips.size(); ++i) s += (i ? ", " : "") + ipv4_text(ips[i]);
  return s + " }";
}

}  // namespace

Result<uint32_t> parse_ipv4(const std::string& text, const std::string& what) {
  in_addr a{};
  // glibc's inet_pton takes exactly four decimal parts, no leading zeros,
  // nothing before or after: the strict form we want.
  if (text.size() > 15 || inet_pton(AF_INET, text.c_str(), &a) != 1)
    return invalid_argument(what + " " + quoted(text) + " is not an IPv4 address (a.b.c.d)");
  uint32_t ip = ntohl(a.s_addr);
  uint32_t first = ip >> 24;
  if (first == 0 || first == 127 || first >= 224)
    return invalid_argument(what + " " + quoted(text) +
                            " cannot be used (unspecified, loopback, multicast or reserved address)");
  return ip;
}

Result<std::string> render_task_ruleset(const std::vector<VipBackends>& vips) {
  std::map<uint32_t, std::vector<uint32_t>> parsed;  // sorted by VIP
  for (const auto& v : vips) {
    SHOAL_ASSIGN_OR_RETURN(uint32_t vip, parse_ipv4(v.vip, "VIP"));
    SHOAL_ASSIGN_OR_RETURN(auto backends, parse_backends(v.backends, "backend of VIP " + ipv4_text(vip)));
    if (!parsed.emplace(vip, std::move(backends)).second)
      return invalid_argument("VIP " + ipv4_text(vip) + " is listed twice");
  }
  std::string nat, reject;
  for (const auto& [vip, backends] : parsed) {
    const std::string match = "\t\tip daddr " + ipv4_text(vip) + " meta l4proto ";
    if (backends.empty()) {
      reject += match + "tcp reject with tcp reset\n";
      reject += match + "udp reject\n";
    } else {
      nat += match + "{ tcp, udp } dnat to " + dnat_target(backends) + "\n";
    }
  }
  // Priorities as numbers: nft 1.0.6 accepts "dstnat" only in prerouting.
  // The filter chain (0) runs after nat (-100): DNATed packets no longer
  // carry a VIP, so it sees only VIPs without backends.
  return table_preamble(kTaskTable) + "table ip " + kTaskTable +
         " {\n"
         "\tchain output {\n"
         "\t\ttype nat hook output priority -100; policy accept;\n" +
         nat +
         "\t}\n"
         "\tchain unbacked {\n"
         "\t\ttype filter hook output priority 0; policy accept;\n" +
         kKeepConntrack + reject +
         "\t}\n"
         "}\n";
}

Result<std::string> render_mesh_ruleset(const MeshConfig& m) {
  SHOAL_ASSIGN_OR_RETURN(auto ports, parse_ports(m));
  std::string snat = "masquerade";
  if (!m.snat_source.empty()) {
    SHOAL_ASSIGN_OR_RETURN(uint32_t src, parse_ipv4(m.snat_source, "SNAT source"));
    snat = "snat to " + ipv4_text(src);
  }
  // SNAT matches a flow by the port it was sent to (ct original proto-dst:
  // a protocol and port are published once, so this tells ingress from host
  // mode) and by where the DNAT sent it (backend and target port).
  std::string dnat, reject, post;
  for (const auto& p : ports) {
    const std::string port = p.protocol + " dport " + std::to_string(p.published);
    if (p.backends.empty()) {
      reject += "\t\t" + port + (p.protocol == "tcp" ? " reject with tcp reset\n" : " reject\n");
    } else {
      dnat += "\t\tfib daddr type local " + port + " dnat to " + dnat_target(p.backends) + ":" +
              std::to_string(p.target) + "\n";
      post += std::string("\t\tct status dnat ") + (p.host ? "ip saddr 127.0.0.0/8 " : "") + "meta l4proto " +
              p.protocol + " ct original proto-dst " + std::to_string(p.published) + " ip daddr " +
              address_set(p.backends) + " " + p.protocol + " dport " + std::to_string(p.target) + " " +
              (p.host ? "masquerade" : snat) + "\n";
    }
  }
  std::string fence_in, fence_forward, fence_output;
  if (!m.ingress_ifname.empty()) {
    const std::string& n = m.ingress_ifname;
    if (n.size() > 15 || n.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
                             std::string::npos) {
      return invalid_argument("ingress interface name " + n + " is not an interface name");
    }
    const std::string in = "\t\tiifname \"" + n + "\" ", out = "\t\toifname \"" + n + "\" ";
    const std::string leaving = out + "ct status dnat accept\n" + out + "ct state established,related accept\n" + out +
                                "drop\n";
    fence_in = in + "drop\n";
    fence_forward = in + "ct state established,related accept\n" + in + "drop\n" + leaving;
    fence_output = leaving;
  }
  return table_preamble(kMeshTable) + "table ip " + kMeshTable +
         " {\n"
         "\tchain guard {\n"
         "\t\ttype filter hook prerouting priority -300; policy accept;\n"
         "\t\tiifname != \"lo\" ip daddr 127.0.0.0/8 drop\n"
         "\t\tiifname != \"lo\" ip saddr 127.0.0.0/8 drop\n"
         "\t}\n"
         "\tchain prerouting {\n"
         "\t\ttype nat hook prerouting priority -100; policy accept;\n" +
         dnat +
         "\t}\n"
         "\tchain output {\n"
         "\t\ttype nat hook output priority -100; policy accept;\n" +
         dnat +
         "\t}\n"
         "\tchain postrouting {\n"
         "\t\ttype nat hook postrouting priority 100; policy accept;\n" +
         post +
         "\t}\n"
         "\tchain input {\n"
         "\t\ttype filter hook input priority 0; policy accept;\n" +
         kKeepConntrack + reject + fence_in +
         "\t}\n" +
         (fence_forward.empty() ? std::string()
                                : "\tchain forward {\n"
                                  "\t\ttype filter hook forward priority 0; policy accept;\n" +
                                      fence_forward +
                                      "\t}\n"
                                      "\tchain fence_output {\n"
                                      "\t\ttype filter hook output priority 0; policy accept;\n" +
                                      fence_output + "\t}\n") +
         "}\n";
}

Result<std::string> render_vxlan_guard(uint16_t port, const std::vector<std::string>& peer_vteps) {
  if (port == 0) return invalid_argument("VXLAN port 0 is not a port (1-65535)");
  SHOAL_ASSIGN_OR_RETURN(auto peers, parse_backends(peer_vteps, "peer VTEP"));
  const std::string dport = "\t\tudp dport " + std::to_string(port);
  std::string set =
      "\tset peers {\n"
      "\t\ttype ipv4_addr\n";
  if (!peers.empty()) {
    set += "\t\telements = { ";
    for (size_t i = 0; i < peers.size(); ++i) set += (i ? ", " : "") + ipv4_text(peers[i]);
    set += " }\n";
  }
  set += "\t}\n";
  // Before the mesh's input chain (0); a drop in any base chain is final.
  return table_preamble(kVxlanTable) + "table ip " + kVxlanTable + " {\n" + set +
         "\tchain input {\n"
         "\t\ttype filter hook input priority -10; policy accept;\n" +
         dport + " ip saddr @peers accept\n" + dport + " drop\n" +
         "\t}\n"
         "}\n";
}

Result<std::string> render_gateway_ruleset(const std::string& subnet, const std::string& bridge, uint16_t vxlan_port,
                                           const std::vector<PublishedPort>& host_ports) {
  MeshConfig only_host;
  only_host.host_ports = host_ports;
  SHOAL_ASSIGN_OR_RETURN(auto ports, parse_ports(only_host));  // validated and sorted
  auto cidr = ipv4::parse_cidr(subnet);
  if (!cidr.ok()) return cidr.status().with_context("gateway subnet");
  bool name_ok = !bridge.empty() && bridge.size() < 16;
  for (char c : bridge) name_ok = name_ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-');
  if (!name_ok) return invalid_argument("gateway bridge name \"" + bridge + "\" must be 1-15 letters, digits, _ or -");
  if (vxlan_port == 0) return invalid_argument("VXLAN port 0 is not a port (1-65535)");
  const std::string net = ipv4::format(*cidr);
  const std::string br = "\"" + bridge + "\"";
  const std::string vx = std::to_string(vxlan_port);
  std::string mapped;  // into the bridge: the DNATed connections to host-mode ports
  for (const auto& p : ports)
    for (uint32_t b : p.backends)
      mapped += "\t\toifname " + br + " ip daddr " + ipv4_text(b) + " " + p.protocol + " dport " +
                std::to_string(p.target) + " ct status dnat ct original proto-dst " + std::to_string(p.published) +
                " accept\n";
  // ip, what the node routes for the tasks:
  //   postrouting: their traffic leaves with the node's address;
  //   input: the node itself answers them nothing but their own flows (its
  //     services, 127.0.0.1 included, are not theirs to reach);
  //   forward, from the bridge: only the subnet's sources, never to VXLAN's
  //     port (a task must not inject frames into other nodes' overlays under
  //     the node's address), never back into the bridge;
  //   forward, into the bridge: replies, and the connections the node
  //     DNATs to a task's host-mode port (the mesh table's; exactly the
  //     mapped address, protocol and port), only (the node is no router
  //     to them).
  // bridge, what the gateway bridge switches: no frame from one task's port
  // to another's (Docker's icc=false on docker_gwbridge), and no IPv6 from
  // the tasks at all (router advertisements could reroute the node:
  // CVE-2020-13401). Where br_netfilter is loaded, bridged IPv4 also passes
  // the ip forward hook, which drops it too.
  return table_preamble(kGatewayTable) + "table ip " + kGatewayTable + " {\n" +
         "\tchain postrouting {\n"
         "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
         "\t\tip saddr " + net + " oifname != " + br + " masquerade\n"
         "\t}\n"
         "\tchain input {\n"
         "\t\ttype filter hook input priority filter; policy accept;\n"
         "\t\tiifname " + br + " ct state established,related accept\n"
         "\t\tiifname " + br + " drop\n"
         "\t}\n"
         "\tchain forward {\n"
         "\t\ttype filter hook forward priority filter; policy accept;\n"
         "\t\tiifname " + br + " ip saddr != " + net + " drop\n"
         "\t\tiifname " + br + " udp dport " + vx + " drop\n"
         "\t\tiifname " + br + " oifname " + br + " drop\n"
         "\t\toifname " + br + " ct state established,related accept\n" +
         mapped +
         "\t\toifname " + br + " drop\n"
         "\t}\n"
         "}\n"
         "table bridge " + kGatewayTable + " {}\n"
         "delete table bridge " + kGatewayTable + "\n"
         "table bridge " + kGatewayTable + " {\n"
         "\tchain prerouting {\n"
         "\t\ttype filter hook prerouting priority filter; policy accept;\n"
         "\t\tiifname \"gw-*\" ether type ip6 drop\n"
         "\t}\n"
         "\tchain forward {\n"
         "\t\ttype filter hook forward priority filter; policy accept;\n"
         "\t\tiifname \"gw-*\" oifname \"gw-*\" drop\n"
         "\t}\n"
         "}\n";
}

}  // namespace shoal::netlb
