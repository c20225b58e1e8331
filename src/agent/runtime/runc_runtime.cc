#include "agent/runtime/runc_runtime.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent/runtime/layer.h"
#include "common/files.h"
#include "common/ids.h"
#include "agent/runtime/oci_spec.h"
#include "agent/runtime/shim.h"
#include "common/log.h"
#include "common/time.h"
#include "os/process.h"
#include "os/safe_path.h"

namespace shoal::runtime {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::steady_clock;

namespace {

constexpr long kCgroup2SuperMagic = 0x63677270;

std::string read_small(const std::string& path) {
  auto r = read_whole_file(path);
  return r.ok() ? *r : "";
}

bool has_binary(const std::string& name) {
  for (const char* d : {"/usr/bin/", "/usr/sbin/", "/usr/local/bin/", "/usr/local/sbin/", "/bin/", "/sbin/"}) {
    if (access((std::string(d) + name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::chrono::system_clock::time_point parse_time(const std::string& s) {
  auto r = parse_rfc3339(s);
  return r.ok() ? *r : std::chrono::system_clock::time_point{};
}

// True if `pid` is alive and is the shim of container `id` (not a recycled pid).
bool shim_alive(pid_t pid, const std::string& id) {
  if (pid <= 0 || !os::process_alive(pid)) return false;
  std::string cmdline = read_small("/proc/" + std::to_string(pid) + "/cmdline");
  return cmdline.find("__shim") != std::string::npos && cmdline.find(id) != std::string::npos;
}

// Whether the container's process `pid` has become the user's program: the
// runtime's init names itself "runc:[2:INIT]" (runc) or keeps "crun" until
// it execs the program. Reading /proc is what makes start() cheap: asking
// `runc state` spawns a Go program per poll, tens of ms of CPU per container.
bool user_process_runs(pid_t pid) {
  if (pid <= 0) return false;
  std::string comm = read_small("/proc/" + std::to_string(pid) + "/comm");
  while (!comm.empty() && (comm.back() == '\n' || comm.back() == ' ')) comm.pop_back();
  if (comm.empty()) return false;  // gone
  return comm.rfind("runc:[", 0) != 0 && comm != "crun";
}

bool valid_id(const std::string& id) {
  return !id.empty() && id.size() <= 128 && id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_.-") == std::string::npos &&
         id[0] != '.';
}

// The live shims under /proc, by container id (a shim's argv: exe,
// "__shim", dir, runtime, state root, id, fd). Reads every process's
// cmdline: for recovery and the rare start after an interrupted spawn only.
std::map<std::string, std::vector<pid_t>> running_shims() {
  std::map<std::string, std::vector<pid_t>> out;
  std::error_code ec;
  for (const auto& p : fs::directory_iterator("/proc", ec)) {
    const std::string pid = p.path().filename().string();
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmd = read_small("/proc/" + pid + "/cmdline");
    std::vector<std::string> args;
    for (size_t at = 0; at < cmd.size() && args.size() < 6;) {
      size_t end = cmd.find('\0', at);
      if (end == std::string::npos) end = cmd.size();
      args.push_back(cmd.substr(at, end - at));
      at = end + 1;
    }
    if (args.size() == 6 && args[1] == "__shim") out[args[5]].push_back(std::atoi(pid.c_str()));
  }
  return out;
}

// Writes `path` as write_file() does, then fsyncs it: for the bundle files
// that config.json, published after them, must never point at empty.
Status write_file_synced(const std::string& path, const std::string& data, mode_t mode = 0600) {
  SHOAL_RETURN_IF_ERROR(write_file(path, data, mode));
  os::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid() || fsync(fd.get()) != 0) return errno_status("syncing " + path, errno);
  return ok_status();
}

Status unmount_if_mounted(const std::string& path) {
  if (umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
    return errno_status("unmounting " + path, errno);
  }
  return ok_status();
}

}  // namespace

std::string detect_oci_runtime() {
  struct statfs sf {};
  bool pure_v2 = statfs("/sys/fs/cgroup", &sf) == 0 && static_cast<long>(sf.f_type) == kCgroup2SuperMagic;
  if (pure_v2 && has_binary("crun")) return "crun";
  return "runc";
}

RuncRuntime::RuncRuntime(RuncRuntimeOptions options, ImageStore& images)
    : options_(std::move(options)), images_(images) {
  if (options_.oci_runtime.empty()) options_.oci_runtime = detect_oci_runtime();
  if (options_.state_root.empty()) options_.state_root = options_.root + "/runc";
  if (options_.self_exe.empty()) {
    std::error_code ec;
    options_.self_exe = fs::read_symlink("/proc/self/exe", ec).string();
  }
  std::error_code ec;
  fs::create_directories(options_.root + "/containers", ec);
  fs::create_directories(options_.state_root, ec);
  if (ec) LOG_ERROR("runtime", "creating " << options_.state_root << ": " << ec.message());
  recover();
}

void RuncRuntime::recover() {
  std::error_code ec;
  // Containers whose shim runs: it may be in the middle of an atomic write
  // (its own shim.pid right after a spawn, exit.json), so their temp files
  // are left alone. Shim argv: exe, "__shim", dir, runtime, state root, id, fd.
  const auto shimmed = running_shims();
  for (const auto& e : fs::directory_iterator(options_.root + "/containers", ec)) {
    const std::string d = e.path().string(), id = e.path().filename().string();
    if (!e.is_directory() || !valid_id(id)) continue;
    // Temp files of atomic writes a crash interrupted.
    std::error_code ec2;
    for (const auto& f : shimmed.count(id) ? fs::directory_iterator() : fs::directory_iterator(d, ec2)) {
      if (f.path().filename().string().find(".tmp-") != std::string::npos) fs::remove(f.path(), ec2);
    }
    if (fs::exists(d + "/config.json")) continue;
    // config.json is written last: without it the container was never
    // complete (shoald died in create()), and nothing was started in it.
    LOG_WARN("runtime", "removing the half-created container " << id.substr(0, 12) << " left by a crash");
    Status st = unmount_if_mounted(d + "/bundle/rootfs");
    if (!st.ok()) {
      LOG_ERROR("runtime", st.message());
      continue;
    }
    fs::remove_all(d, ec2);
    if (ec2) LOG_ERROR("runtime", "removing " << d << ": " << ec2.message());
  }
}

std::string RuncRuntime::dir(const std::string& id) const { return options_.root + "/containers/" + id; }
std::string RuncRuntime::log_path(const std::string& id) const { return dir(id) + "/container.log"; }

Status RuncRuntime::create(const ContainerConfig& c) {
  if (!valid_id(c.id)) {
    return invalid_argument("invalid container id \"" + c.id + "\": use lowercase letters, digits, '_', '.', '-'");
  }
  SHOAL_ASSIGN_OR_RETURN(ResolvedImage image, images_.resolve(c.image));
  const std::string d = dir(c.id);
  std::error_code ec;
  if (fs::exists(d)) return already_exists("container " + c.id + " already exists: remove it first");
  for (const char* sub : {"/bundle/rootfs", "/upper", "/work"}) fs::create_directories(d + sub, ec);
  // The upper dir is the container's "/": 0755 as in Docker, not shoald's
  // umask (the container dir above it stays private to root).
  fs::permissions(d + "/upper", fs::perms(0755), ec);
  if (ec) return internal_error("creating " + d + ": " + ec.message());
  const std::string rootfs = d + "/bundle/rootfs";
  auto fail = [&](const Status& st) {
    (void)unmount_if_mounted(rootfs);
    fs::remove_all(d, ec);
    return st.with_context("creating container " + c.id.substr(0, 12));
  };
  // overlayfs wants the top layer first in lowerdir.
  std::string lower;
  for (auto it = image.layer_dirs.rbegin(); it != image.layer_dirs.rend(); ++it) {
    lower += (lower.empty() ? "" : ":") + *it;
  }
  std::string opts = "lowerdir=" + lower + ",upperdir=" + d + "/upper,workdir=" + d + "/work";
  if (mount("overlay", rootfs.c_str(), "overlay", 0, opts.c_str()) != 0) {
    return fail(errno_status("mounting the root filesystem (overlay) at " + rootfs, errno));
  }
  const std::string hostname = c.hostname.empty() ? c.id.substr(0, 12) : c.hostname;
  // Every file is synced, and the dirs holding them, before config.json,
  // written atomically last, marks the container complete: after a crash
  // (power loss included) a published config.json never points at an empty
  // or missing file.
  // Bound into the container, where its processes (any user) read them: 0644.
  Status st = write_file_synced(d + "/hostname", hostname + "\n", 0644);
  if (st.ok()) {
    st = write_file_synced(d + "/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                                         "127.0.1.1\t" + hostname + "\n",
                           0644);
  }
  if (st.ok()) st = write_file_synced(d + "/resolv.conf", "nameserver 127.0.0.11\noptions ndots:0\n", 0644);
  if (!st.ok()) return fail(st);
  auto spec = build_oci_spec(c, image.config, d, hostname);
  if (!spec.ok()) return fail(spec.status());
  std::string stop_name = c.stop_signal.empty() ? image.config.stop_signal : c.stop_signal;
  auto signum = signal_number(stop_name.empty() ? "SIGTERM" : stop_name);
  if (!signum.ok()) return fail(signum.status());
  json ours = {{"ID", c.id}, {"Name", c.name}, {"Image", c.image}, {"ImageID", image.info.id},
               {"Labels", c.labels}, {"Created", format_rfc3339(std::chrono::system_clock::now())},
               {"Command", (*spec)["process"]["args"]}, {"Ports", c.ports}};
  st = write_file_synced(d + "/bundle/config.json", spec->dump(2));
  if (st.ok()) st = write_file_synced(d + "/stopsignal", std::to_string(*signum));
  for (const std::string& sub : {d + "/bundle", d, options_.root + "/containers"}) {
    if (st.ok()) st = sync_dir(sub);
  }
  if (st.ok()) st = write_file_atomic(d + "/config.json", ours.dump());  // last: marks the container complete
  if (!st.ok()) return fail(st);
  return ok_status();
}

Result<pid_t> RuncRuntime::start_shim_once(const std::string& id) {
  const std::string d = dir(id);
  // Held across the check, the spawn and the pid file: a concurrent start()
  // (another thread, or a retry) waits, then finds shim.pid. flock: released
  // by the kernel if shoald dies holding it.
  os::UniqueFd lock(::open((d + "/start.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock.valid()) return errno_status("opening " + d + "/start.lock", errno);
  while (flock(lock.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return errno_status("locking " + d + "/start.lock", errno);
  }
  auto recorded = [&]() -> pid_t { return std::atoi(read_small(d + "/shim.pid").c_str()); };
  auto adopt = [&](pid_t pid) -> Result<pid_t> {
    if (!fs::exists(d + "/started")) {
      SHOAL_RETURN_IF_ERROR(write_file_atomic(d + "/started", format_rfc3339(std::chrono::system_clock::now())));
    }
    return pid;
  };
  if (pid_t pid = recorded(); pid > 0) return adopt(pid);
  // shim.spawned, made with O_EXCL before the first spawn: if it is there, a
  // start spawned a shim and did not get to write shim.pid (shoald died, or
  // the spawn failed). A shim that still runs writes shim.pid itself first
  // thing (shim.h): wait for that and adopt it, never spawn a second one.
  os::UniqueFd marker(::open((d + "/shim.spawned").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!marker.valid() && errno != EEXIST) return errno_status("creating " + d + "/shim.spawned", errno);
  if (!marker.valid()) {
    auto shims = running_shims();
    if (auto it = shims.find(id); it != shims.end()) {
      const auto deadline = steady_clock::now() + std::chrono::seconds(5);
      while (steady_clock::now() < deadline) {
        if (pid_t pid = recorded(); pid > 0) return adopt(pid);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      return unavailable("container " + id.substr(0, 12) + " has a supervisor (shim pid " +
                         std::to_string(it->second.front()) + ") that did not record itself in 5 s; see " + d +
                         "/shim.log, and retry the start");
    }
    LOG_WARN("runtime", "container " << id.substr(0, 12) << ": an earlier start spawned no live shim; starting one");
  }
  SHOAL_ASSIGN_OR_RETURN(pid_t shim, spawn_shim(options_.self_exe, d, options_.oci_runtime, options_.state_root, id));
  // The shim writes shim.pid itself too (shim.h); whichever lands last, the content is the same.
  SHOAL_RETURN_IF_ERROR(write_file_atomic(d + "/shim.pid", std::to_string(shim)));
  SHOAL_RETURN_IF_ERROR(write_file_atomic(d + "/started", format_rfc3339(std::chrono::system_clock::now())));
  return shim;
}

Status RuncRuntime::start(const std::string& id) {
  const std::string d = dir(id);
  if (!fs::exists(d + "/config.json")) return not_found("No such container: " + id);
  pid_t shim = -1;
  if (fs::exists(d + "/shim.pid")) {
    // Started before shoald crashed, the container not running yet (state()
    // says created): adopt the live shim and wait for it, never spawn another.
    shim = std::atoi(read_small(d + "/shim.pid").c_str());
    if (!shim_alive(shim, id)) return failed_precondition("container " + id + " was already started");
    if (!fs::exists(d + "/started")) {
      SHOAL_RETURN_IF_ERROR(write_file_atomic(d + "/started", format_rfc3339(std::chrono::system_clock::now())));
    }
  } else {
    SHOAL_ASSIGN_OR_RETURN(shim, start_shim_once(id));
  }
  // Wait until the user's program runs (user_process_runs) or has exited.
  // Polled every few ms: each check reads two small files.
  const auto deadline = steady_clock::now() + std::chrono::seconds(30);
  auto delay = std::chrono::milliseconds(1);
  while (steady_clock::now() < deadline) {
    std::string exit_text = read_small(d + "/exit.json");
    if (!exit_text.empty()) {
      std::string error;
      try {
        error = json::parse(exit_text).value("Error", "");
      } catch (...) {
      }
      if (!error.empty()) return failed_precondition(error);
      return ok_status();  // it ran and exited already; state() tells how
    }
    if (!shim_alive(shim, id) && !fs::exists(d + "/exit.json")) {
      std::string log = read_small(d + "/shim.log");
      return internal_error("the container's supervisor (shim, pid " + std::to_string(shim) +
                            ") exited without recording an exit status: " + (log.empty() ? "no output" : log) +
                            " (is " + options_.self_exe + " a shoald binary that handles __shim?)");
    }
    if (std::string pid = read_small(d + "/container.pid"); !pid.empty()) {
      if (user_process_runs(std::atoi(pid.c_str()))) return ok_status();
      // Still the runtime's init (or already gone: exit.json follows).
    }
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(4));
  }
  return deadline_exceeded("container " + id + " did not start within 30 s; see " + d + "/runtime.log");
}

Result<ContainerState> RuncRuntime::state(const std::string& id) {
  const std::string d = dir(id);
  std::string cfg = read_small(d + "/config.json");
  if (cfg.empty()) return not_found("No such container: " + id);
  ContainerState s;
  s.id = id;
  try {
    json c = json::parse(cfg);
    s.name = c.value("Name", "");
    s.image = c.value("Image", "");
    s.command = c.value("Command", std::vector<std::string>{});
    s.labels = c.value("Labels", std::map<std::string, std::string>{});
    s.ports = c.value("Ports", std::vector<std::string>{});
    s.created_at = parse_time(c.value("Created", ""));
  } catch (const std::exception& e) {
    return internal_error("corrupt " + d + "/config.json: " + e.what() + " (remove the container)");
  }
  std::string started = read_small(d + "/started");
  if (!started.empty()) s.started_at = parse_time(started);
  std::string exit_text = read_small(d + "/exit.json");
  if (!exit_text.empty()) {
    s.status = ContainerStatus::kExited;
    try {
      json e = json::parse(exit_text);
      s.exit_code = e.value("ExitCode", 255);
      s.finished_at = parse_time(e.value("FinishedAt", ""));
      s.error = e.value("Error", "");
    } catch (...) {
      s.exit_code = 255;
      s.error = "corrupt " + d + "/exit.json";
    }
    return s;
  }
  std::string shim = read_small(d + "/shim.pid");
  if (shim.empty()) {
    s.status = ContainerStatus::kCreated;
    return s;
  }
  if (shim_alive(std::atoi(shim.c_str()), id)) {
    std::string pid = read_small(d + "/container.pid");
    s.pid = std::atoi(pid.c_str());
    s.status = s.pid > 0 ? ContainerStatus::kRunning : ContainerStatus::kCreated;
    return s;
  }
  // Re-check: the shim may have written exit.json just before exiting.
  if (fs::exists(d + "/exit.json")) return state(id);
  s.status = ContainerStatus::kExited;
  s.exit_code = 255;
  s.error = "the container's supervisor disappeared without recording an exit status (node reboot?)";
  return s;
}

bool RuncRuntime::wait_exit(const std::string& id, std::chrono::nanoseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  while (true) {
    auto st = state(id);
    if (!st.ok() || st->status != ContainerStatus::kRunning) return true;
    if (steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

Status RuncRuntime::kill(const std::string& id, int signal) {
  SHOAL_ASSIGN_OR_RETURN(ContainerState st, state(id));
  if (st.status != ContainerStatus::kRunning) return ok_status();
  auto r = os::run_capture({options_.oci_runtime, "--root", options_.state_root, "kill", id, std::to_string(signal)});
  if (!r.ok()) {
    // The runtime may be past its state already; the pid is authoritative.
    if (st.pid > 0 && ::kill(st.pid, signal) != 0 && errno != ESRCH) {
      return errno_status("sending signal " + std::to_string(signal) + " to container " + id.substr(0, 12), errno);
    }
  }
  return ok_status();
}

Status RuncRuntime::stop(const std::string& id, std::chrono::nanoseconds grace) {
  std::string stop_signal = read_small(dir(id) + "/stopsignal");
  int signum = stop_signal.empty() ? SIGTERM : std::atoi(stop_signal.c_str());
  SHOAL_RETURN_IF_ERROR(kill(id, signum));
  if (wait_exit(id, grace)) return ok_status();
  LOG_INFO("runtime", "container " << id.substr(0, 12) << " still running after the grace period; SIGKILL");
  SHOAL_RETURN_IF_ERROR(kill(id, SIGKILL));
  if (wait_exit(id, std::chrono::seconds(10))) return ok_status();
  return deadline_exceeded("container " + id.substr(0, 12) + " did not exit within 10 s of SIGKILL");
}

Status RuncRuntime::remove(const std::string& id) {
  if (!valid_id(id)) return invalid_argument("invalid container id \"" + id + "\"");
  const std::string d = dir(id);
  if (!fs::exists(d)) return ok_status();  // idempotent: a retried remove succeeds
  (void)os::run_capture({options_.oci_runtime, "--root", options_.state_root, "delete", "--force", id});
  // Let a shim still draining the container's output record the exit first.
  std::string shim = read_small(d + "/shim.pid");
  const auto deadline = steady_clock::now() + std::chrono::seconds(10);
  while (!shim.empty() && shim_alive(std::atoi(shim.c_str()), id) && steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  SHOAL_RETURN_IF_ERROR(unmount_if_mounted(d + "/bundle/rootfs").with_context("removing container " + id));
  std::error_code ec;
  fs::remove_all(d, ec);
  if (ec) return internal_error("removing " + d + ": " + ec.message());
  return ok_status();
}

Result<std::vector<ContainerState>> RuncRuntime::list() {
  std::vector<ContainerState> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(options_.root + "/containers", ec)) {
    auto st = state(e.path().filename().string());
    if (st.ok()) out.push_back(std::move(*st));
  }
  if (ec) return internal_error("listing " + options_.root + "/containers: " + ec.message());
  return out;
}

Result<ExecChild> RuncRuntime::exec(const std::string& id, ExecSpec spec) {
  SHOAL_ASSIGN_OR_RETURN(ContainerState st, state(id));
  if (st.status != ContainerStatus::kRunning) {
    return conflict("Container " + id.substr(0, 12) + " is not running");  // Docker's 409
  }
  // The exec's process is the container's (capabilities, rlimits,
  // no_new_privileges, its user and env) with Docker's exec options over it,
  // handed to the runtime whole (--process): its user's groups are its own,
  // not the container user's, and nothing of it passes through argv.
  const std::string d = dir(id);
  nlohmann::json process;
  try {
    std::ifstream in(d + "/bundle/config.json");
    process = nlohmann::json::parse(in).at("process");
  } catch (const std::exception& e) {
    return internal_error("reading container " + id.substr(0, 12) + "'s process: " + e.what());
  }
  if (!spec.user.empty()) {
    auto u = resolve_user(spec.user, d + "/bundle/rootfs");
    if (!u.ok()) return invalid_argument("exec user " + spec.user + ": " + u.status().message());
    process["user"] = {{"uid", u->uid}, {"gid", u->gid}, {"additionalGids", u->additional_gids}};
  }
  process["args"] = spec.cmd;
  for (const auto& e : spec.env) process["env"].push_back(e);
  if (!spec.cwd.empty()) process["cwd"] = spec.cwd;
  process["terminal"] = spec.tty;
  process.erase("consoleSize");
  if (spec.tty && spec.rows > 0 && spec.cols > 0) process["consoleSize"] = {{"height", spec.rows}, {"width", spec.cols}};
  const std::string file = d + "/exec-" + hex_encode(random_bytes(8)) + ".json";
  SHOAL_RETURN_IF_ERROR(write_file_atomic(file, process.dump()).with_context("writing the exec's process"));
  auto child = spawn_exec_helper(options_.self_exe, options_.oci_runtime, options_.state_root, id, file, spec);
  if (!child.ok()) ::unlink(file.c_str());  // else the helper removes it
  return child;
}

}  // namespace shoal::runtime
