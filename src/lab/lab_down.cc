// `shoal lab down`: removes what lab.json records, in an order that works
// whatever state a crash left: processes first (so nothing restarts a
// container or holds a mount), then containers, mounts, namespaces, files.
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <ostream>

#include "lab/lab.h"
#include "lab/lab_internal.h"
#include "os/proc.h"
#include "os/process.h"

namespace shoal::lab {

namespace fs = std::filesystem;

namespace {

// The node's containers, by the OCI runtime's state dir under its data
// root (each container is a directory named by its id there).
void delete_containers(const NodeState& n) {
  std::string root = n.data_root() + "/runc";
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return;
  std::vector<std::string> runtimes;
  for (const char* rt : {"runc", "crun"}) {
    if (!os::find_in_path(rt).empty()) runtimes.push_back(rt);
  }
  for (const auto& e : fs::directory_iterator(root, ec)) {
    if (!e.is_directory()) continue;
    for (const auto& rt : runtimes) {
      (void)os::run_capture({rt, "--root", root, "delete", "--force", e.path().filename().string()});
    }
  }
}

// SIGKILL to every process in the namespace (shoald's shims, commands left
// by `lab exec`): they are all the lab's, as the namespace is.
std::vector<pid_t> kill_netns_processes(const std::string& netns) {
  std::vector<pid_t> killed;
  if (!netns_exists(netns)) return killed;
  auto ino = os::ns_inode("/run/netns/" + netns);
  if (!ino.ok()) return killed;
  for (pid_t p : os::pids_in_netns(*ino)) {
    if (p == getpid()) continue;
    if (::kill(p, SIGKILL) == 0) killed.push_back(p);
  }
  return killed;
}

// Every process of the node, gone; a pid is signalled only while it is the
// recorded process (same start time) or a child found under it.
void stop_node_processes(const NodeState& n, std::vector<pid_t>* victims) {
  if (shoald_alive(n)) {
    for (pid_t e : etcd_children(n)) {
      ::kill(e, SIGKILL);
      victims->push_back(e);
    }
    ::kill(n.pid, SIGKILL);
    victims->push_back(n.pid);
  }
}

}  // namespace

Status down(const std::string& dir_in, std::ostream& out) {
  std::string dir = normal_dir(dir_in);
  auto lock = DirLock::acquire(dir);
  if (!lock.ok() && lock.status().code() == Code::kNotFound) {
    out << "no lab at " << dir << ": nothing to remove\n";
    return ok_status();
  }
  if (!lock.ok()) return lock.status();
  auto loaded = load_lab(dir);
  if (!loaded.ok() && loaded.status().code() == Code::kNotFound) {
    out << "no lab at " << dir << ": nothing to remove\n";
    return ok_status();
  }
  if (!loaded.ok()) return loaded.status();
  if (geteuid() != 0) return Status(Code::kPermissionDenied, "shoal lab needs root (it removes network namespaces)");
  LabState& s = *loaded;
  std::vector<pid_t> victims;
  for (const auto& n : s.nodes) stop_node_processes(n, &victims);
  (void)wait_gone(victims, std::chrono::seconds(5));
  for (const auto& n : s.nodes) delete_containers(n);
  victims.clear();
  for (const auto& n : s.nodes) {
    auto k = kill_netns_processes(n.netns);
    victims.insert(victims.end(), k.begin(), k.end());
  }
  auto k = kill_netns_processes(s.bridge_netns);
  victims.insert(victims.end(), k.begin(), k.end());
  auto left = wait_gone(victims, std::chrono::seconds(5));
  std::vector<std::string> problems;
  for (pid_t p : left) problems.push_back("process " + std::to_string(p) + " did not exit after SIGKILL");
  for (const auto& m : os::mounts_under(dir)) {
    if (umount2(m.c_str(), MNT_DETACH) != 0) problems.push_back("unmounting " + m + ": " + std::strerror(errno));
  }
  for (const auto& n : s.nodes) {
    if (netns_exists(n.netns)) {
      if (Status st = ip({"netns", "del", n.netns}); !st.ok()) problems.push_back(st.message());
    }
  }
  if (netns_exists(s.bridge_netns)) {
    if (Status st = ip({"netns", "del", s.bridge_netns}); !st.ok()) problems.push_back(st.message());
  }
  if (!os::mounts_under(dir).empty()) {
    problems.push_back("mounts remain under " + dir + ": its files are kept (removing them would reach into the mounts)");
  } else {
    std::error_code ec;
    for (const auto& n : s.nodes) {
      fs::remove_all(n.dir, ec);
      if (ec) problems.push_back("removing " + n.dir + ": " + ec.message());
    }
    fs::remove_all(registry_dir(dir), ec);  // the lab registry's storage (lab_registry.cc)
    if (ec) problems.push_back("removing " + registry_dir(dir) + ": " + ec.message());
    // lab.json goes last: while anything is left, `down` can run again.
    if (problems.empty()) fs::remove(state_file(dir), ec);
    if (problems.empty() && s.created_dir && !fs::remove(dir, ec)) problems.push_back("removing " + dir + ": " + (ec ? ec.message() : "not empty"));
  }
  if (!problems.empty()) {
    std::string msg = "the lab at " + dir + " is only partly removed:";
    for (const auto& p : problems) msg += "\n  " + p;
    return internal_error(msg + "\nfix what is named and run `shoal lab down` again");
  }
  out << "lab " << dir << " removed: " << s.nodes.size() << " nodes, their processes, namespaces and files\n";
  return ok_status();
}

}  // namespace shoal::lab
