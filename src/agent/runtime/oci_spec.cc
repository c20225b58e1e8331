#include "agent/runtime/oci_spec.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <sstream>

#include "agent/runtime/seccomp.h"
#include "common/json_limits.h"

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

constexpr off_t kMaxAccountFileBytes = 4 << 20;

// The image's /etc/passwd or /etc/group (`rel`, relative to the rootfs),
// which is untrusted: the path is resolved inside the rootfs (symlinks
// included), the last component must not be a symlink, only a regular file
// of at most 4 MiB is read. Absent: "". Anything else: an error.
Result<std::string> read_account_file(const std::string& rootfs, const std::string& rel) {
  int root = ::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return errno_status("opening the container's root filesystem " + rootfs, errno);
  struct open_how how {};
  how.flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(syscall(SYS_openat2, root, rel.c_str(), &how, sizeof how));
  int err = errno;
  close(root);
  if (fd < 0) {
    if (err == ENOENT) return std::string();
    if (err == ELOOP) return invalid_argument("the image's /" + rel + " is a symbolic link: it must be a regular file");
    return errno_status("opening the image's /" + rel, err);
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > kMaxAccountFileBytes) {
    close(fd);
    return invalid_argument("the image's /" + rel + " must be a regular file of at most 4 MiB");
  }
  std::string out;
  char buf[16384];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0 && out.size() <= static_cast<size_t>(kMaxAccountFileBytes)) {
    out.append(buf, static_cast<size_t>(n));
  }
  err = errno;
  close(fd);
  if (n < 0) return errno_status("reading the image's /" + rel, err);
  if (out.size() > static_cast<size_t>(kMaxAccountFileBytes)) {
    return invalid_argument("the image's /" + rel + " is larger than 4 MiB");
  }
  return out;
}

// The first line of a passwd/group style text whose field `key` (0: name,
// 2: id) equals `value`, split into fields.
std::optional<std::vector<std::string>> find_entry(const std::string& text, size_t key, const std::string& value) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto f = split(line, ':');
    if (f.size() > 2 && f[key] == value) return f;
  }
  return std::nullopt;
}

