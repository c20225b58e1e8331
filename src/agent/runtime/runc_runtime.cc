#include "agent/runtime/runc_runtime.h"

#include <signal.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent/runtime/oci_spec.h"
#include "common/log.h"
#include "common/time.h"
#include "os/process.h"

namespace shoal::runtime {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::trunc);
  out << data;
  if (!out) return internal_error("writing " + path + " failed");
  return ok_status();
}

bool has_binary(const std::string& name) {
  for (const char* d : {"/usr/bin/", "/usr/sbin/", "/usr/local/bin/", "/usr/local/sbin/", "/bin/", "/sbin/"}) {
    if (access((std::string(d) + name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::string last_runtime_error(const std::string& dir) {
  std::ifstream in(dir + "/runtime.log");
  std::string line, last;
  while (std::getline(in, line)) {
    try {
      json j = json::parse(line);
      if (j.value("level", "") == "error") last = j.value("msg", line);
    } catch (...) {
      if (!line.empty()) last = line;
    }
  }
  return last;
}

std::chrono::system_clock::time_point parse_time(const std::string& s) {
  auto r = parse_rfc3339(s);
  return r.ok() ? *r : std::chrono::system_clock::time_point{};
}

}  // namespace

std::string detect_oci_runtime() {
  struct statfs sf;
  bool pure_v2 = statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == 0x63677270;  // CGROUP2_SUPER_MAGIC
  if (pure_v2 && has_binary("crun")) return "crun";
  return "runc";
}

RuncRuntime::RuncRuntime(RuncRuntimeOptions options, ImageStore& images)
    : options_(std::move(options)), images_(images) {
  if (options_.oci_runtime.empty()) options_.oci_runtime = detect_oci_runtime();
  if (options_.self_exe.empty()) {
    std::error_code ec;
    options_.self_exe = fs::read_symlink("/proc/self/exe", ec).string();
  }
  std::error_code ec;
  fs::create_directories(options_.root + "/containers", ec);
}

std::string RuncRuntime::dir(const std::string& id) const { return options_.root + "/containers/" + id; }
std::string RuncRuntime::log_path(const std::string& id) const { return dir(id) + "/container.log"; }

Status RuncRuntime::create(const ContainerConfig& c) {
  if (c.id.empty() || c.id.find('/') != std::string::npos) return invalid_argument("invalid container id");
  auto image = images_.resolve(c.image);
  if (!image.ok()) return image.status();
  std::string d = dir(c.id);
  if (fs::exists(d)) return already_exists("container " + c.id + " already exists");
  std::error_code ec;
  for (const char* sub : {"/bundle/rootfs", "/upper", "/work"}) fs::create_directories(d + sub, ec);
  if (ec) return internal_error("creating " + d + ": " + ec.message());
  auto fail = [&](Status st) {
    umount2((d + "/bundle/rootfs").c_str(), MNT_DETACH);
    fs::remove_all(d, ec);
    return st;
  };
  // Overlay: lowerdir lists the top layer first.
  std::string lower;
  for (auto it = image->layer_dirs.rbegin(); it != image->layer_dirs.rend(); ++it) {
    lower += (lower.empty() ? "" : ":") + *it;
  }
  std::string opts = "lowerdir=" + lower + ",upperdir=" + d + "/upper,workdir=" + d + "/work";
  if (mount("overlay", (d + "/bundle/rootfs").c_str(), "overlay", 0, opts.c_str()) != 0) {
    return fail(errno_status("mounting the container's overlay root filesystem", errno));
  }
  std::string hostname = c.hostname.empty() ? c.id.substr(0, 12) : c.hostname;
  SHOAL_RETURN_IF_ERROR(write_file(d + "/hostname", hostname + "\n"));
  SHOAL_RETURN_IF_ERROR(write_file(d + "/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n127.0.1.1\t" + hostname + "\n"));
  SHOAL_RETURN_IF_ERROR(write_file(d + "/resolv.conf", "nameserver 127.0.0.11\noptions ndots:0\n"));
  auto spec = build_oci_spec(c, image->config, d, hostname);
  if (!spec.ok()) return fail(spec.status());
  SHOAL_RETURN_IF_ERROR(write_file(d + "/bundle/config.json", spec->dump(2)));
  std::string stop_name = c.stop_signal.empty() ? image->config.stop_signal : c.stop_signal;
  auto signum = signal_number(stop_name.empty() ? "SIGTERM" : stop_name);
  if (!signum.ok()) return fail(signum.status());
  SHOAL_RETURN_IF_ERROR(write_file(d + "/stopsignal", std::to_string(*signum)));
  json ours = {{"ID", c.id}, {"Name", c.name}, {"Image", c.image}, {"Labels", c.labels},
               {"Created", format_rfc3339(std::chrono::system_clock::now())},
               {"Command", (*spec)["process"]["args"]}};
  return write_file(d + "/config.json", ours.dump());
}

Status RuncRuntime::start(const std::string& id) {
  std::string d = dir(id);
  if (!fs::exists(d + "/config.json")) return not_found("no such container: " + id);
  os::SpawnOptions so;
  so.argv = {options_.self_exe, "__shim", d, options_.oci_runtime, id};
  so.stdout_path = d + "/shim.log";
  so.new_session = true;
  auto pid = os::spawn(so);
  if (!pid.ok()) return pid.status().with_context("starting the container supervisor");
  SHOAL_RETURN_IF_ERROR(write_file(d + "/shim.pid", std::to_string(*pid)));
  write_file(d + "/started", format_rfc3339(std::chrono::system_clock::now()));
  // The shim is not our child for long: reap it in the background so it
  // never lingers as a zombie of shoald.
  std::thread([p = *pid] { (void)os::wait_pid(p, std::chrono::hours(24 * 365)); }).detach();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(d + "/exit.json")) {
      std::string err = last_runtime_error(d);
      auto st = state(id);
      if (!err.empty()) return failed_precondition("starting container failed: " + err);
      if (st.ok() && st->exit_code != 0 && st->exit_code >= 126) {
        return failed_precondition("starting container failed: exit code " + std::to_string(st->exit_code));
      }
      return ok_status();  // it ran and exited already; state() tells how
    }
    if (fs::exists(d + "/container.pid")) return ok_status();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return deadline_exceeded("container " + id + " did not start within 30 s");
}

Result<ContainerState> RuncRuntime::state(const std::string& id) {
  std::string d = dir(id);
  std::string cfg = read_file(d + "/config.json");
  if (cfg.empty()) return not_found("no such container: " + id);
  ContainerState s;
  s.id = id;
  try {
    json c = json::parse(cfg);
    s.name = c.value("Name", "");
    s.image = c.value("Image", "");
    s.labels = c.value("Labels", std::map<std::string, std::string>{});
    s.created_at = parse_time(c.value("Created", ""));
  } catch (...) {
  }
  std::string started = read_file(d + "/started");
  if (!started.empty()) s.started_at = parse_time(started);
  std::string exit = read_file(d + "/exit.json");
  if (!exit.empty()) {
    s.status = ContainerStatus::kExited;
    try {
      json e = json::parse(exit);
      s.exit_code = e.value("ExitCode", -1);
      s.finished_at = parse_time(e.value("FinishedAt", ""));
    } catch (...) {
      s.exit_code = -1;
    }
    s.error = last_runtime_error(d);
    return s;
  }
  std::string pid = read_file(d + "/container.pid");
  if (!pid.empty()) {
    s.pid = std::atoi(pid.c_str());
    if (os::process_alive(s.pid)) {
      s.status = ContainerStatus::kRunning;
      return s;
    }
  }
  std::string shim = read_file(d + "/shim.pid");
  if (!shim.empty() && os::process_alive(std::atoi(shim.c_str()))) {
    s.status = pid.empty() ? ContainerStatus::kCreated : ContainerStatus::kRunning;
    return s;
  }
  if (!shim.empty()) {
    // The shim died without recording an exit (e.g. the node rebooted).
    s.status = ContainerStatus::kExited;
    s.exit_code = 255;
    s.error = "the container's supervisor disappeared";
    return s;
  }
  s.status = ContainerStatus::kCreated;
  return s;
}

bool RuncRuntime::wait_exit(const std::string& id, std::chrono::nanoseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    auto st = state(id);
    if (!st.ok() || st->status != ContainerStatus::kRunning) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

Status RuncRuntime::kill(const std::string& id, int signal) {
  auto st = state(id);
  if (!st.ok()) return st.status();
  if (st->status != ContainerStatus::kRunning) return ok_status();
  auto r = os::run_capture({options_.oci_runtime, "kill", id, std::to_string(signal)});
  if (!r.ok() && st->pid > 0) {
    ::kill(st->pid, signal);  // runc may not know it yet; the pid is authoritative
  }
  return ok_status();
}

Status RuncRuntime::stop(const std::string& id, std::chrono::nanoseconds grace) {
  std::string stop_signal = read_file(dir(id) + "/stopsignal");
  int signum = stop_signal.empty() ? SIGTERM : std::atoi(stop_signal.c_str());
  SHOAL_RETURN_IF_ERROR(kill(id, signum));
  if (wait_exit(id, grace)) return ok_status();
  SHOAL_RETURN_IF_ERROR(kill(id, SIGKILL));
  if (wait_exit(id, std::chrono::seconds(10))) return ok_status();
  return deadline_exceeded("container " + id + " did not exit after SIGKILL");
}

Status RuncRuntime::remove(const std::string& id) {
  std::string d = dir(id);
  if (!fs::exists(d)) return ok_status();
  (void)os::run_capture({options_.oci_runtime, "delete", "--force", id});
  if (umount2((d + "/bundle/rootfs").c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) {
    return errno_status("unmounting the root filesystem of " + id, errno);
  }
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
    if (st.ok()) out.push_back(*st);
  }
  return out;
}

}  // namespace shoal::runtime
