#include "manager/scheduler/scheduler.h"

#include <algorithm>
#include <tuple>

#include "common/json_limits.h"

namespace shoal::scheduler {

namespace {

struct Constraint {
  std::string key;
  bool equal;
  std::string value;
};

Result<Constraint> parse_constraint(const std::string& c) {
  size_t pos = c.find("==");
  bool eq = true;
  if (pos == std::string::npos) {
    pos = c.find("!=");
    eq = false;
  }
  if (pos == std::string::npos) {
    return invalid_argument("invalid constraint \"" + c + "\": use KEY==VALUE or KEY!=VALUE, e.g. node.role==manager");
  }
  auto trim = [](std::string s) {
    s.erase(0, s.find_first_not_of(' '));
    s.erase(s.find_last_not_of(' ') + 1);
    return s;
  };
  Constraint out{trim(c.substr(0, pos)), eq, trim(c.substr(pos + 2))};
  static const char* kKeys[] = {"node.id", "node.hostname", "node.role", "node.platform.os", "node.platform.arch"};
  bool known = out.key.rfind("node.labels.", 0) == 0 || out.key.rfind("engine.labels.", 0) == 0;
  for (const char* k : kKeys) known |= out.key == k;
  if (!known) {
    return invalid_argument("invalid constraint key \"" + out.key +
                            "\": use node.id, node.hostname, node.role, node.platform.os, node.platform.arch, "
                            "node.labels.<name> or engine.labels.<name>");
  }
  if (out.value.empty()) return invalid_argument("invalid constraint \"" + c + "\": the value is empty");
  return out;
}

std::string node_value(const Node& n, const std::string& key) {
  if (key == "node.id") return n.id;
  if (key == "node.hostname") return n.description.hostname;
  if (key == "node.role") return node_role_name(n.spec.role);
  if (key == "node.platform.os") return n.description.os;
  if (key == "node.platform.arch") return n.description.architecture;
  // engine.labels.*: shoald has no engine labels (no daemon --label), so
  // every node's are empty, as a dockerd started without --label.
  if (key.rfind("node.labels.", 0) == 0) {
    auto it = n.spec.labels.find(key.substr(12));
    return it == n.spec.labels.end() ? "" : it->second;
  }
  return "";
}

// Docker's two architecture aliases: uname's names to Go's.
std::string normalized_arch(const std::string& a) {
  if (a == "x86_64") return "amd64";
  if (a == "aarch64") return "arm64";
  return a;
}

}  // namespace

Status validate_platforms(const std::vector<PlacementPlatform>& platforms) {
  constexpr size_t kMaxPlatforms = 64, kMaxField = 32;
  if (platforms.size() > kMaxPlatforms) {
    return invalid_argument("TaskTemplate.Placement.Platforms has " + std::to_string(platforms.size()) +
                            " entries, more than " + std::to_string(kMaxPlatforms) + ": list the platforms the image has");
  }
  auto bad = [&](const std::string& v) {
    if (v.size() > kMaxField) return true;
    return !std::all_of(v.begin(), v.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    });
  };
  for (size_t i = 0; i < platforms.size(); ++i) {
    const auto& p = platforms[i];
    for (const auto& [name, v] : {std::pair{"Architecture", &p.architecture}, std::pair{"OS", &p.os}}) {
      if (!bad(*v)) continue;
      return invalid_argument("invalid TaskTemplate.Placement.Platforms[" + std::to_string(i) + "]." + name + " " +
                              quote_input(*v) + ": give a platform name such as " +
                              (std::string(name) == "OS" ? "linux" : "amd64 or arm64") +
                              " (up to 32 letters, digits, '_', '-' or '.'), or leave it empty to match any");
    }
  }
  return ok_status();
}

bool platform_matches(const std::vector<PlacementPlatform>& platforms, const NodeDescription& node) {
  if (platforms.empty()) return true;
  const std::string arch = normalized_arch(node.architecture);
  return std::any_of(platforms.begin(), platforms.end(), [&](const PlacementPlatform& p) {
    return (p.architecture.empty() || normalized_arch(p.architecture) == arch) && (p.os.empty() || p.os == node.os);
  });
}

Status validate_constraint(const std::string& c) {
  auto r = parse_constraint(c);
  return r.ok() ? ok_status() : r.status();
}

Scheduler::Scheduler(std::vector<Node> nodes, const NodeLoad& load) : nodes_(std::move(nodes)), load_(load) {
  std::sort(nodes_.begin(), nodes_.end(), [](const Node& a, const Node& b) { return a.id < b.id; });
  slots_.resize(nodes_.size());
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const std::string& id = nodes_[i].id;
    if (auto it = load.total.find(id); it != load.total.end()) slots_[i].total = it->second;
    if (auto it = load.reserved_cpu.find(id); it != load.reserved_cpu.end()) slots_[i].cpu = it->second;
    if (auto it = load.reserved_mem.find(id); it != load.reserved_mem.end()) slots_[i].mem = it->second;
    if (auto it = load.host_ports.find(id); it != load.host_ports.end()) slots_[i].host_ports = it->second;
  }
}

