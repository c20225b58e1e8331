// NodeNetwork's routing mesh (node_network.h): a published port answers on
// every node, on its addresses and its 127.0.0.1, also where no task of the
// service runs.
//
// The node's namespace is plugged into the ingress network like a task (a
// veth "shoal_ingress" with the node's own ingress address from the view);
// the `ip shoal-mesh` table DNATs node:published to a serving task's
// ingress address:target, round robin, and SNATs to the node's ingress
// address, so the task's reply comes back over VXLAN to this node.
// route_localnet is set on shoal_ingress (127.0.0.1:P is DNATed out of
// it); the mesh table drops 127/8 arriving anywhere but lo.
//
// The same table maps the host-mode ports of the tasks on this node
// (Task::host_ports) to each task's address on the gateway bridge, keeping
// the client's address (only 127.0.0.1's connections are masqueraded);
// route_localnet is then set on the gateway bridge too. The table stands
// while either has a port.
#include <algorithm>
#include <set>

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

// The mesh's ports from the ingress network's view (own_ports left out, logged).
netlb::MeshConfig mesh_config(const session::NetworkInfo& ingress, const std::string& snat_source,
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
  return m;
}

}  // namespace

Result<std::string> mesh_ruleset(const session::NetworkInfo& ingress, const std::string& snat_source,
                                 const std::vector<std::pair<std::string, uint16_t>>& own_ports) {
  return netlb::render_mesh_ruleset(mesh_config(ingress, snat_source, own_ports));
}

bool NodeNetwork::own_port(const PortConfig& p) const {
  return std::find(opts_.own_ports.begin(), opts_.own_ports.end(),
                   std::make_pair(p.protocol, static_cast<uint16_t>(p.published_port))) != opts_.own_ports.end();
}

std::vector<netlb::PublishedPort> NodeNetwork::host_ports_locked(
    const std::vector<netlb::PublishedPort>& mesh_ports) const {
  std::vector<netlb::PublishedPort> out;
  std::set<std::pair<std::string, uint32_t>> seen;
  for (const auto& p : mesh_ports) seen.insert({p.protocol, p.published});
  for (const auto& [id, t] : tasks_) {
    std::string gw;
    for (const auto& a : t.attachments)
      if (a.network_id.empty()) gw = a.ip;
    if (gw.empty()) continue;
    for (const auto& p : t.host_ports) {
      if (own_port(p) || p.published_port == 0 || p.published_port > 65535 || p.target_port == 0 ||
          p.target_port > 65535)
        continue;  // attach_task refused it
      const auto port = static_cast<uint16_t>(p.published_port);
      // The scheduler keeps two tasks publishing one port off a node, and
      // the API a port off both modes; while a task is replaced (or a
      // service moves a port from host mode to the mesh) both may be here
      // for a moment: the mesh, then the first task by id, keeps the port.
      if (!seen.insert({p.protocol, p.published_port}).second) {
        LOG_WARN("network", "task " << id << "'s host-mode port " << port << "/" << p.protocol
                                    << " is held by another task or the mesh here until that one is gone");
        continue;
      }
      out.push_back({p.protocol, port, static_cast<uint16_t>(p.target_port), {gw}});
    }
  }
  return out;
}

// Off once the bridge is gone (or never made); a failed write leaves it
// unknown, so the mesh table and its 127/8 guard stay (take_mesh_down_locked)
// and the next program writes it again.
void NodeNetwork::set_gateway_localnet_locked(bool on) {
  if (!gateway_bridge_) {
    localnet_gw_ = false;  // no bridge: nothing to set, nothing set
    return;
  }
  if (on && !gateway_ready_) return;  // its host-mode ports cannot be mapped yet either
  if (localnet_gw_ == on) return;
  Status st = netlb::set_sysctl(opts_.node_netns_path,
                                "net/ipv4/conf/" + opts_.gateway.bridge + "/route_localnet", on ? "1" : "0");
  if (st.ok()) {
    localnet_gw_ = on;
  } else {
    localnet_gw_.reset();
    LOG_WARN("network", "route_localnet on the gateway bridge (host-mode ports on 127.0.0.1): " << st.message());
  }
}

// Unplug first, then the table: route_localnet and the plug never stand
// without the table's guards. Each step accepts what is gone already (after
// a restart the state is "(unknown)").
void NodeNetwork::unplug_mesh_locked() {
  if (mesh_network_.empty() && mesh_plug_.empty() && mesh_ != "(unknown)") return;
  Status st = ok_status();
  if (!mesh_network_.empty()) st = dp_->detach(mesh_network_, kMeshEndpoint);
  for (const auto& n : view_.networks)
    if (n.ingress && n.id != mesh_network_ && st.ok()) st = dp_->detach(n.id, kMeshEndpoint);
  if (st.ok()) {
    mesh_network_.clear();
    mesh_plug_.clear();
  } else {
    LOG_WARN("network", "unplugging the node from the routing mesh: " << st.message());
  }
}

