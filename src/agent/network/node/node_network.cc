#include "agent/network/node/node_network.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "agent/network/dns/listeners.h"
#include "agent/network/lb/apply.h"
#include "agent/network/node/view_model.h"
#include "common/files.h"
#include "common/ipv4.h"
#include "common/log.h"
#include "os/netns_file.h"

namespace shoal::netnode {

namespace {

std::string strip_prefix(const std::string& a) { return a.substr(0, a.find('/')); }

json to_json_atts(const std::vector<Attachment>& atts) {
  json j = json::array();
  for (const auto& a : atts)
    j.push_back({{"Network", a.network_id}, {"IP", a.ip}, {"Interface", a.ifname}, {"DefaultRoute", a.default_route}});
  return j;
}

std::vector<Attachment> from_json_atts(const json& j) {
  std::vector<Attachment> out;
  for (const auto& e : j)
    out.push_back({e.at("Network").get<std::string>(), e.at("IP").get<std::string>(),
                   e.at("Interface").get<std::string>(), e.value("DefaultRoute", false)});
  return out;
}

// A task's record: {"Attachments": [...], "HostPorts": [...]} (an earlier
// release wrote the attachments' array alone).
json task_record(const std::vector<Attachment>& atts, const std::vector<PortConfig>& ports) {
  json hp = json::array();
  for (const auto& p : ports)
    hp.push_back({{"Protocol", p.protocol}, {"TargetPort", p.target_port}, {"PublishedPort", p.published_port}});
  return {{"Attachments", to_json_atts(atts)}, {"HostPorts", std::move(hp)}};
}

void read_task_record(const json& j, std::vector<Attachment>* atts, std::vector<PortConfig>* ports) {
  if (j.is_array()) {
    *atts = from_json_atts(j);
    return;
  }
  *atts = from_json_atts(j.at("Attachments"));
  for (const auto& e : j.value("HostPorts", json::array())) {
    PortConfig p;
    p.protocol = e.at("Protocol").get<std::string>();
    p.target_port = e.at("TargetPort").get<uint32_t>();
    p.published_port = e.at("PublishedPort").get<uint32_t>();
    p.publish_mode = "host";
    if ((p.protocol != "tcp" && p.protocol != "udp") || p.target_port == 0 || p.target_port > 65535 ||
        p.published_port == 0 || p.published_port > 65535)
      throw std::invalid_argument("host-mode port " + e.dump() + " is not a tcp or udp port 1-65535");
    ports->push_back(std::move(p));
  }
}

}  // namespace

std::set<std::string> NodeNetwork::LocalTask::networks() const {
  std::set<std::string> out;
  for (const auto& a : attachments)
    if (!a.network_id.empty()) out.insert(a.network_id);
  return out;
}

bool NodeNetwork::valid_task_id(const std::string& id) {
  if (id.size() < netoverlay::Datapath::kTaskIdChars || id.size() > 64) return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

Result<std::unique_ptr<NodeNetwork>> NodeNetwork::create(Options o) {
  SHOAL_ASSIGN_OR_RETURN(auto dp, netoverlay::Datapath::create({o.state_dir, o.underlay_ip, o.vxlan_port, o.node_netns_path, o.gateway}));
  std::error_code ec;
  // The real path (the datapath made the directory): namespace files are
  // found in /proc/self/mountinfo by it, so a symlinked or relative data
  // root must not leave them unremovable.
  o.state_dir = std::filesystem::canonical(o.state_dir, ec).string();
  if (ec) return internal_error("resolving the network state dir: " + ec.message());
  o.own_ports.emplace_back("udp", o.vxlan_port);
  std::filesystem::create_directories(o.state_dir + "/tasks", ec);
  if (ec) return internal_error("making " + o.state_dir + "/tasks: " + ec.message());
  ::chmod((o.state_dir + "/tasks").c_str(), 0700);
  auto r = std::make_unique<netdns::Resolver>(o.dns);
  SHOAL_RETURN_IF_ERROR(r->start().with_context("starting the embedded DNS server"));
  std::unique_ptr<NodeNetwork> nn(new NodeNetwork(std::move(o), std::move(dp), std::move(r)));
  nn->load_tasks();
  {
    // What a crash may have left with no task to use it: the gateway bridge
    // and its tables (dropped unless a recovered task has a gateway
    // interface), the VXLAN guard (its unknown state is settled by the
    // first view).
    std::lock_guard lk(nn->mu_);
    nn->guard_ = "(unknown)";
    nn->drop_gateway_if_unused_locked();
  }
  return nn;
}

NodeNetwork::NodeNetwork(Options o, std::unique_ptr<netoverlay::Datapath> dp, std::unique_ptr<netdns::Resolver> r)
    : opts_(std::move(o)), dp_(std::move(dp)), resolver_(std::move(r)) {}

NodeNetwork::~NodeNetwork() { stop(); }

void NodeNetwork::stop() {
  {
    std::lock_guard lk(mu_);
    stopped_ = true;
  }
  view_cv_.notify_all();
  resolver_->stop();
}

std::string NodeNetwork::task_ns(const std::string& id) const { return opts_.state_dir + "/tasks/" + id; }

// Tasks attached before a restart: their namespace file is still mounted
// (the container holds it too) and their record says how they were attached.
// A record without its namespace is a leftover of an interrupted detach.
void NodeNetwork::load_tasks() {
  std::error_code ec;
  for (const auto& de : std::filesystem::directory_iterator(opts_.state_dir + "/tasks", ec)) {
    std::string name = de.path().filename();
    if (name.size() < 6 || name.substr(name.size() - 5) != ".json") continue;
    std::string id = name.substr(0, name.size() - 5);
    if (!valid_task_id(id)) continue;
    if (!os::is_netns_mount(task_ns(id))) {
      std::filesystem::remove(de.path(), ec);
      continue;
    }
    try {
      std::ifstream in(de.path());
      LocalTask t;
      read_task_record(json::parse(in), &t.attachments, &t.host_ports);
      tasks_[id] = std::move(t);
    } catch (const std::exception& e) {
      LOG_WARN("network", "task " << id << ": unreadable attachment record (" << e.what() << "): detaching it");
      tasks_[id] = {};
    }
  }
}

std::vector<std::string> NodeNetwork::tasks() const {
  std::lock_guard lk(mu_);
  std::vector<std::string> out;
  for (const auto& [id, _] : tasks_) out.push_back(id);
  return out;
}

Status NodeNetwork::attach_locked(const std::string& id, const std::vector<Attachment>& atts,
                                  const std::vector<PortConfig>& host_ports) {
  for (const auto& a : atts) {
    if (a.network_id.empty()) {
      SHOAL_RETURN_IF_ERROR(ensure_gateway_locked());
      continue;
    }
    const auto* n = find_network(view_, a.network_id);
    if (!n) return failed_precondition("network " + a.network_id + " is not in this node's view");
    SHOAL_RETURN_IF_ERROR(make_network_locked(*n));
  }
  std::string path = task_ns(id);
  // The record first: a namespace is never left without one after a crash
  // (load_tasks finds tasks by their records).
  SHOAL_RETURN_IF_ERROR(write_file_atomic(path + ".json", task_record(atts, host_ports).dump(), 0600));
  if (!os::is_netns_mount(path)) SHOAL_RETURN_IF_ERROR(os::create_netns_file(path).with_context("task " + id));
  for (const auto& a : atts) {
    netoverlay::LocalEndpoint e{id, path, a.ifname, a.ip, "", a.default_route};
    Status st = a.network_id.empty() ? dp_->attach_gateway(e) : dp_->attach(a.network_id, e);
    SHOAL_RETURN_IF_ERROR(st.with_context("task " + id));
  }
  return ok_status();
}

// The gateway bridge, its NAT and isolation tables and forwarding, made
// once per start (each step is idempotent, so after a restart they are
// simply re-applied).
Status NodeNetwork::ensure_gateway_locked() {
  if (gateway_ready_) return ok_status();
  SHOAL_RETURN_IF_ERROR(dp_->ensure_gateway());
  gateway_bridge_ = true;
  localnet_gw_.reset();  // a bridge left by an earlier run may have it set
  gateway_script_.clear();
  SHOAL_RETURN_IF_ERROR(apply_gateway_table_locked(host_ports_locked({})));
  SHOAL_RETURN_IF_ERROR(netlb::enable_forwarding(opts_.node_netns_path));
  gateway_ready_ = true;
  return ok_status();
}

Status NodeNetwork::apply_gateway_table_locked(const std::vector<netlb::PublishedPort>& host_ports) {
  SHOAL_ASSIGN_OR_RETURN(std::string script, netlb::render_gateway_ruleset(opts_.gateway.subnet, opts_.gateway.bridge,
                                                                          opts_.vxlan_port, host_ports));
  if (script == gateway_script_) return ok_status();
  SHOAL_RETURN_IF_ERROR(netlb::apply_ruleset(opts_.node_netns_path, script).with_context("the gateway's NAT rules"));
  gateway_script_ = std::move(script);
  return ok_status();
}

// No task uses the gateway any more: the bridge and its tables go, so a node
// without tasks on networks holds nothing of them.
void NodeNetwork::drop_gateway_if_unused_locked() {
  for (const auto& [_, t] : tasks_)
    for (const auto& a : t.attachments)
      if (a.network_id.empty()) return;
  Status st = dp_->remove_gateway();
  if (st.ok()) {
    gateway_bridge_ = false;
    localnet_gw_ = false;  // gone with the bridge
  } else {
    localnet_gw_.reset();  // the bridge may stand, with it set
  }
  if (st.ok()) st = netlb::remove_table(opts_.node_netns_path, "ip", netlb::kGatewayTable);
  if (st.ok()) st = netlb::remove_table(opts_.node_netns_path, "bridge", netlb::kGatewayTable);
  if (!st.ok()) LOG_WARN("network", "removing the gateway bridge: " << st.message());
  gateway_ready_ = false;
  gateway_script_.clear();
}

// The lowest gateway address no attached task holds (the bridge has the
// first host address).
Result<std::string> NodeNetwork::free_gateway_ip_locked() const {
  SHOAL_ASSIGN_OR_RETURN(auto subnet, ipv4::parse_cidr(opts_.gateway.subnet));
  std::set<uint32_t> used;
  for (const auto& [_, t] : tasks_)
    for (const auto& a : t.attachments)
      if (a.network_id.empty())
        if (auto ip = ipv4::parse_addr(a.ip); ip.ok()) used.insert(*ip);
  // Nor one the applied mesh table still maps a host-mode port to (its
  // removal failed): its next holder would get that port's connections.
  for (const auto& addr : mapped_ips_)
    if (auto ip = ipv4::parse_addr(addr); ip.ok()) used.insert(*ip);
  for (uint32_t ip = subnet.base + 2; ip < ipv4::last(subnet); ++ip)
    if (!used.count(ip)) return ipv4::format(ip);
  return unavailable("no address left in the gateway subnet " + opts_.gateway.subnet + " on this node");
}

Status NodeNetwork::program_task_locked(const std::string& id, LocalTask& t) {
  auto nets = t.networks();
  auto scope = task_scope(view_, nets);
  // Other names go to the node's nameservers only for a task with a way
  // out (the gateway bridge): one attached to --internal networks alone
  // gets REFUSED for them. (Ingress is no internal network: as in Docker, a
  // task that publishes has the gateway as its way out.)
  bool forward = std::any_of(t.attachments.begin(), t.attachments.end(),
                             [](const Attachment& a) { return a.network_id.empty(); });
  if (!t.dns) {
    SHOAL_ASSIGN_OR_RETURN(auto fds, netdns::open_listeners_in_netns(task_ns(id)));
    SHOAL_RETURN_IF_ERROR(resolver_->add_task(id, fds.udp, fds.tcp, scope, forward));
    t.dns = true;
  } else {
    SHOAL_RETURN_IF_ERROR(resolver_->set_scope(id, scope));
    SHOAL_RETURN_IF_ERROR(resolver_->set_forward(id, forward));
  }
  SHOAL_ASSIGN_OR_RETURN(std::string script, netlb::render_task_ruleset(task_vips(view_, nets)));
  if (script != t.ruleset) {
    SHOAL_RETURN_IF_ERROR(netlb::apply_ruleset(task_ns(id), script).with_context("task " + id + "'s VIP rules"));
    t.ruleset = std::move(script);
  }
  return ok_status();
}

Result<std::string> NodeNetwork::attach_task(const Task& task, const std::atomic<bool>* cancel) {
  if (task.networks.empty() && task.host_ports.empty()) return std::string();
  if (!valid_task_id(task.id)) return invalid_argument("task id \"" + task.id + "\" cannot name a network namespace");
  for (const auto& p : task.host_ports) {
    if ((p.protocol != "tcp" && p.protocol != "udp") || p.target_port == 0 || p.target_port > 65535 ||
        p.published_port == 0 || p.published_port > 65535)
      return invalid_argument("host-mode port " + std::to_string(p.published_port) + ":" +
                              std::to_string(p.target_port) + "/" + p.protocol + " is not a tcp or udp port 1-65535");
    if (own_port(p))
      return failed_precondition("host-mode port " + std::to_string(p.published_port) + "/" + p.protocol +
                                 " is served by this node itself (shoald): publish another one");
  }
  std::vector<Attachment> atts;
  for (const auto& na : task.networks) {
    if (na.addresses.empty())
      return failed_precondition("task " + task.id + " has no address on network " + na.network_name + " yet");
    atts.push_back({na.network_id, strip_prefix(na.addresses[0]), "eth" + std::to_string(atts.size()), false});
  }
  std::unique_lock lk(mu_);
  auto deadline = std::chrono::steady_clock::now() + opts_.view_wait;
  auto known = [&] {
    for (const auto& a : atts)
      if (!find_network(view_, a.network_id)) return false;
    return true;
  };
  while (!known()) {
    if (stopped_ || (cancel && *cancel)) return unavailable("the node is stopping");
    if (std::chrono::steady_clock::now() >= deadline)
      return unavailable("this node has not received the configuration of the task's networks from the manager within " +
                         std::to_string(opts_.view_wait.count()) + " ms");
    view_cv_.wait_for(lk, std::chrono::milliseconds(100));
  }
  if (stopped_) return unavailable("the node is stopping");
  // The datapath names a task's veth by the first 11 characters of its id
  // (interface names are short): a task whose id shares them with another
  // attached one would take over that one's interface.
  const std::string prefix = task.id.substr(0, netoverlay::Datapath::kTaskIdChars);
  for (const auto& [other, _] : tasks_)
    if (other != task.id && other.compare(0, prefix.size(), prefix) == 0)
      return already_exists("task " + task.id + " and task " + other +
                            " share the id prefix that names their interfaces on this node; the task is refused "
                            "(it is rescheduled under a new id)");
  // A host-mode port is reached through the gateway bridge: a task that
  // publishes one gets it, also on internal networks (publishing is a way
  // in, as in Docker).
  bool way_out = !task.host_ports.empty();
  for (const auto& a : atts) {
    const auto* n = find_network(view_, a.network_id);
    way_out = way_out || !n->internal;
  }
  if (auto it = tasks_.find(task.id); it != tasks_.end() && !it->second.attachments.empty()) {
    atts = it->second.attachments;  // attached before: the same interfaces and addresses
  } else if (way_out) {
    auto gw = free_gateway_ip_locked();
    if (!gw.ok()) return gw.status();
    atts.push_back({"", *gw, "eth" + std::to_string(atts.size()), true});
  }
  // The guard first: no VXLAN device is open to anyone before it.
  if (Status g = apply_guard_locked(); !g.ok()) return g;
  Status st = attach_locked(task.id, atts, task.host_ports);
  LocalTask& t = tasks_[task.id];
  t.attachments = atts;
  t.host_ports = task.host_ports;
  if (st.ok()) st = program_task_locked(task.id, t);
  if (st.ok() && !t.host_ports.empty()) st = program_mesh_locked().with_context("mapping its host-mode ports");
  if (!st.ok()) {
    lk.unlock();
    Status undo = detach_task(task.id);
    if (!undo.ok()) LOG_WARN("network", "task " << task.id << ": undoing a failed attach: " << undo.message());
    return st;
  }
  return task_ns(task.id);
}

Status NodeNetwork::detach_task(const std::string& task_id) {
  if (!valid_task_id(task_id)) return ok_status();  // never attached: attach_task refuses such ids
  std::lock_guard lk(mu_);
  auto it = tasks_.find(task_id);
  std::string path = task_ns(task_id);
  if (it == tasks_.end() && !os::is_netns_mount(path)) return ok_status();  // never attached, or detached already
  resolver_->remove_task(task_id);
  Status first = ok_status();
  bool had_gateway = false;
  if (it != tasks_.end()) {
    it->second.dns = false;  // its listeners are gone: a retry opens them again if it stays
    for (const auto& a : it->second.attachments) {
      had_gateway = had_gateway || a.network_id.empty();
      Status st = a.network_id.empty() ? dp_->detach_gateway(task_id, a.ip) : dp_->detach(a.network_id, task_id);
      if (!st.ok() && first.ok()) first = st;
    }
  }
  Status st = os::remove_netns_file(path);
  if (!st.ok() && first.ok()) first = st;
  if (!first.ok()) return first;  // kept: a retry detaches what is left
  std::error_code ec;
  std::filesystem::remove(path + ".json", ec);
  if (it != tasks_.end()) tasks_.erase(it);
  reconcile_locked();  // first: its host-mode mapping goes while the bridge still routes
  if (had_gateway) drop_gateway_if_unused_locked();
  return ok_status();
}

void NodeNetwork::set_view(session::NetworkView view) {
  std::lock_guard lk(mu_);
  if (stopped_) return;
  if (view.networks.size() != view_.networks.size())
    LOG_INFO("network", "this node's view holds " << view.networks.size() << " network(s)");
  view_ = std::move(view);
  reconcile_locked();
  view_cv_.notify_all();
}

// The network's namespace, bridge, VXLAN device and peers, skipped when
// what was made last has the same configuration and peers (a view change
// elsewhere costs this network nothing).
Status NodeNetwork::make_network_locked(const session::NetworkInfo& n) {
  auto config = network_config(n);
  auto peers = remote_peers(n, opts_.node_id);
  json sig = {config.id, config.vni, config.subnet, config.gateway, config.mtu};
  for (const auto& p : peers) sig.push_back({p.ip, p.mac, p.vtep});
  std::string text = sig.dump();
  auto it = made_.find(n.id);
  if (it != made_.end() && it->second == text) return ok_status();
  made_.erase(n.id);
  SHOAL_RETURN_IF_ERROR(dp_->ensure_network(config));
  SHOAL_RETURN_IF_ERROR(dp_->set_peers(n.id, peers));
  made_[n.id] = std::move(text);
  return ok_status();
}

void NodeNetwork::reconcile_locked() {
  std::set<std::string> used;
  for (const auto& [_, t] : tasks_)
    for (const auto& a : t.attachments)
      if (!a.network_id.empty()) used.insert(a.network_id);
  Status guard = apply_guard_locked();
  if (!guard.ok()) LOG_WARN("network", guard.message() << "; networks are not (re)made until it applies");
  // Networks in the view that a task here uses: (re)made, peers exact.
  std::set<std::string> wanted_prefixes;
  for (const auto& n : view_.networks) {
    wanted_prefixes.insert(n.id.substr(0, netoverlay::Datapath::kNsIdChars));
    if (!used.count(n.id) || !guard.ok()) continue;
    Status st = make_network_locked(n);
    if (!st.ok()) LOG_WARN("network", "network " << n.name << ": " << st.message());
  }
  // Tasks: recovered ones re-attached, every one's names and VIP rules.
  for (auto& [id, t] : tasks_) {
    if (t.attachments.empty()) continue;
    bool in_view = true;
    for (const auto& a : t.attachments) in_view = in_view && (a.network_id.empty() || find_network(view_, a.network_id));
    if (!in_view) continue;  // going away: its detach follows the container's removal
    Status st = t.dns ? ok_status() : attach_locked(id, t.attachments, t.host_ports);
    if (st.ok()) st = program_task_locked(id, t);
    if (!st.ok()) LOG_WARN("network", "task " << id << ": " << st.message());
  }
  // Networks neither in the view nor used by a task here: removed.
  std::set<std::string> used_prefixes;
  for (const auto& id : used) used_prefixes.insert(id.substr(0, netoverlay::Datapath::kNsIdChars));
  for (const auto& prefix : dp_->networks()) {
    if (wanted_prefixes.count(prefix) || used_prefixes.count(prefix)) continue;
    Status st = dp_->remove_network(prefix);
    if (!st.ok()) LOG_WARN("network", "removing network " << prefix << ": " << st.message());
    for (auto it = made_.begin(); it != made_.end();)
      it = it->first.compare(0, prefix.size(), prefix) == 0 ? made_.erase(it) : std::next(it);
  }
  if (made_.empty() && view_.networks.empty()) {
    Status st = apply_guard_locked();
    if (!st.ok()) LOG_WARN("network", st.message());
  }
  // Always: a host-mode mapping of a task gone must go whatever else fails.
  Status st = program_mesh_locked(guard.ok());
  if (!st.ok()) LOG_WARN("network", st.message());
}

// VXLAN's UDP port accepts only the tunnel endpoints of the nodes whose
// tasks share a network with this one (the kernel's VXLAN socket listens on
// every address). It is applied before any VXLAN device is made, and exists
// only while the node has networks (in its view or made).
Status NodeNetwork::apply_guard_locked() {
  if (made_.empty() && view_.networks.empty()) {
    if (guard_.empty()) return ok_status();
    Status st = netlb::remove_table(opts_.node_netns_path, "ip", netlb::kVxlanTable);
    if (st.ok()) guard_.clear();
    return st.with_context("removing the VXLAN guard");
  }
  std::set<std::string> vteps;
  for (const auto& n : view_.networks)
    for (const auto& p : remote_peers(n, opts_.node_id)) vteps.insert(p.vtep);
  SHOAL_ASSIGN_OR_RETURN(std::string script, netlb::render_vxlan_guard(opts_.vxlan_port, {vteps.begin(), vteps.end()}));
  if (script == guard_) return ok_status();
  SHOAL_RETURN_IF_ERROR(netlb::apply_ruleset(opts_.node_netns_path, script).with_context("applying the VXLAN guard"));
  guard_ = std::move(script);
  return ok_status();
}

Status NodeNetwork::remove_all() {
  for (const auto& id : tasks()) SHOAL_RETURN_IF_ERROR(detach_task(id));
  std::lock_guard lk(mu_);
  made_.clear();
  view_ = {};
  (void)program_mesh_locked();  // no task, no view: takes it down
  Status guard = apply_guard_locked();  // removes it
  if (!guard.ok()) LOG_WARN("network", guard.message());
  drop_gateway_if_unused_locked();
  return dp_->remove_all();
}

}  // namespace shoal::netnode