std::vector<size_t>& Scheduler::service_counts(const std::string& service) {
  auto [it, fresh] = by_service_.try_emplace(service);
  if (fresh) {
    it->second.assign(nodes_.size(), 0);
    for (size_t i = 0; i < nodes_.size(); ++i) {
      auto n = load_.by_service.find(nodes_[i].id);
      if (n == load_.by_service.end()) continue;
      if (auto c = n->second.find(service); c != n->second.end()) it->second[i] = c->second;
    }
  }
  return it->second;
}

size_t Scheduler::schedule(std::vector<Task*>& tasks, SysTime now) {
  size_t placed = 0;
  for (Task* t : tasks) {
    if (t->status.state != TaskState::kPending || !t->node_id.empty() || t->desired_state > TaskState::kRunning) continue;
    std::vector<Constraint> constraints;
    bool bad_constraint = false;
    for (const auto& c : t->spec.placement.constraints) {
      auto p = parse_constraint(c);
      if (p.ok()) constraints.push_back(*p);
      else bad_constraint = true;  // the API refuses these; a stored one matches nothing
    }
    std::vector<size_t>& same = service_counts(t->service_id);
    const auto& res = t->spec.resources.reservations;
    const uint64_t max_per_node = t->spec.placement.max_replicas;
    size_t best = nodes_.size();
    int not_ready = 0, not_active = 0, constrained = 0, platform = 0, no_resources = 0, max_replicas = 0,
        port_taken = 0;
    for (size_t i = 0; i < nodes_.size(); ++i) {
      const Node& n = nodes_[i];
      const Slot& slot = slots_[i];
      if (n.state != NodeState::kReady) { ++not_ready; continue; }
      if (n.spec.availability != NodeAvailability::kActive) { ++not_active; continue; }
      bool fits = !bad_constraint;
      for (size_t k = 0; fits && k < constraints.size(); ++k) {
        fits = (node_value(n, constraints[k].key) == constraints[k].value) == constraints[k].equal;
      }
      if (!fits) { ++constrained; continue; }
      if (!platform_matches(t->spec.placement.platforms, n.description)) { ++platform; continue; }
      if ((res.nano_cpus && slot.cpu + res.nano_cpus > n.description.nano_cpus) ||
          (res.memory_bytes && slot.mem + res.memory_bytes > n.description.memory_bytes)) {
        ++no_resources;
        continue;
      }
      if (max_per_node && same[i] >= max_per_node) { ++max_replicas; continue; }
      bool port_free = true;
      for (const auto& p : t->host_ports) port_free = port_free && !slot.host_ports.count({p.protocol, p.published_port});
      if (!port_free) { ++port_taken; continue; }
      // Spread: fewest of this service, then fewest overall, then node id.
      if (best == nodes_.size() || same[i] < same[best] ||
          (same[i] == same[best] && slot.total < slots_[best].total)) {
        best = i;
      }
    }
    if (best == nodes_.size()) {
      // Swarm's explanations ("scheduling constraints not satisfied on 3 nodes").
      std::vector<std::string> why;
      auto nodes = [](int count) { return std::to_string(count) + " node" + (count > 1 ? "s" : ""); };
      if (not_ready) why.push_back(nodes(not_ready) + " not available for new tasks");
      if (not_active) why.push_back(nodes(not_active) + " not available for new tasks (paused or drained)");
      if (constrained) why.push_back("scheduling constraints not satisfied on " + nodes(constrained));
      if (platform) why.push_back("unsupported platform on " + nodes(platform));
      if (no_resources) why.push_back("insufficient resources on " + nodes(no_resources));
      if (max_replicas) why.push_back("max replicas per node limit exceed on " + nodes(max_replicas));
      if (port_taken) why.push_back("host-mode port already in use on " + nodes(port_taken));
      std::string msg = "no suitable node";
      if (nodes_.empty()) msg += " (no nodes in the swarm)";
      else {
        msg += " (";
        for (size_t i = 0; i < why.size(); ++i) msg += (i ? "; " : "") + why[i];
        msg += ")";
      }
      // In Err, as Swarm: `service ps` shows it in its ERROR column.
      if (t->status.err != msg) {
        t->status.err = msg;
        t->status.timestamp = now;
      }
      continue;
    }
    t->node_id = nodes_[best].id;
    t->status.state = TaskState::kAssigned;
    t->status.message = "scheduler assigned task to node";
    t->status.err.clear();
    t->status.timestamp = now;
    slots_[best].total++;
    slots_[best].cpu += res.nano_cpus;
    slots_[best].mem += res.memory_bytes;
    for (const auto& p : t->host_ports) slots_[best].host_ports.insert({p.protocol, p.published_port});
    same[best]++;
    ++placed;
  }
  return placed;
}

}  // namespace shoal::scheduler
