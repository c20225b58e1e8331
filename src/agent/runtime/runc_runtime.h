// RuncRuntime: Runtime over an OCI runtime binary (runc, or crun where the
// host's cgroups are pure v2), one container dir per container under
// <root>/containers/<id>/:
//   config.json      ours: id, name, image, labels, created, command
//   bundle/          OCI bundle: config.json, rootfs/ (overlayfs over the
//                    image layers, with upper/ and work/ beside bundle/)
//   hostname hosts resolv.conf   bind-mounted read-only into the container
//   stopsignal       the signal stop() sends first
//   shim.pid started container.pid exit.json container.log runtime.log shim.log
// Each container runs under a shim (shim.h) that outlives shoald, so a new
// RuncRuntime over the same root sees the containers of the previous one.
// Crash recovery (at construction): a container dir without config.json
// (written last by create()) is half-created: its rootfs is unmounted and
// the dir removed; temp files of interrupted atomic writes are removed. A
// shim started just before a crash has written its own shim.pid, so its
// container is adopted, not started twice; start() holds start.lock (flock)
// across spawn and pid file, and a start that finds shim.spawned without
// shim.pid waits for the live shim to record itself instead of spawning
// another. Every bundle file is fsynced before config.json.
// The OCI runtime keeps its state under <root>/runc (--root), so nodes with
// different data roots never see each other's containers. Needs root.
#pragma once

#include <mutex>
#include <string>

#include "agent/runtime/exec_helper.h"
#include "agent/runtime/image_store.h"
#include "agent/runtime/runtime.h"

namespace shoal::runtime {

struct RuncRuntimeOptions {
  std::string root = "/var/lib/shoal";
  std::string oci_runtime;  // empty: detect_oci_runtime()
  std::string self_exe;     // binary that implements `__shim`; empty: /proc/self/exe
  std::string state_root;   // the OCI runtime's --root; empty: <root>/runc
};

// "crun" on pure cgroup v2 hosts where it is installed, else "runc".
std::string detect_oci_runtime();

class RuncRuntime : public Runtime {
 public:
  // `images` must outlive the runtime. Creates <root>/containers if needed.
  RuncRuntime(RuncRuntimeOptions options, ImageStore& images);
  Status create(const ContainerConfig& config) override;
  Status start(const std::string& id) override;
  Result<ContainerState> state(const std::string& id) override;
  Status stop(const std::string& id, std::chrono::nanoseconds grace) override;
  Status kill(const std::string& id, int signal) override;
  Status remove(const std::string& id) override;
  Result<std::vector<ContainerState>> list() override;
  std::string log_path(const std::string& id) const override;
  const std::string& oci_runtime() const { return options_.oci_runtime; }
  // Starts `spec.cmd` in the running container `id` (exec_helper.h): its
  // user ("name[:group]" or "uid[:gid]", "" the container's) resolved in
  // the container's own /etc/passwd and /etc/group as Docker does. Not
  // running: kConflict. Thread-safe.
  Result<ExecChild> exec(const std::string& id, ExecSpec spec);

 private:
  std::string dir(const std::string& id) const;
  // Crash recovery (see above); called by the constructor only.
  void recover();
  // The container's one shim: the recorded one (shim.pid), an adopted one an
  // interrupted start left running, or a new one. Serialised per container
  // by a lock file; thread-safe.
  Result<pid_t> start_shim_once(const std::string& id);
  // Polls state() until the container is no longer running; false on timeout.
  bool wait_exit(const std::string& id, std::chrono::nanoseconds timeout);
  // The OCI runtime's view ("created", "running", "stopped"), or "".
  RuncRuntimeOptions options_;
  ImageStore& images_;
};

}  // namespace shoal::runtime
