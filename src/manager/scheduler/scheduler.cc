#include "manager/scheduler/scheduler.h"

#include <algorithm>
#include <tuple>

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
                            "\": use node.id, node.hostname, node.role, node.platform.os, node.platform.arch or "
                            "node.labels.<name>");
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
  if (key.rfind("node.labels.", 0) == 0) {
    auto it = n.spec.labels.find(key.substr(12));
    return it == n.spec.labels.end() ? "" : it->second;
  }
  return "";
}

}  // namespace

Status validate_constraint(const std::string& c) {
  auto r = parse_constraint(c);
  return r.ok() ? ok_status() : r.status();
}

Scheduler::Scheduler(std::vector<Node> nodes, NodeLoad load) : nodes_(std::move(nodes)), load_(std::move(load)) {
  std::sort(nodes_.begin(), nodes_.end(), [](const Node& a, const Node& b) { return a.id < b.id; });
}

bool Scheduler::constraints_hold(const Task& t, const Node& n) const {
  for (const auto& c : t.spec.placement.constraints) {
    auto p = parse_constraint(c);
    if (!p.ok()) return false;
    bool match = node_value(n, p->key) == p->value;
    if (match != p->equal) return false;
  }
  return true;
}

size_t Scheduler::schedule(std::vector<Task*>& tasks, SysTime now) {
  size_t placed = 0;
  for (Task* t : tasks) {
    if (t->status.state != TaskState::kPending || !t->node_id.empty() || t->desired_state > TaskState::kRunning) continue;
    const Node* best = nullptr;
    std::tuple<size_t, size_t, std::string> best_key;
    int not_ready = 0, not_active = 0, constrained = 0, no_resources = 0, max_replicas = 0;
    const auto& res = t->spec.resources.reservations;
    for (const Node& n : nodes_) {
      if (n.state != NodeState::kReady) { ++not_ready; continue; }
      if (n.spec.availability != NodeAvailability::kActive) { ++not_active; continue; }
      if (!constraints_hold(*t, n)) { ++constrained; continue; }
      if ((res.nano_cpus && load_.reserved_cpu[n.id] + res.nano_cpus > n.description.nano_cpus) ||
          (res.memory_bytes && load_.reserved_mem[n.id] + res.memory_bytes > n.description.memory_bytes)) {
        ++no_resources;
        continue;
      }
      size_t same = load_.by_service[n.id][t->service_id];
      if (t->spec.placement.max_replicas && same >= t->spec.placement.max_replicas) { ++max_replicas; continue; }
      auto key = std::make_tuple(same, load_.total[n.id], n.id);
      if (!best || key < best_key) {
        best = &n;
        best_key = key;
      }
    }
    if (!best) {
      std::vector<std::string> why;
      auto add = [&](int count, const std::string& what) {
        if (count) why.push_back(std::to_string(count) + " node" + (count > 1 ? "s" : "") + " " + what);
      };
      add(not_ready, "not available for new tasks");
      add(not_active, "not available for new tasks (paused or drained)");
      add(constrained, "did not satisfy the placement constraints");
      add(no_resources, "had insufficient resources");
      add(max_replicas, "already run the maximum replicas per node");
      std::string msg = "no suitable node";
      if (nodes_.empty()) msg += " (no nodes in the swarm)";
      else {
        msg += " (";
        for (size_t i = 0; i < why.size(); ++i) msg += (i ? "; " : "") + why[i];
        msg += ")";
      }
      if (t->status.message != msg) {
        t->status.message = msg;
        t->status.timestamp = now;
      }
      continue;
    }
    t->node_id = best->id;
    t->status.state = TaskState::kAssigned;
    t->status.message = "scheduler assigned task to node";
    t->status.timestamp = now;
    load_.total[best->id]++;
    load_.by_service[best->id][t->service_id]++;
    load_.reserved_cpu[best->id] += res.nano_cpus;
    load_.reserved_mem[best->id] += res.memory_bytes;
    ++placed;
  }
  return placed;
}

}  // namespace shoal::scheduler
