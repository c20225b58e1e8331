#include "manager/dispatcher/network_views.h"

#include <algorithm>
#include <set>

#include "common/ipv4.h"

namespace shoal::dispatcher {

namespace {

std::string strip_prefix(const std::string& cidr_addr) { return cidr_addr.substr(0, cidr_addr.find('/')); }

// The node's tunnel endpoint: nodes report their advertise address,
// "ip:port"; the VTEP is the ip. Empty when it is not an IPv4 address (the
// node is then left out of its peers' views rather than failing their
// whole FDB programming).
std::string tunnel_ip(const Node& n) {
  std::string a = n.addr;
  if (auto colon = a.rfind(':'); colon != std::string::npos && a.find(':') == colon) a.resize(colon);
  return ipv4::parse_addr(a).ok() ? a : "";
}

uint32_t mtu_of(const Network& n) {
  auto it = n.spec.driver_opts.find("com.docker.network.driver.mtu");
  if (it == n.spec.driver_opts.end()) return 1450;
  try {
    return static_cast<uint32_t>(std::stoul(it->second));
  } catch (...) {
    return 1450;  // the API checked it; a stored value gone bad falls back
  }
}

// The service's ingress-mode ports with their published numbers (the
// manager's assignment, Endpoint.Ports; the spec's while none is stored).
bool mesh_ports(const Service& s, std::vector<PortConfig>* out) {
  const auto& ports = s.endpoint_ports.empty() ? s.spec.endpoint_spec.ports : s.endpoint_ports;
  for (const auto& p : ports)
    if (p.publish_mode == "ingress") out->push_back(p);
  return !out->empty();
}

}  // namespace

std::unordered_map<std::string, session::NetworkView> build_network_views(const StoreSnapshot& snap) {
  std::unordered_map<std::string, session::NetworkInfo> infos;
  std::string ingress_id;
  for (const auto& [id, n] : snap.networks) {
    session::NetworkInfo info;
    info.id = id;
    info.name = n.spec.name;
    info.vni = n.vni;
    if (!n.ipam.empty()) {
      info.subnet = n.ipam[0].subnet;
      info.gateway = n.ipam[0].gateway;
    }
    info.internal = n.spec.internal;
    info.ingress = n.spec.ingress;
    info.mtu = mtu_of(n);
    if (n.spec.ingress) ingress_id = id;
    infos.emplace(id, std::move(info));
  }
  // Services per network.
  bool mesh = false;
  for (const auto& entry : snap.services) {  // no structured binding: clang 14 cannot capture one
    const std::string& sid = entry.first;
    const Service& s = entry.second;
    auto vip_on = [&](const std::string& net) {
      for (const auto& v : s.virtual_ips)
        if (v.network_id == net) return strip_prefix(v.addr);
      return std::string();
    };
    for (const auto& a : s.spec.task_template.networks) {
      auto it = infos.find(a.target);
      if (it == infos.end()) continue;
      it->second.services.push_back({sid, s.spec.name, a.aliases, vip_on(a.target), {}});
    }
    std::vector<PortConfig> ports;
    if (!ingress_id.empty() && mesh_ports(s, &ports)) {
      mesh = true;
      infos[ingress_id].services.push_back({sid, s.spec.name, {}, vip_on(ingress_id), ports});
    }
  }
  // Endpoints per network, and the networks of each node's live tasks.
  std::unordered_map<std::string, std::set<std::string>> node_networks;
  for (const auto& [tid, t] : snap.tasks) {
    if (is_terminal(t.status.state) || t.node_id.empty()) continue;
    auto node = snap.nodes.find(t.node_id);
    std::string node_addr = node == snap.nodes.end() ? "" : tunnel_ip(node->second);
    if (node_addr.empty()) continue;
    for (const auto& a : t.networks) {
      auto it = infos.find(a.network_id);
      if (it == infos.end() || a.addresses.empty()) continue;
      bool serving = t.status.state == TaskState::kRunning && t.desired_state == TaskState::kRunning;
      it->second.endpoints.push_back({tid, t.service_id, t.node_id, strip_prefix(a.addresses[0]), node_addr, serving});
      node_networks[t.node_id].insert(a.network_id);
    }
  }
  // While the mesh is used, every node's own ingress address is an endpoint
  // of ingress (no service: a peer, never a backend).
  if (mesh) {
    for (const auto& entry : snap.nodes) {
      const Node& n = entry.second;
      if (n.ingress_addr.empty()) continue;
      std::string node_addr = tunnel_ip(n);
      if (node_addr.empty()) continue;
      infos[ingress_id].endpoints.push_back({"node:" + entry.first, "", entry.first, strip_prefix(n.ingress_addr),
                                             node_addr, false});
    }
  }
  for (auto& [_, info] : infos) {
    std::sort(info.endpoints.begin(), info.endpoints.end(),
              [](const auto& a, const auto& b) { return a.task_id < b.task_id; });
    std::sort(info.services.begin(), info.services.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  }
  std::unordered_map<std::string, session::NetworkView> out;
  for (const auto& [nid, n] : snap.nodes) {
    std::set<std::string> nets = node_networks[nid];
    if (mesh && n.state != NodeState::kDown) nets.insert(ingress_id);
    session::NetworkView& v = out[nid];
    for (const auto& net : nets) v.networks.push_back(infos.at(net));  // std::set: sorted by id
    if (mesh) v.ingress_addr = strip_prefix(n.ingress_addr);
  }
  return out;
}

}  // namespace shoal::dispatcher
