#include "agent/network/node/view_model.h"

#include <map>

namespace shoal::netnode {

namespace {

// The serving endpoints' addresses of service `sid` on `n`, in the view's
// order (sorted by task id).
std::vector<std::string> serving_ips(const session::NetworkInfo& n, const std::string& sid) {
  std::vector<std::string> out;
  for (const auto& e : n.endpoints)
    if (e.serving && e.service_id == sid) out.push_back(e.ip);
  return out;
}

}  // namespace

const session::NetworkInfo* find_network(const session::NetworkView& v, const std::string& id) {
  for (const auto& n : v.networks)
    if (n.id == id) return &n;
  return nullptr;
}

netoverlay::NetworkConfig network_config(const session::NetworkInfo& n) {
  return {n.id, n.vni, n.subnet, n.gateway, n.mtu};
}

std::vector<netoverlay::RemotePeer> remote_peers(const session::NetworkInfo& n, const std::string& self_node) {
  std::vector<netoverlay::RemotePeer> out;
  for (const auto& e : n.endpoints)
    // A node address no tunnel can have (loopback, unspecified, multicast)
    // is left out: it would open the VXLAN guard to anyone.
    if (e.node_id != self_node && netlb::parse_ipv4(e.node_addr, "node address").ok())
      out.push_back({e.ip, "", e.node_addr});
  return out;
}

netdns::Scope task_scope(const session::NetworkView& v, const std::set<std::string>& networks) {
  std::map<std::string, netdns::ServiceEntry> services;
  for (const auto& n : v.networks) {
    if (n.ingress || !networks.count(n.id)) continue;
    for (const auto& s : n.services) {
      auto& entry = services[s.id];
      entry.name = s.name;
      entry.dnsrr = s.vip.empty();
      entry.networks[n.id] = {s.vip, serving_ips(n, s.id), s.aliases};
    }
  }
  std::vector<netdns::ServiceEntry> list;
  list.reserve(services.size());
  for (auto& [_, e] : services) list.push_back(std::move(e));
  return netdns::build_scope(networks, list);
}

std::vector<netlb::VipBackends> task_vips(const session::NetworkView& v, const std::set<std::string>& networks) {
  std::vector<netlb::VipBackends> out;
  for (const auto& n : v.networks) {
    if (n.ingress || !networks.count(n.id)) continue;
    for (const auto& s : n.services)
      if (!s.vip.empty()) out.push_back({s.vip, serving_ips(n, s.id)});
  }
  return out;
}

}  // namespace shoal::netnode
