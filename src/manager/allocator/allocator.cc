#include "manager/allocator/allocator.h"

#include <algorithm>

namespace shoal::allocator {

namespace {

// "10.0.1.5/24" -> 10.0.1.5; 0 when malformed (never in a stored object).
uint32_t addr_of(const std::string& cidr_addr) {
  auto a = ipv4::parse_addr(cidr_addr.substr(0, cidr_addr.find('/')));
  return a.ok() ? *a : 0;
}

}  // namespace

bool publishes_ingress(const ServiceSpec& s) {
  for (const auto& p : s.endpoint_spec.ports)
    if (p.publish_mode == "ingress") return true;
  return false;
}

void Allocator::load(const StoreSnapshot& snap) {
  pools_.clear();
  ingress_id_.clear();
  for (const auto& [id, n] : snap.networks) {
    if (n.ipam.empty()) continue;
    auto subnet = ipv4::parse_cidr(n.ipam[0].subnet);
    auto gateway = ipv4::parse_addr(n.ipam[0].gateway);
    if (!subnet.ok() || !gateway.ok()) continue;
    Pool p{n, *subnet, *subnet, *gateway, {}};
    if (!n.ipam[0].ip_range.empty()) {
      if (auto r = ipv4::parse_cidr(n.ipam[0].ip_range); r.ok()) p.range = *r;
    }
    pools_.emplace(id, std::move(p));
    if (n.spec.ingress) ingress_id_ = id;
  }
  for (const auto& [_, s] : snap.services) {
    for (const auto& v : s.virtual_ips) mark_used(v.network_id, v.addr);
  }
  for (const auto& [_, n] : snap.nodes)
    if (!n.ingress_addr.empty()) mark_used(ingress_id_, n.ingress_addr);
  for (const auto& [_, t] : snap.tasks) {
    if (is_terminal(t.status.state)) continue;
    // Never placed and no longer wanted: no container can hold its address.
    if (t.node_id.empty() && t.desired_state > TaskState::kRunning) continue;
    for (const auto& a : t.networks)
      for (const auto& addr : a.addresses) mark_used(a.network_id, addr);
  }
  // The cursor of a network this manager has not handed addresses on yet
  // (it just became the leader, or the network is new) starts past the
  // highest address in use, as Docker's allocator goes on after the last
  // one it gave: an address freed just before a leader change is not the
  // first one handed out after it. Deterministic: every new leader starts
  // where the store says. A cursor already kept stays.
  std::erase_if(cursor_, [&](const auto& kv) { return !pools_.count(kv.first); });
  for (const auto& [id, p] : pools_) {
    if (cursor_.count(id)) continue;
    uint64_t n = ipv4::size(p.range);
    uint64_t next = 0;
    for (uint32_t a : p.used) {
      if (a >= p.range.base && a - p.range.base < n) next = std::max<uint64_t>(next, a - p.range.base + 1);
    }
    cursor_[id] = n ? static_cast<uint32_t>(next % n) : 0;
  }
}

bool Allocator::plan_node_ingress(Node& n) {
  if (ingress_id_.empty() || !n.ingress_addr.empty()) return false;
  auto addr = take(ingress_id_);
  if (!addr.ok()) return false;
  n.ingress_addr = *addr;
  return true;
}

void Allocator::mark_used(const std::string& network_id, const std::string& addr) {
  auto it = pools_.find(network_id);
  if (it != pools_.end()) it->second.used.insert(addr_of(addr));
}

Result<std::string> Allocator::take(const std::string& network_id) {
  auto it = pools_.find(network_id);
  if (it == pools_.end()) return not_found("network " + network_id + " not found (removed?)");
  Pool& p = it->second;
  uint64_t n = ipv4::size(p.range);
  uint32_t& cursor = cursor_[network_id];
  for (uint64_t i = 0; i < n; ++i) {
    uint32_t off = static_cast<uint32_t>((cursor + i) % n);
    uint32_t a = p.range.base + off;
    if (a == p.subnet.base || a == ipv4::last(p.subnet) || a == p.gateway || p.used.count(a)) continue;
    p.used.insert(a);
    cursor = static_cast<uint32_t>((off + 1) % n);
    return ipv4::format(a) + "/" + std::to_string(p.subnet.prefix);
  }
  return failed_precondition("no IP address left on network " + p.network.spec.name + " (" +
                             ipv4::format(p.range) + ": " + std::to_string(p.used.size()) +
                             " in use); remove tasks or services from it, or use a network with a larger subnet");
}

void Allocator::give_back(const std::string& network_id, const std::string& addr) {
  auto it = pools_.find(network_id);
  if (it != pools_.end()) it->second.used.erase(addr_of(addr));
}

bool Allocator::attach(Task& t, bool with_ingress) {
  std::vector<NetworkAttachment> want;
  if (with_ingress && !ingress_id_.empty()) want.push_back({ingress_id_, "", {}, {}});
  for (const auto& cfg : t.spec.networks) want.push_back({cfg.target, "", {}, cfg.aliases});
  // Keep what an earlier pass allocated (a task pending on another network).
  for (auto& w : want) {
    for (const auto& have : t.networks)
      if (have.network_id == w.network_id) w.addresses = have.addresses;
  }
  std::vector<std::pair<std::string, std::string>> taken;  // this call's, given back on failure
  for (auto& w : want) {
    if (!w.addresses.empty()) continue;
    auto addr = take(w.network_id);
    if (!addr.ok()) {
      for (const auto& [net, a] : taken) give_back(net, a);
      t.status.err = addr.status().message();
      return false;
    }
    taken.push_back({w.network_id, *addr});
    w.addresses = {*addr};
  }
  for (auto& w : want) {
    auto pool = pools_.find(w.network_id);
    if (pool == pools_.end()) {  // removed after an earlier pass gave the task an address on it
      for (const auto& [net, a] : taken) give_back(net, a);
      t.status.err = "network " + w.network_id + " not found (removed?)";
      return false;
    }
    w.network_name = pool->second.network.spec.name;
  }
  t.networks = std::move(want);
  return true;
}

std::vector<Task*> Allocator::allocate(std::vector<Task*>& tasks, const std::unordered_set<std::string>& ingress,
                                       SysTime now) {
  std::vector<Task*> ready;
  for (Task* t : tasks) {
    if (t->status.state > TaskState::kPending) continue;
    bool was_new = t->status.state == TaskState::kNew;
    std::string old_err = t->status.err;
    if (!attach(*t, ingress.count(t->service_id) > 0)) {
      if (was_new || t->status.err != old_err) {
        t->status.state = TaskState::kPending;
        t->status.message = "pending task allocation";
        t->status.timestamp = now;
      }
      continue;
    }
    if (was_new || t->status.message == "pending task allocation") {
      t->status.state = TaskState::kPending;
      t->status.message = "pending task scheduling";
      t->status.err.clear();
      t->status.timestamp = now;
    }
    ready.push_back(t);
  }
  return ready;
}

bool Allocator::plan_vips(Service& s) {
  std::vector<std::string> nets;
  if (s.spec.endpoint_spec.mode == "vip") {
    if (publishes_ingress(s.spec) && !ingress_id_.empty()) nets.push_back(ingress_id_);
    for (const auto& cfg : s.spec.task_template.networks) nets.push_back(cfg.target);
  }
  std::vector<VirtualIp> next;
  for (const auto& net : nets) {
    const VirtualIp* have = nullptr;
    for (const auto& v : s.virtual_ips)
      if (v.network_id == net) have = &v;
    if (have) {
      next.push_back(*have);
      continue;
    }
    auto addr = take(net);
    if (addr.ok()) next.push_back({net, *addr});
  }
  for (const auto& v : s.virtual_ips) {
    bool kept = false;
    for (const auto& n : next) kept = kept || n == v;
    if (!kept) give_back(v.network_id, v.addr);
  }
  if (next == s.virtual_ips) return false;
  s.virtual_ips = std::move(next);
  return true;
}

}  // namespace shoal::allocator
