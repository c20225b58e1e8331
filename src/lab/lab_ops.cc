// `shoal lab ls|env|exec` and the fault commands.
#include <signal.h>
#include <unistd.h>

#include <ostream>

#include "lab/lab.h"
#include "lab/lab_internal.h"
#include "os/netns.h"
#include "os/proc.h"

namespace shoal::lab {

namespace {

struct Loaded {
  LabState lab;
  NodeState* node = nullptr;
};

Result<Loaded> load_node(const std::string& dir, const std::string& name) {
  SHOAL_ASSIGN_OR_RETURN(LabState s, load_lab(normal_dir(dir)));
  Loaded l{std::move(s), nullptr};
  l.node = l.lab.find(name);
  if (!l.node) {
    std::string names;
    for (const auto& n : l.lab.nodes) names += (names.empty() ? "" : ", ") + n.name;
    return not_found("no node " + name + " in the lab at " + l.lab.dir + " (its nodes: " + names + ")");
  }
  return l;
}

std::string state_text(const NodeState& n) {
  std::string s = !shoald_alive(n) ? "stopped" : n.paused ? "paused" : "running";
  if (n.partitioned) s += ",partitioned";
  return s;
}

Status not_running(const NodeState& n) {
  return failed_precondition("the shoald of " + n.name + " is not running: `shoal lab start " + n.name + "` starts it");
}

// shoald and the etcd it supervises.
std::vector<pid_t> node_pids(const NodeState& n) {
  std::vector<pid_t> p = etcd_children(n);
  p.push_back(n.pid);
  return p;
}

std::string pid_list(const std::vector<pid_t>& pids) {
  std::string s;
  for (pid_t p : pids) s += (s.empty() ? "" : " ") + std::to_string(p);
  return s;
}

Status signal_all(const std::vector<pid_t>& pids, int sig) {
  for (pid_t p : pids) {
    if (::kill(p, sig) != 0 && errno != ESRCH) return errno_status("signalling " + std::to_string(p), errno);
  }
  return ok_status();
}

Status do_kill(NodeState& n, std::ostream& out) {
  if (!shoald_alive(n)) return not_running(n);
  auto pids = node_pids(n);
  SHOAL_RETURN_IF_ERROR(signal_all(pids, SIGKILL));
  if (!wait_gone(pids, std::chrono::seconds(5)).empty()) return internal_error("pids " + pid_list(pids) + " survived SIGKILL");
  n.paused = false;
  out << "killed " << n.name << " (SIGKILL to shoald and etcd: " << pid_list(pids) << ")\n";
  return ok_status();
}

Status do_stop(NodeState& n, std::ostream& out) {
  if (!shoald_alive(n)) return not_running(n);
  auto pids = node_pids(n);
  SHOAL_RETURN_IF_ERROR(signal_all(pids, SIGCONT));  // a paused shoald cannot stop
  n.paused = false;
  SHOAL_RETURN_IF_ERROR(signal_all({n.pid}, SIGTERM));
  if (!wait_gone(pids, std::chrono::seconds(30)).empty()) {
    return deadline_exceeded("the shoald of " + n.name + " did not stop within 30 s of SIGTERM; `shoal lab kill " +
                             n.name + "` kills it");
  }
  out << "stopped " << n.name << "\n";
  return ok_status();
}

Status do_start(const LabState& lab, NodeState& n, std::ostream& out) {
  if (shoald_alive(n)) return failed_precondition("the shoald of " + n.name + " already runs (pid " + std::to_string(n.pid) + ")");
  SHOAL_RETURN_IF_ERROR(start_shoald(lab, n));
  SHOAL_RETURN_IF_ERROR(wait_answering({&n}, std::chrono::seconds(30)));
  out << "started " << n.name << " (shoald pid " << n.pid << ")\n";
  return ok_status();
}

Status do_pause(NodeState& n, bool pause, std::ostream& out) {
  if (!shoald_alive(n)) return not_running(n);
  auto pids = node_pids(n);
  SHOAL_RETURN_IF_ERROR(signal_all(pids, pause ? SIGSTOP : SIGCONT));
  n.paused = pause;
  out << (pause ? "paused " : "resumed ") << n.name << " (" << (pause ? "SIGSTOP" : "SIGCONT") << " to shoald and etcd: "
      << pid_list(pids) << ")\n";
  return ok_status();
}

Status do_partition(const LabState& lab, NodeState& n, bool cut, std::ostream& out) {
  SHOAL_RETURN_IF_ERROR(ip({"-n", lab.bridge_netns, "link", "set", n.veth, cut ? "down" : "up"}));
  n.partitioned = cut;
  out << (cut ? "partitioned " : "healed ") << n.name << " (its link to the lab bridge is " << (cut ? "down" : "up")
      << ")\n";
  return ok_status();
}

}  // namespace

Status list(const std::string& dir, std::ostream& out) {
  SHOAL_ASSIGN_OR_RETURN(LabState s, load_lab(normal_dir(dir)));
  std::vector<std::vector<std::string>> rows = {{"NODE", "ROLE", "ADDRESS", "PID", "SOCKET", "STATE", "SWARM"}};
  for (const auto& n : s.nodes) {
    rows.push_back({n.name, role_name(n.role), n.address, n.pid ? std::to_string(n.pid) : "-", n.socket(), state_text(n),
                    n.swarm.empty() ? "-" : n.swarm});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 3, ' ');
    }
    out << line << "\n";
  }
  return ok_status();
}

Status env(const std::string& dir, const std::string& node, std::ostream& out) {
  SHOAL_ASSIGN_OR_RETURN(Loaded l, load_node(dir, node));
  out << "export DOCKER_HOST=unix://" << l.node->socket() << "\n";
  out << "export SHOAL_HOST=unix://" << l.node->socket() << "\n";
  out << "# Run this command to configure your shell: eval $(shoal lab env " << node << ")\n";
  return ok_status();
}

Result<int> exec(const std::string& dir, const std::string& node, const std::vector<std::string>& argv) {
  if (argv.empty()) return invalid_argument("shoal lab exec needs a command: shoal lab exec NODE -- CMD [ARG...]");
  SHOAL_ASSIGN_OR_RETURN(Loaded l, load_node(dir, node));
  if (!netns_exists(l.node->netns)) {
    return not_found("the network namespace " + l.node->netns + " of " + node + " is gone: `shoal lab down`, then up");
  }
  return os::run_in_netns(l.node->netns_path(), argv);
}

Status fault(const std::string& dir, const std::string& node, Fault f, std::ostream& out) {
  if (geteuid() != 0) return Status(Code::kPermissionDenied, "shoal lab needs root (it signals the lab's processes)");
  SHOAL_ASSIGN_OR_RETURN(DirLock lock, DirLock::acquire(normal_dir(dir)));
  SHOAL_ASSIGN_OR_RETURN(Loaded l, load_node(dir, node));
  NodeState& n = *l.node;
  Status st;
  switch (f) {
    case Fault::kKill: st = do_kill(n, out); break;
    case Fault::kStop: st = do_stop(n, out); break;
    case Fault::kStart: st = do_start(l.lab, n, out); break;
    case Fault::kPause: st = do_pause(n, true, out); break;
    case Fault::kResume: st = do_pause(n, false, out); break;
    case Fault::kPartition: st = do_partition(l.lab, n, true, out); break;
    case Fault::kHeal: st = do_partition(l.lab, n, false, out); break;
  }
  Status saved = save_lab(l.lab);
  if (!st.ok()) return st;
  return saved;
}

}  // namespace shoal::lab
