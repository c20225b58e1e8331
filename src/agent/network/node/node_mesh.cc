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

Result<std::string> mesh_ruleset(const session::NetworkInfo& ingress, const std::string& snat_source) {
  netlb::MeshConfig m;
  m.snat_source = snat_source;
  for (const auto& s : ingress.services) {
    std::vector<std::string> backends;
    for (const auto& e : ingress.endpoints)
      if (e.serving && e.service_id == s.id) backends.push_back(e.ip);
    for (const auto& p : s.ports) {
      if (p.publish_mode != "ingress" || !p.published_port) continue;
      m.ports.push_back({p.protocol, static_cast<uint16_t>(p.published_port), static_cast<uint16_t>(p.target_port),
                         backends});
    }
  }
  return netlb::render_mesh_ruleset(m);
}

void NodeNetwork::program_mesh_locked() {
  const session::NetworkInfo* ing = mesh_network(view_);
  const std::string node_ns = opts_.node_netns_path.empty() ? "/proc/self/ns/net" : opts_.node_netns_path;
  if (!ing || view_.ingress_addr.empty()) {
    if (mesh_.empty()) return;
    Status st = netlb::remove_table(opts_.node_netns_path, "ip", netlb::kMeshTable);
    for (const auto& n : view_.networks)
      if (n.ingress && st.ok()) st = dp_->detach(n.id, kMeshEndpoint);
    if (st.ok() && !mesh_network_.empty()) st = dp_->detach(mesh_network_, kMeshEndpoint);
    if (st.ok()) mesh_.clear(), mesh_network_.clear();
    else LOG_WARN("network", "taking the routing mesh down: " << st.message());
    return;
  }
  Status st = make_network_locked(*ing);
  if (st.ok())
    st = dp_->attach(ing->id, {kMeshEndpoint, node_ns, kMeshIfname, view_.ingress_addr, "", false});
  if (st.ok()) st = netlb::enable_forwarding(opts_.node_netns_path);
  if (st.ok()) st = netlb::set_sysctl(opts_.node_netns_path, std::string("net/ipv4/conf/") + kMeshIfname + "/route_localnet", "1");
  if (!st.ok()) {
    LOG_WARN("network", "the routing mesh: " << st.message());
    return;
  }
  mesh_network_ = ing->id;
  auto script = mesh_ruleset(*ing, view_.ingress_addr);
  if (!script.ok()) {
    LOG_WARN("network", "the routing mesh's rules: " << script.status().message());
    return;
  }
  if (*script == mesh_) return;
  st = netlb::apply_ruleset(opts_.node_netns_path, *script);
  if (st.ok()) mesh_ = std::move(*script);
  else LOG_WARN("network", "applying the routing mesh's rules: " << st.message());
}

}  // namespace shoal::netnode
