// Runtime: runs OCI containers for the agent. The agent maps each task to a
// ContainerConfig; the runtime knows nothing of tasks, services or the store.
//
// Lifecycle: create() -> start() -> (exits | stop()/kill()) -> remove().
// Containers are run by a per-container supervisor process (the shim), which
// outlives shoald: after a restart, list() returns the containers still there
// (running or exited) so the agent can adopt them, and an exit code recorded
// by the shim while shoald was down is not lost.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace shoal::runtime {

struct ContainerConfig {
  std::string id;     // 64 hex chars, unique on the node
  std::string name;   // e.g. "web.1.x9b1kq..." (Docker's task container name)
  std::string image;  // reference as given in the service spec, e.g. "busybox" or "busybox:1.0"
  // As in Docker: if command is set it replaces the image Entrypoint; if args
  // is set it replaces the image Cmd. The process is entrypoint + cmd.
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::vector<std::string> env;  // "K=V", appended to (and overriding) the image's Env
  std::string dir;               // empty: image WorkingDir, else "/"
  std::string user;              // "uid[:gid]" or "name[:group]"; empty: image User, else root
  std::string hostname;          // empty: first 12 chars of id
  std::map<std::string, std::string> labels;
  std::string stop_signal;       // empty: SIGTERM
  std::chrono::nanoseconds stop_grace{std::chrono::seconds(10)};
  bool read_only = false;
  int64_t memory_bytes = 0;      // 0 = unlimited
  int64_t nano_cpus = 0;         // 0 = unlimited
  int64_t pids_limit = 0;        // 0 = unlimited
  std::string netns_path;        // empty: a new network namespace with only loopback
  // The host-mode ports the node maps to it (the task's; recorded so that
  // `docker ps` shows them): "8081:8000/tcp", published:target/protocol.
  std::vector<std::string> ports;
  // Seccomp as Docker applies it: kDefault is Docker's default profile
  // (seccomp.h), kCustom the Docker-format profile in seccomp_profile (JSON
  // text), kUnconfined none.
  enum class Seccomp { kDefault, kUnconfined, kCustom };
  Seccomp seccomp = Seccomp::kDefault;
  std::string seccomp_profile;
  bool no_new_privileges = false;  // the process's no_new_privs bit
  // A cgroup namespace of its own. Unset: Docker 20.10's default for the
  // host, private on a cgroup v2 (unified) host, the host's on cgroup v1 or
  // hybrid (host_cgroup_unified() in oci_spec.h).
  std::optional<bool> private_cgroupns;
};

enum class ContainerStatus { kCreated, kRunning, kExited, kUnknown };

struct ContainerState {
  std::string id;
  std::string name;
  std::string image;
  std::vector<std::string> command;  // the process's argv (entrypoint and args)
  std::map<std::string, std::string> labels;
  std::vector<std::string> ports;  // ContainerConfig::ports
  ContainerStatus status = ContainerStatus::kUnknown;
  int pid = 0;           // host pid of the container's init process while running
  int exit_code = 0;     // valid when kExited; 128+signal when killed by a signal
  std::string error;     // why it failed to start, if it did
  std::chrono::system_clock::time_point created_at{};
  std::chrono::system_clock::time_point started_at{};
  std::chrono::system_clock::time_point finished_at{};
};

class Runtime {
 public:
  virtual ~Runtime() = default;
  // Resolves the image, prepares the rootfs and the OCI bundle. An unknown
  // image is kNotFound with a message saying how to make it available.
  virtual Status create(const ContainerConfig& config) = 0;
  virtual Status start(const std::string& id) = 0;
  // Cheap (reads small files); the agent polls it.
  virtual Result<ContainerState> state(const std::string& id) = 0;
  // Stop signal, then SIGKILL after `grace`; returns once the container exited.
  virtual Status stop(const std::string& id, std::chrono::nanoseconds grace) = 0;
  virtual Status kill(const std::string& id, int signal) = 0;
  // Removes a stopped container: its runtime state, mounts and bundle.
  // Keeps nothing. Killing first is the caller's job.
  virtual Status remove(const std::string& id) = 0;
  // Every container this runtime knows on the node.
  virtual Result<std::vector<ContainerState>> list() = 0;
  // Path of the container's log file (JSON lines, Docker's json-file format:
  // {"log":"...\n","stream":"stdout","time":"RFC3339Nano"}).
  virtual std::string log_path(const std::string& id) const = 0;
};

}  // namespace shoal::runtime
