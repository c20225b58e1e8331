#include "agent/runtime/oci_spec.h"

#include <signal.h>
#include <sys/resource.h>

#include <fstream>
#include <optional>
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

// The first line of a passwd/group style file whose field `key` (0: name,
// 2: id) equals `value`, split into fields.
std::optional<std::vector<std::string>> find_entry(const std::string& file, size_t key, const std::string& value) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    auto f = split(line, ':');
    if (f.size() > 2 && f[key] == value) return f;
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

Result<ResolvedUser> resolve_user(const std::string& user, const std::string& rootfs) {
  ResolvedUser out;
  if (user.empty()) return out;
  auto parts = split(user, ':');
  if (parts.empty() || parts.size() > 2 || parts[0].empty()) {
    return invalid_argument("invalid user \"" + user + "\": use uid[:gid] or name[:group]");
  }
  const std::string& u = parts[0];
  const std::string g = parts.size() > 1 ? parts[1] : "";
  auto bad_id = [](const std::string& s) { return s.size() > 9; };
  std::string name;
  if (numeric(u)) {
    if (bad_id(u)) return invalid_argument("invalid uid " + u);
    out.uid = static_cast<uint32_t>(std::stoul(u));
    out.gid = 0;  // Docker: an unknown numeric uid runs with gid 0
    if (auto f = find_entry(rootfs + "/etc/passwd", 2, u)) {
      name = (*f)[0];
      if (f->size() > 3 && numeric((*f)[3]) && !bad_id((*f)[3])) out.gid = static_cast<uint32_t>(std::stoul((*f)[3]));
    }
  } else {
    auto f = find_entry(rootfs + "/etc/passwd", 0, u);
    if (!f || f->size() < 4 || !numeric((*f)[2]) || !numeric((*f)[3])) {
      return invalid_argument("unable to find user " + u + ": no matching entries in passwd file");
    }
    name = u;
    out.uid = static_cast<uint32_t>(std::stoul((*f)[2]));
    out.gid = static_cast<uint32_t>(std::stoul((*f)[3]));
  }
  if (!g.empty()) {
    if (numeric(g) && !bad_id(g)) {
      out.gid = static_cast<uint32_t>(std::stoul(g));
    } else {
      auto f = find_entry(rootfs + "/etc/group", 0, g);
      if (!f || !numeric((*f)[2])) {
        return invalid_argument("unable to find group " + g + ": no matching entries in group file");
      }
      out.gid = static_cast<uint32_t>(std::stoul((*f)[2]));
    }
  }
  // Supplementary groups: those listing the user as a member.
  if (!name.empty()) {
    std::ifstream in(rootfs + "/etc/group");
    std::string line;
    while (std::getline(in, line)) {
      auto f = split(line, ':');
      if (f.size() < 4 || !numeric(f[2])) continue;
      for (const auto& m : split(f[3], ',')) {
        if (m != name) continue;
        uint32_t gid = static_cast<uint32_t>(std::stoul(f[2]));
        if (gid != out.gid) out.additional_gids.push_back(gid);
      }
    }
  }
  return out;
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
        {"user", {{"uid", user->uid}, {"gid", user->gid}, {"additionalGids", user->additional_gids}}},
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
           {{"destination", "/sys/fs/cgroup"}, {"type", "cgroup"}, {"source", "cgroup"}, {"options", {"nosuid", "noexec", "nodev", "relatime", "ro"}}},
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
