// NodeNetwork's routing mesh (node_network.h): a published port answers on
// every node, on its addresses and its 127.0.0.1, also where no task of the
// service runs.
//
// The node's namespace is plugged into the ingress network like a task (a
// veth "shoal_ingress" with the node's own ingress address from the view);
// the `ip shoal-mesh` table DNATs node:published to a serving task's
// ingress address:target, round robin, and SNATs to the node's ingress
// address, so the task's reply comes back over VXLAN to this node.
// route_localnet is set on shoal_ingress only (127.0.0.1:P is DNATed out of
// it); the mesh table drops 127/8 arriving anywhere but lo.
#include <algorithm>

#include "agent/network/lb/apply.h"
#include "agent/network/lb/ruleset.h"
#include "agent/network/node/node_network.h"
#include "agent/network/node/view_model.h"
#include "common/log.h"

namespace shoal::netnode {

namespace {

// The "task id" the node's own ingress endpoint goes by in the datapath
// (its veth in the ingress namespace is ve-<first 11>).
constexpr char kMeshEndpoint[] = "meshofthisnode";
constexpr char kMeshIfname[] = "shoal_ingress";

const session::NetworkInfo* mesh_network(const session::NetworkView& v) {
  for (const auto& n : v.networks) {
    if (!n.ingress) continue;
    for (const auto& s : n.services)
      if (!s.ports.empty()) return &n;
  }
  return nullptr;
}

}  // namespace

Result<std::string> mesh_ruleset(const session::NetworkInfo& ingress, const std::string& snat_source,
                                 const std::vector<std::pair<std::string, uint16_t>>& own_ports) {
  netlb::MeshConfig m;
  m.snat_source = snat_source;
  m.ingress_ifname = kMeshIfname;
  for (const auto& s : ingress.services) {
    std::vector<std::string> backends;
    for (const auto& e : ingress.endpoints)
      if (e.serving && e.service_id == s.id) backends.push_back(e.ip);
    for (const auto& p : s.ports) {
      if (p.publish_mode != "ingress" || !p.published_port) continue;
      const auto port = static_cast<uint16_t>(p.published_port);
      if (std::find(own_ports.begin(), own_ports.end(), std::make_pair(p.protocol, port)) != own_ports.end()) {
        LOG_WARN("network", "the routing mesh leaves out " << port << "/" << p.protocol
                                                           << ": this node serves that port itself");
        continue;
      }
      m.ports.push_back({p.protocol, port, static_cast<uint16_t>(p.target_port), backends});
    }
  }
  return netlb::render_mesh_ruleset(m);
}

// Unplug first, then the table: route_localnet and the plug never stand
// without the table's guards. Each step accepts what is gone already (after
// a restart the state is "(unknown)").
void NodeNetwork::take_mesh_down_locked() {
  if (mesh_.empty() && mesh_network_.empty()) return;
  Status st = ok_status();
  if (!mesh_network_.empty()) st = dp_->detach(mesh_network_, kMeshEndpoint);
  for (const auto& n : view_.networks)
    if (n.ingress && n.id != mesh_network_ && st.ok()) st = dp_->detach(n.id, kMeshEndpoint);
  if (st.ok()) {
    mesh_network_.clear();
    mesh_plug_.clear();
    st = netlb::remove_table(opts_.node_netns_path, "ip", netlb::kMeshTable);
  }
  if (st.ok()) {
    mesh_.clear();
  } else {
    LOG_WARN("network", "taking the routing mesh down: " << st.message());
  }
}

void NodeNetwork::program_mesh_locked() {
  const session::NetworkInfo* ing = mesh_network(view_);
  if (!ing || view_.ingress_addr.empty()) return take_mesh_down_locked();
  const std::string node_ns = opts_.node_netns_path.empty() ? "/proc/self/ns/net" : opts_.node_netns_path;
  Status st = make_network_locked(*ing);
  if (!st.ok()) {
    LOG_WARN("network", "the routing mesh: " << st.message());
    return;
  }
  // The table (with its guards and fences) before the plug and route_localnet.
  auto script = mesh_ruleset(*ing, view_.ingress_addr, opts_.own_ports);
  if (!script.ok()) {
    LOG_WARN("network", "the routing mesh's rules: " << script.status().message());
    return;
  }
  if (*script != mesh_) {
    st = netlb::apply_ruleset(opts_.node_netns_path, *script);
    if (!st.ok()) {
      LOG_WARN("network", "applying the routing mesh's rules: " << st.message());
      return;
    }
    mesh_ = std::move(*script);
  }
  const std::string plug = ing->id + " " + view_.ingress_addr;
  if (plug == mesh_plug_) return;  // plugged as the view says: no kernel work
  if (!mesh_network_.empty() && mesh_network_ != ing->id) (void)dp_->detach(mesh_network_, kMeshEndpoint);
  st = dp_->attach(ing->id, {kMeshEndpoint, node_ns, kMeshIfname, view_.ingress_addr, "", false});
  if (st.ok()) mesh_network_ = ing->id;
  if (st.ok()) st = netlb::enable_forwarding(opts_.node_netns_path);
  if (st.ok()) {
    st = netlb::set_sysctl(opts_.node_netns_path, std::string("net/ipv4/conf/") + kMeshIfname + "/route_localnet", "1");
  }
  if (st.ok()) {
    mesh_plug_ = plug;
  } else {
    LOG_WARN("network", "the routing mesh: " << st.message());
  }
}

}  // namespace shoal::netnode
