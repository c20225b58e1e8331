#include "manager/api/published_ports.h"

#include <map>
#include <set>
#include <utility>

namespace shoal::api {

namespace {

using Key = std::pair<std::string, uint32_t>;  // protocol, port

bool mesh(const PortConfig& p) { return p.publish_mode == "ingress"; }

// The swarm's own ports (shoal's defaults, as Docker documents its): the
// mesh answers them on every node, so publishing one would take the swarm's
// own traffic over (its joins and sessions, etcd, VXLAN).
const char* swarm_port(const PortConfig& p) {
  if (p.protocol == "tcp" && p.published_port == 2377) return "the swarm's management port (joins, agent sessions)";
  if (p.protocol == "tcp" && (p.published_port == 2379 || p.published_port == 2380)) {
    return "the managers' cluster store (etcd)";
  }
  if (p.protocol == "udp" && p.published_port == 4789) return "the overlay networks' VXLAN port";
  return nullptr;
}

}  // namespace

Status assign_published_ports(const Store& store, const Service* old, Service& next) {
  // What other services publish through the mesh, and on their tasks'
  // nodes (host mode), by protocol and port.
  std::map<Key, std::string> taken, taken_on_nodes;
  for (const auto& s : store.services()) {
    if (s.id == next.id) continue;
    for (const auto& p : s.endpoint_ports)
      if (p.published_port) (mesh(p) ? taken : taken_on_nodes).emplace(Key{p.protocol, p.published_port}, s.spec.name);
  }
  std::vector<PortConfig> out;
  std::set<Key> mine;
  // First the numbers the spec gives.
  for (const auto& p : next.spec.endpoint_spec.ports) {
    if (!p.published_port) continue;
    if (const char* what = swarm_port(p)) {
      return invalid_argument("port " + std::to_string(p.published_port) + "/" + p.protocol + " is " + what +
                              (mesh(p) ? " on every node" : " on the nodes") + ": publish another one");
    }
    const std::string port = std::to_string(p.published_port);
    if (!mesh(p)) {
      // A host-mode port is the node's: the mesh holding it on every node
      // would take it over.
      auto it = taken.find({p.protocol, p.published_port});
      if (it != taken.end())
        return invalid_argument("port '" + port + "' is already in use by service '" + it->second +
                                "' as an ingress port (it answers on every node): publish another one in host mode");
      continue;
    }
    if (auto it = taken_on_nodes.find({p.protocol, p.published_port}); it != taken_on_nodes.end())
      return invalid_argument("port '" + port + "' is already in use by service '" + it->second +
                              "' as a host-mode port on its nodes: publish another one through the routing mesh");
    auto it = taken.find({p.protocol, p.published_port});
    if (it != taken.end())
      return invalid_argument("port '" + std::to_string(p.published_port) + "' is already in use by service '" +
                              it->second + "' as an ingress port; publish another one, or leave the published "
                              "port out to get a free one");
    mine.insert({p.protocol, p.published_port});
  }
  auto is_free = [&](const Key& k) { return !taken.count(k) && !taken_on_nodes.count(k) && !mine.count(k); };
  for (const auto& p : next.spec.endpoint_spec.ports) {
    PortConfig e = p;
    if (mesh(p) && !p.published_port) {
      // The number this port had (same protocol and target, assigned), if still free.
      if (old) {
        for (const auto& q : old->endpoint_ports)
          if (mesh(q) && q.protocol == p.protocol && q.target_port == p.target_port && q.published_port &&
              is_free({q.protocol, q.published_port})) {
            e.published_port = q.published_port;
            break;
          }
      }
      for (uint32_t n = kFirstDynamicPort; !e.published_port && n <= kLastDynamicPort; ++n)
        if (is_free({p.protocol, n})) e.published_port = n;
      if (!e.published_port)
        return unavailable("no free port left in " + std::to_string(kFirstDynamicPort) + "-" +
                           std::to_string(kLastDynamicPort) + " for " + p.protocol + " target port " +
                           std::to_string(p.target_port) + "; publish a number of your own");
      mine.insert({e.protocol, e.published_port});
    }
    out.push_back(std::move(e));
  }
  next.endpoint_ports = std::move(out);
  return ok_status();
}

}  // namespace shoal::api
