#include "agent/runtime/oci_spec.h"

#include <signal.h>
#include <sys/resource.h>

#include <fstream>
#include <sstream>

namespace shoal::runtime {

using nlohmann::json;

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, sep)) out.push_back(part);
  return out;
}

// Looks up `name` (or a numeric id) in a passwd/group style file.
std::optional<std::pair<uint32_t, uint32_t>> lookup(const std::string& file, const std::string& name) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    auto f = split(line, ':');
    if (f.size() < 3 || f[0] != name) continue;
    uint32_t a = static_cast<uint32_t>(std::stoul(f[2]));
    uint32_t b = f.size() > 3 && !f[3].empty() && std::isdigit(static_cast<unsigned char>(f[3][0])) ? static_cast<uint32_t>(std::stoul(f[3])) : a;
    return std::make_pair(a, b);
  }
  return std::nullopt;
}

bool numeric(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

}  // namespace

Result<int> signal_number(const std::string& in) {
  if (numeric(in)) return std::stoi(in);
  std::string n = in;
  if (n.rfind("SIG", 0) == 0) n = n.substr(3);
  static const std::pair<const char*, int> kSigs[] = {
      {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL}, {"USR1", SIGUSR1},
      {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"STOP", SIGSTOP}, {"CONT", SIGCONT}, {"WINCH", SIGWINCH}};
  for (const auto& [name, num] : kSigs)
    if (n == name) return num;
  return invalid_argument("invalid signal \"" + in + "\": use a name such as SIGTERM or a number");
}

Result<std::pair<uint32_t, uint32_t>> resolve_user(const std::string& user, const std::string& rootfs) {
  if (user.empty()) return std::make_pair(0u, 0u);
  auto parts = split(user, ':');
  std::string u = parts[0], g = parts.size() > 1 ? parts[1] : "";
  uint32_t uid, gid;
  if (numeric(u)) {
    uid = static_cast<uint32_t>(std::stoul(u));
    auto found = lookup(rootfs + "/etc/passwd", "");
    gid = uid;
    std::ifstream in(rootfs + "/etc/passwd");
    std::string line;
    while (std::getline(in, line)) {
      auto f = split(line, ':');
      if (f.size() > 3 && f[2] == u && numeric(f[3])) gid = static_cast<uint32_t>(std::stoul(f[3]));
    }
  } else {
    auto found = lookup(rootfs + "/etc/passwd", u);
    if (!found) return invalid_argument("unable to find user " + u + ": no matching entries in passwd file");
    uid = found->first;
    gid = found->second;
  }
  if (!g.empty()) {
    if (numeric(g)) {
      gid = static_cast<uint32_t>(std::stoul(g));
    } else {
      auto found = lookup(rootfs + "/etc/group", g);
      if (!found) return invalid_argument("unable to find group " + g + ": no matching entries in group file");
      gid = found->first;
    }
  }
  return std::make_pair(uid, gid);
}

Result<json> build_oci_spec(const ContainerConfig& c, const ImageConfig& image, const std::string& dir,
                            const std::string& hostname) {
  std::vector<std::string> args = c.command.empty() ? image.entrypoint : c.command;
  if (!c.args.empty()) {
    args.insert(args.end(), c.args.begin(), c.args.end());
  } else if (c.command.empty()) {
    args.insert(args.end(), image.cmd.begin(), image.cmd.end());
  }
  if (args.empty()) return invalid_argument("no command specified: give one in the service spec or the image");
  std::vector<std::string> env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                  "HOSTNAME=" + hostname};
  auto set_env = [&](const std::string& kv) {
    std::string key = kv.substr(0, kv.find('='));
    for (auto& e : env) {
      if (e.substr(0, e.find('=')) == key) {
        e = kv;
        return;
      }
    }
    env.push_back(kv);
  };
  for (const auto& e : image.env) set_env(e);
  for (const auto& e : c.env) set_env(e);
  auto user = resolve_user(c.user.empty() ? image.user : c.user, dir + "/bundle/rootfs");
  if (!user.ok()) return user.status();
  std::string cwd = !c.dir.empty() ? c.dir : (!image.working_dir.empty() ? image.working_dir : "/");

  // Docker's 1048576, or as much as the host allows.
  struct rlimit rl {};
  uint64_t nofile = 1048576;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max < nofile) nofile = rl.rlim_max;
  json caps = {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
               "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
               "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"};
  json spec = {
      {"ociVersion", "1.0.2"},
      {"process",
       {{"terminal", false},
        {"user", {{"uid", user->first}, {"gid", user->second}}},
        {"args", args},
        {"env", env},
        {"cwd", cwd},
        {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
        {"rlimits", json::array({{{"type", "RLIMIT_NOFILE"}, {"hard", nofile}, {"soft", nofile}}})},
        {"noNewPrivileges", false}}},
      {"root", {{"path", "rootfs"}, {"readonly", c.read_only}}},
      {"hostname", hostname},
      {"mounts",
       json::array({
           {{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}, {"options", {"nosuid", "noexec", "nodev"}}},
           {{"destination", "/dev"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
           {{"destination", "/dev/pts"}, {"type", "devpts"}, {"source", "devpts"}, {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}}},
           {{"destination", "/dev/shm"}, {"type", "tmpfs"}, {"source", "shm"}, {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
           {{"destination", "/dev/mqueue"}, {"type", "mqueue"}, {"source", "mqueue"}, {"options", {"nosuid", "noexec", "nodev"}}},
           {{"destination", "/sys"}, {"type", "sysfs"}, {"source", "sysfs"}, {"options", {"nosuid", "noexec", "nodev", "ro"}}},
           {{"destination", "/etc/hostname"}, {"type", "bind"}, {"source", dir + "/hostname"}, {"options", {"rbind", "ro"}}},
           {{"destination", "/etc/hosts"}, {"type", "bind"}, {"source", dir + "/hosts"}, {"options", {"rbind", "ro"}}},
           {{"destination", "/etc/resolv.conf"}, {"type", "bind"}, {"source", dir + "/resolv.conf"}, {"options", {"rbind", "ro"}}},
       })},
  };
  json ns = json::array({{{"type", "pid"}}, {{"type", "ipc"}}, {{"type", "uts"}}, {{"type", "mount"}}});
  ns.push_back(c.netns_path.empty() ? json{{"type", "network"}} : json{{"type", "network"}, {"path", c.netns_path}});
  json resources = {{"devices", json::array({{{"allow", false}, {"access", "rwm"}}})}};
  if (c.memory_bytes > 0) resources["memory"] = {{"limit", c.memory_bytes}};
  if (c.nano_cpus > 0) resources["cpu"] = {{"period", 100000}, {"quota", c.nano_cpus / 10000}};
  if (c.pids_limit > 0) resources["pids"] = {{"limit", c.pids_limit}};
  spec["linux"] = {
      {"namespaces", ns},
      {"cgroupsPath", "/shoal/" + c.id},
      {"resources", resources},
      {"maskedPaths", {"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                       "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"}},
      {"readonlyPaths", {"/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}},
  };
  return spec;
}

}  // namespace shoal::runtime