bool numeric(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

// uids and gids as Docker accepts them: 0 to 2^31-1.
constexpr uint32_t kMaxId = 2147483647;
std::optional<uint32_t> parse_id(const std::string& s) {
  if (!numeric(s) || s.size() > 10) return std::nullopt;
  uint64_t v = std::stoull(s);
  if (v > kMaxId) return std::nullopt;
  return static_cast<uint32_t>(v);
}

// Debian's /usr/share/containers/seccomp.json is Podman's profile, not
// Docker's: it lets every container call unshare, setns, keyctl, add_key and
// request_key and clone with namespace flags. Docker's rules for a container
// without CAP_SYS_ADMIN on top: those calls refused, clone without
// CLONE_NEW{NS,CGROUP,UTS,IPC,USER,PID,NET}, clone3 ENOSYS (libc falls back).
json docker_parity(json seccomp, const std::vector<std::string>& caps) {
  if (std::find(caps.begin(), caps.end(), "CAP_SYS_ADMIN") != caps.end()) return seccomp;
  auto denied = [](const std::string& n) {
    return n == "unshare" || n == "setns" || n == "keyctl" || n == "add_key" || n == "request_key" || n == "clone" ||
           n == "clone3";
  };
  json calls = json::array();
  for (json& r : seccomp["syscalls"]) {
    if (r.value("action", "") == "SCMP_ACT_ALLOW") {
      json names = json::array();
      for (const json& n : r["names"])
        if (!denied(n.get<std::string>())) names.push_back(n);
      if (names.empty()) continue;
      r["names"] = std::move(names);
    }
    calls.push_back(std::move(r));
  }
  const int flags_arg = seccomp_host().go_arch == "s390x" ? 1 : 0;
  calls.push_back({{"names", {"clone"}},
                   {"action", "SCMP_ACT_ALLOW"},
                   {"args", json::array({{{"index", flags_arg}, {"value", 2114060288}, {"valueTwo", 0},
                                          {"op", "SCMP_CMP_MASKED_EQ"}}})}});
  calls.push_back({{"names", {"clone3"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 38}});
  seccomp["syscalls"] = std::move(calls);
  return seccomp;
}

// linux.seccomp for the container: its custom profile or the default one.
Result<json> seccomp_for(const ContainerConfig& c, const std::vector<std::string>& caps) {
  if (c.seccomp == ContainerConfig::Seccomp::kCustom) {
    auto profile = parse_seccomp_profile(c.seccomp_profile);
    if (!profile.ok()) return invalid_argument("invalid custom seccomp profile: " + profile.status().message());
    return to_oci_seccomp(*profile, caps, seccomp_host());
  }
  SHOAL_ASSIGN_OR_RETURN(auto profile, load_seccomp_profile());
  return docker_parity(to_oci_seccomp(*profile, caps, seccomp_host()), caps);
}

}  // namespace

Result<int> signal_number(const std::string& in) {
  if (numeric(in)) {
    int n = in.size() <= 2 ? std::stoi(in) : 0;
    if (n < 1 || n > SIGRTMAX) {
      return invalid_argument("invalid signal " + in.substr(0, 12) + ": a signal number is 1 to " + std::to_string(SIGRTMAX));
    }
    return n;
  }
  std::string n = in;
  if (n.rfind("SIG", 0) == 0) n = n.substr(3);
  static const std::pair<const char*, int> kSigs[] = {
      {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL}, {"USR1", SIGUSR1},
      {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"STOP", SIGSTOP}, {"CONT", SIGCONT}, {"WINCH", SIGWINCH}};
  for (const auto& [name, num] : kSigs)
    if (n == name) return num;
  return invalid_argument("invalid signal \"" + shown_input(in) + "\": use a name such as SIGTERM or a number");
}

Result<ResolvedUser> resolve_user(const std::string& user, const std::string& rootfs) {
  ResolvedUser out;
  if (user.empty()) return out;
  auto parts = split(user, ':');
  if (parts.empty() || parts.size() > 2 || parts[0].empty()) {
    return invalid_argument("invalid user \"" + user.substr(0, 64) + "\": use uid[:gid] or name[:group]");
  }
  const std::string& u = parts[0];
  const std::string g = parts.size() > 1 ? parts[1] : "";
  SHOAL_ASSIGN_OR_RETURN(std::string passwd, read_account_file(rootfs, "etc/passwd"));
  SHOAL_ASSIGN_OR_RETURN(std::string group, read_account_file(rootfs, "etc/group"));
  std::string name;
  if (numeric(u)) {
    auto uid = parse_id(u);
    if (!uid) return invalid_argument("invalid uid " + u.substr(0, 16) + ": at most " + std::to_string(kMaxId));
    out.uid = *uid;
    out.gid = 0;  // Docker: an unknown numeric uid runs with gid 0
    if (auto f = find_entry(passwd, 2, u)) {
      name = (*f)[0];
      if (f->size() > 3) out.gid = parse_id((*f)[3]).value_or(0);
    }
  } else {
    auto f = find_entry(passwd, 0, u);
    std::optional<uint32_t> uid, gid;
    if (f && f->size() >= 4) {
      uid = parse_id((*f)[2]);
      gid = parse_id((*f)[3]);
    }
    if (!uid || !gid) {
      return invalid_argument("unable to find user " + u.substr(0, 64) + ": no matching entries in passwd file");
    }
    name = u;
    out.uid = *uid;
    out.gid = *gid;
  }
  if (!g.empty()) {
    if (numeric(g)) {
      auto gid = parse_id(g);
      if (!gid) return invalid_argument("invalid gid " + g.substr(0, 16) + ": at most " + std::to_string(kMaxId));
      out.gid = *gid;
    } else {
      auto f = find_entry(group, 0, g);
      auto gid = f ? parse_id((*f)[2]) : std::nullopt;
      if (!gid) return invalid_argument("unable to find group " + g.substr(0, 64) + ": no matching entries in group file");
      out.gid = *gid;
    }
  }
  // Supplementary groups: those listing the user as a member.
  if (!name.empty()) {
    std::istringstream in(group);
    std::string line;
    while (std::getline(in, line)) {
      auto f = split(line, ':');
      if (f.size() < 4) continue;
      auto gid = parse_id(f[2]);
      if (!gid) continue;
      for (const auto& m : split(f[3], ',')) {
        if (m == name && *gid != out.gid) out.additional_gids.push_back(*gid);
      }
    }
  }
  return out;
}

bool host_cgroup_unified() {
  static const bool unified = [] {
    struct statfs fs {};
    return statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
  }();
  return unified;
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
  const std::vector<std::string>& cap_list = default_capabilities();
  json caps = cap_list;
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
        {"noNewPrivileges", c.no_new_privileges}}},
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
  if (c.private_cgroupns.value_or(host_cgroup_unified())) ns.push_back({{"type", "cgroup"}});
  json resources = {{"devices", json::array({{{"allow", false}, {"access", "rwm"}}})}};
  if (c.memory_bytes > 0) resources["memory"] = {{"limit", c.memory_bytes}};
  if (c.nano_cpus > 0) resources["cpu"] = {{"period", 100000}, {"quota", c.nano_cpus / 10000}};
  if (c.pids_limit > 0) resources["pids"] = {{"limit", c.pids_limit}};
  spec["linux"] = {
      {"namespaces", ns},
      {"cgroupsPath", "/shoal/" + c.id},
      {"resources", resources},
      {"maskedPaths", default_masked_paths()},
      {"readonlyPaths", default_readonly_paths()},
  };
  if (c.seccomp != ContainerConfig::Seccomp::kUnconfined) {
    SHOAL_ASSIGN_OR_RETURN(json seccomp, seccomp_for(c, cap_list));
    spec["linux"]["seccomp"] = std::move(seccomp);
  }
  return spec;
}

const std::vector<std::string>& default_capabilities() {
  static const std::vector<std::string> kCaps = {
      "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",  "CAP_FOWNER",           "CAP_MKNOD",
      "CAP_NET_RAW", "CAP_SETGID",      "CAP_SETUID",  "CAP_SETFCAP",          "CAP_SETPCAP",
      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"};
  return kCaps;
}

const std::vector<std::string>& default_masked_paths() {
  static const std::vector<std::string> kPaths = {
      "/proc/asound",     "/proc/acpi",        "/proc/kcore",       "/proc/keys",
      "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
      "/proc/scsi",       "/sys/firmware",     "/sys/devices/virtual/powercap"};
  return kPaths;
}

const std::vector<std::string>& default_readonly_paths() {
  static const std::vector<std::string> kPaths = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                                  "/proc/sysrq-trigger"};
  return kPaths;
}

}  // namespace shoal::runtime
