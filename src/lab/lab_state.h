// What a lab is made of, as recorded in DIR/lab.json: enough for `lab down`
// to remove everything after any crash (of `lab up`, of a shoald, of the
// host's shell), and for the fault commands to find each node's processes
// and links. Plain data plus JSON; not thread-safe (one CLI process at a time
// owns a lab dir).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace shoal::lab {

enum class Role { kManager, kWorker };
std::string role_name(Role r);

// One node: a network namespace with one veth into the lab bridge and its
// own shoald (pid and start time identify that process, so a reused pid is
// never signalled).
struct NodeState {
  std::string name;     // m1..mM, w1..wW
  Role role = Role::kWorker;
  std::string address;  // IPv4 on the lab bridge, no prefix
  std::string netns;    // name under /run/netns
  std::string veth;     // the bridge-side end, in the bridge namespace
  std::string dir;      // DIR/NAME: data, socket, logs
  pid_t pid = 0;        // shoald (0: not started)
  uint64_t pid_start = 0;
  bool paused = false;
  bool partitioned = false;
  std::string swarm;    // "init" (ran swarm init), "joined", "not joined", "" before init

  std::string socket() const { return dir + "/shoald.sock"; }
  std::string data_root() const { return dir + "/data"; }
  std::string log_file() const { return dir + "/shoald.log"; }
  std::string netns_path() const { return "/run/netns/" + netns; }
};

struct LabState {
  std::string dir;
  std::string id;            // short hash of dir: prefixes the namespace names
  std::string subnet;        // a.b.c.0/24
  std::string bridge_netns;  // holds the bridge "br0" at a.b.c.1
  std::string shoald;        // the shoald binary the nodes run
  bool created_dir = false;  // `down` removes dir itself only if `up` made it
  std::vector<NodeState> nodes;

  NodeState* find(const std::string& name);
};

// Node names and addresses of a lab of `managers` + `workers` in `subnet`
// (a /24: managers at .11.., workers at .101..): m1..mM, w1..wW. Refuses
// counts that do not fit (managers 1-89, workers 0-150).
Result<std::vector<NodeState>> plan_nodes(const std::string& dir, const std::string& id, const std::string& subnet,
                                          int managers, int workers);
// A short, stable id for a lab dir (6 hex digits of a hash of its path).
std::string lab_id(const std::string& dir);

// An exclusive flock(2) on the lab dir, held by a command from reading
// lab.json to writing it back, so lab commands run concurrently (faults
// from a chaos test) never lose each other's updates. Move-only; released
// when destroyed.
class DirLock {
 public:
  static Result<DirLock> acquire(const std::string& dir);
  DirLock(DirLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  DirLock& operator=(DirLock&&) = delete;
  ~DirLock();

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  int fd_;
};

std::string to_json(const LabState& s);
Result<LabState> lab_from_json(const std::string& text);
std::string state_file(const std::string& dir);  // DIR/lab.json
// Reads DIR/lab.json: kNotFound when there is none.
Result<LabState> load_lab(const std::string& dir);
Status save_lab(const LabState& s);

}  // namespace shoal::lab
