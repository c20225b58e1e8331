#include "lab/lab_state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "lab/lab_internal.h"
#include "lab/subnet.h"

namespace shoal::lab {

using nlohmann::json;

std::string role_name(Role r) { return r == Role::kManager ? "manager" : "worker"; }

NodeState* LabState::find(const std::string& name) {
  for (auto& n : nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

std::string lab_id(const std::string& dir) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (unsigned char c : dir) h = (h ^ c) * 16777619u;
  char buf[8];
  snprintf(buf, sizeof buf, "%06x", h & 0xffffff);
  return buf;
}

Result<std::vector<NodeState>> plan_nodes(const std::string& dir, const std::string& id, const std::string& subnet,
                                          int managers, int workers) {
  if (managers < 1 || managers > 89) {
    return invalid_argument("--managers " + std::to_string(managers) + " is out of range: a lab has 1 to 89 managers");
  }
  if (workers < 0 || workers > 150) {
    return invalid_argument("--workers " + std::to_string(workers) + " is out of range: a lab has 0 to 150 workers");
  }
  SHOAL_ASSIGN_OR_RETURN(Prefix net, parse_prefix(subnet));
  std::vector<NodeState> out;
  auto add = [&](Role role, int i) {
    NodeState n;
    n.role = role;
    n.name = (role == Role::kManager ? "m" : "w") + std::to_string(i);
    n.address = format_addr(net.addr + static_cast<uint32_t>(role == Role::kManager ? 10 + i : 100 + i));
    n.netns = "shoal-" + id + "-" + n.name;
    n.veth = "v-" + n.name;
    n.dir = dir + "/" + n.name;
    out.push_back(n);
  };
  for (int i = 1; i <= managers; ++i) add(Role::kManager, i);
  for (int i = 1; i <= workers; ++i) add(Role::kWorker, i);
  return out;
}

std::string to_json(const LabState& s) {
  json nodes = json::array();
  for (const auto& n : s.nodes) {
    nodes.push_back({{"name", n.name},
                     {"role", role_name(n.role)},
                     {"address", n.address},
                     {"netns", n.netns},
                     {"veth", n.veth},
                     {"dir", n.dir},
                     {"socket", n.socket()},  // for readers; derived from dir when read
                     {"pid", n.pid},
                     {"pid_start", n.pid_start},
                     {"paused", n.paused},
                     {"partitioned", n.partitioned},
                     {"swarm", n.swarm}});
  }
  json j = {{"version", 1},        {"dir", s.dir},         {"id", s.id},
            {"subnet", s.subnet},  {"bridge_netns", s.bridge_netns},
            {"shoald", s.shoald},  {"created_dir", s.created_dir}, {"nodes", nodes}};
  return j.dump(2) + "\n";
}

Result<LabState> lab_from_json(const std::string& text) {
  LabState s;
  try {
    json j = json::parse(text);
    if (j.value("version", 0) != 1) return invalid_argument("unknown lab.json version (this shoal knows version 1)");
    s.dir = j.at("dir").get<std::string>();
    s.id = j.at("id").get<std::string>();
    s.subnet = j.at("subnet").get<std::string>();
    s.bridge_netns = j.at("bridge_netns").get<std::string>();
    s.shoald = j.at("shoald").get<std::string>();
    s.created_dir = j.at("created_dir").get<bool>();
    for (const auto& n : j.at("nodes")) {
      NodeState ns;
      ns.name = n.at("name").get<std::string>();
      ns.role = n.at("role").get<std::string>() == "manager" ? Role::kManager : Role::kWorker;
      ns.address = n.at("address").get<std::string>();
      ns.netns = n.at("netns").get<std::string>();
      ns.veth = n.at("veth").get<std::string>();
      ns.dir = n.at("dir").get<std::string>();
      ns.pid = n.at("pid").get<pid_t>();
      ns.pid_start = n.at("pid_start").get<uint64_t>();
      ns.paused = n.value("paused", false);
      ns.partitioned = n.value("partitioned", false);
      ns.swarm = n.value("swarm", "");
      s.nodes.push_back(ns);
    }
  } catch (const std::exception& e) {
    return invalid_argument(std::string("lab.json is not a lab state file: ") + e.what());
  }
  return s;
}

Result<DirLock> DirLock::acquire(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return not_found("no lab at " + dir + " (the directory does not exist)");
    return errno_status("opening the lab dir " + dir, errno);
  }
  int r;
  do r = flock(fd, LOCK_EX);
  while (r != 0 && errno == EINTR);
  if (r != 0) {
    int e = errno;
    ::close(fd);
    return errno_status("locking the lab dir " + dir, e);
  }
  return DirLock(fd);
}

DirLock::~DirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

std::string state_file(const std::string& dir) { return dir + "/lab.json"; }

Result<LabState> load_lab(const std::string& dir) {
  std::ifstream in(state_file(dir));
  if (!in) {
    if (errno == ENOENT) {
      return not_found("no lab at " + dir + " (no " + state_file(dir) +
                       "): start one with `shoal lab up`, or name another with --dir or $SHOAL_LAB_DIR");
    }
    return errno_status("reading " + state_file(dir), errno);
  }
  // lab.json tells root what to kill, unmount and delete (down, exec, ...):
  // it is believed only in a dir no other user can change, as `up` requires,
  // and only for the lab's own node dirs and namespaces.
  SHOAL_RETURN_IF_ERROR(check_lab_dir_trusted(dir));
  std::stringstream ss;
  ss << in.rdbuf();
  auto s = lab_from_json(ss.str());
  if (!s.ok()) return s.status().with_context(state_file(dir));
  auto own_name = [](const std::string& n) { return !n.empty() && n != "." && n != ".." && n.find('/') == std::string::npos; };
  bool own = s->bridge_netns.rfind("shoal-", 0) == 0 && own_name(s->bridge_netns);
  for (const auto& n : s->nodes) {
    own = own && own_name(n.name) && n.dir == dir + "/" + n.name && n.netns.rfind("shoal-", 0) == 0 && own_name(n.netns);
  }
  if (!own) {
    return failed_precondition(state_file(dir) + " names node dirs outside " + dir +
                               " or namespaces that are not a lab's: it is not used");
  }
  return s;
}

Status save_lab(const LabState& s) { return write_file_atomic(state_file(s.dir), to_json(s), 0600); }

}  // namespace shoal::lab