void NodeNetwork::take_mesh_down_locked() {
  if (mesh_.empty() && mesh_network_.empty()) return;
  unplug_mesh_locked();
  set_gateway_localnet_locked(false);
  // Kept while a plug or route_localnet may stand: its guards stay with them.
  if (!mesh_network_.empty() || localnet_gw_ != false) return;
  if (gateway_ready_) (void)apply_gateway_table_locked({});  // no DNATed connection into the bridge any more
  Status st = netlb::remove_table(opts_.node_netns_path, "ip", netlb::kMeshTable);
  if (st.ok()) {
    mesh_.clear();
    mapped_ips_.clear();
  } else {
    LOG_WARN("network", "taking the routing mesh down: " << st.message());
  }
}

Status NodeNetwork::program_mesh_locked(bool ingress_allowed) {
  const session::NetworkInfo* ing = mesh_network(view_);
  if (ing && view_.ingress_addr.empty()) ing = nullptr;
  const bool wanted = ing != nullptr;  // the view has the mesh answer here
  bool made = false;                    // and its network is made: it is (re)programmed
  if (wanted && !ingress_allowed) {
    LOG_WARN("network", "the routing mesh is not reprogrammed here until the VXLAN guard applies");
  } else if (wanted) {
    Status st = make_network_locked(*ing);
    made = st.ok();
    if (!made) LOG_WARN("network", "the routing mesh: " << st.message() << "; what stands of it is kept");
  }
  netlb::MeshConfig m;
  if (made) {
    m = mesh_config(*ing, view_.ingress_addr, opts_.own_ports);
  } else {
    // The mesh as it stands (a failure is not a reason to stop answering),
    // or none when the view has none: unplugged first. A plug that could
    // not be undone keeps its fence.
    if (wanted && !mesh_network_.empty()) m = last_mesh_;
    if (!wanted) unplug_mesh_locked();
    if (!mesh_network_.empty()) m.ingress_ifname = kMeshIfname;
  }
  m.host_ports = host_ports_locked(m.ports);
  if (m.ports.empty() && m.host_ports.empty() && mesh_network_.empty()) {
    take_mesh_down_locked();
    return ok_status();
  }
  // The table (with its guards and fences) before the plug and route_localnet.
  auto script = netlb::render_mesh_ruleset(m);
  if (!script.ok()) return script.status().with_context("the routing mesh's rules");
  if (*script != mesh_) {
    SHOAL_RETURN_IF_ERROR(
        netlb::apply_ruleset(opts_.node_netns_path, *script).with_context("applying the routing mesh's rules"));
    mesh_ = std::move(*script);
    mapped_ips_.clear();
    for (const auto& p : m.host_ports) mapped_ips_.insert(p.backends.begin(), p.backends.end());
  }
  if (gateway_ready_) SHOAL_RETURN_IF_ERROR(apply_gateway_table_locked(m.host_ports));
  set_gateway_localnet_locked(!m.host_ports.empty());
  if (!made) {
    return (wanted || mesh_network_.empty()) ? ok_status()
                                             : unavailable("the node could not be unplugged from the routing mesh");
  }
  last_mesh_ = m;
  last_mesh_.host_ports.clear();
  const std::string node_ns = opts_.node_netns_path.empty() ? "/proc/self/ns/net" : opts_.node_netns_path;
  const std::string plug = ing->id + " " + view_.ingress_addr;
  if (plug == mesh_plug_) return ok_status();  // plugged as the view says: no kernel work
  if (!mesh_network_.empty() && mesh_network_ != ing->id) (void)dp_->detach(mesh_network_, kMeshEndpoint);
  Status st = dp_->attach(ing->id, {kMeshEndpoint, node_ns, kMeshIfname, view_.ingress_addr, "", false});
  if (st.ok()) mesh_network_ = ing->id;
  if (st.ok()) st = netlb::enable_forwarding(opts_.node_netns_path);
  if (st.ok()) {
    st = netlb::set_sysctl(opts_.node_netns_path, std::string("net/ipv4/conf/") + kMeshIfname + "/route_localnet", "1");
  }
  if (!st.ok()) return st.with_context("the routing mesh");
  mesh_plug_ = plug;
  return ok_status();
}

}  // namespace shoal::netnode
