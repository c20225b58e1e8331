// A lab node's processes: its shoald (started in the node's namespaces),
// the etcd member that shoald supervises, and the node's API socket.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "http/client.h"
#include "lab/lab_internal.h"
#include "os/netns.h"
#include "os/proc.h"
#include "os/process.h"

namespace shoal::lab {

Status ip(const std::vector<std::string>& args) { return ip_output(args).status(); }

Result<std::string> ip_output(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = os::run_capture(argv);
  if (!r.ok()) {
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    return Status(r.status().code(), "`" + cmd + "` failed: " + r.status().message());
  }
  return r;
}

bool netns_exists(const std::string& name) {
  struct stat st;
  return !name.empty() && stat(("/run/netns/" + name).c_str(), &st) == 0;
}

std::string log_tail(const std::string& file, size_t max_bytes) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > max_bytes ? "..." + s.substr(s.size() - max_bytes) : s;
}

Status start_shoald(const LabState& lab, NodeState& n) {
  if (mkdir(n.dir.c_str(), 0700) != 0 && errno != EEXIST) return errno_status("creating " + n.dir, errno);
  os::SpawnOptions so;
  so.argv = {lab.shoald, "--host", "unix://" + n.socket(), "--data-root", n.data_root(), "--advertise-addr", n.address,
             "--insecure-registry", registry_address(lab)};  // the lab's registry speaks plain http
  so.stdout_path = n.log_file();
  so.new_session = true;  // outlives `shoal lab up` and its terminal
  SHOAL_ASSIGN_OR_RETURN(pid_t pid, os::spawn_in_netns(n.netns_path(), n.name, so));
  auto start = os::process_start_time(pid);
  if (!start.ok()) return internal_error("shoald of " + n.name + " (pid " + std::to_string(pid) + ") exited at once; see " + n.log_file());
  n.pid = pid;
  n.pid_start = *start;
  n.paused = false;
  return ok_status();
}

bool shoald_alive(const NodeState& n) { return os::same_process_alive(n.pid, n.pid_start); }

std::vector<pid_t> etcd_children(const NodeState& n) {
  std::vector<pid_t> out;
  if (!shoald_alive(n)) return out;
  std::string etcd = os::find_in_path("etcd");
  if (etcd.empty()) return out;
  for (pid_t c : os::child_pids(n.pid)) {
    if (os::process_exe(c) == etcd) out.push_back(c);
  }
  return out;
}

std::vector<pid_t> wait_gone(const std::vector<pid_t>& pids, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::vector<pid_t> left;
    for (pid_t p : pids) {
      char s = os::process_state(p);
      if (s != 0 && s != 'Z' && s != 'X') left.push_back(p);
    }
    if (left.empty() || std::chrono::steady_clock::now() >= deadline) return left;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Result<std::string> api(const NodeState& n, const std::string& method, const std::string& path,
                        const std::string& body, int* http_status) {
  http::Client c("unix://" + n.socket());
  http::Headers h;
  if (!body.empty()) h["Content-Type"] = "application/json";
  auto r = c.request(method, "/v1.41" + path, body, h, std::chrono::seconds(60));
  if (!r.ok()) return r.status().with_context(n.name);
  if (http_status) *http_status = r->status;
  if (r->status / 100 == 2) return r->body;
  std::string msg = r->body;
  try {
    msg = nlohmann::json::parse(r->body).value("message", r->body);
  } catch (...) {
  }
  Code code = r->status == 404 ? Code::kNotFound : Code::kFailedPrecondition;
  return Status(code, n.name + ": " + method + " " + path + " answered " + std::to_string(r->status) + ": " + msg);
}

Status wait_answering(const std::vector<NodeState*>& nodes, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<NodeState*> left = nodes;
  while (!left.empty()) {
    std::vector<NodeState*> next;
    for (NodeState* n : left) {
      if (!shoald_alive(*n)) {
        return internal_error("shoald of " + n->name + " exited; the end of " + n->log_file() + ":\n" +
                              log_tail(n->log_file()));
      }
      http::Client c("unix://" + n->socket());
      auto r = c.request("GET", "/_ping", "", {}, std::chrono::seconds(2));
      if (!r.ok() || r->status != 200) next.push_back(n);
    }
    left.swap(next);
    if (left.empty()) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      return deadline_exceeded("shoald of " + left[0]->name + " did not answer on " + left[0]->socket() +
                               " in time; see " + left[0]->log_file());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ok_status();
}

}  // namespace shoal::lab
