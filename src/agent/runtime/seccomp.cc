#include "agent/runtime/seccomp.h"

#include <sys/utsname.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>

#include "agent/runtime/layer.h"

namespace shoal::runtime {

using nlohmann::json;

namespace {

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// libseccomp's name for the host architecture, as Docker maps GOARCH.
std::string seccomp_arch(const std::string& go_arch) {
  static const std::map<std::string, std::string> kMap = {
      {"386", "SCMP_ARCH_X86"},         {"amd64", "SCMP_ARCH_X86_64"},      {"arm", "SCMP_ARCH_ARM"},
      {"arm64", "SCMP_ARCH_AARCH64"},   {"mips", "SCMP_ARCH_MIPS"},         {"mipsle", "SCMP_ARCH_MIPSEL"},
      {"mips64", "SCMP_ARCH_MIPS64"},   {"mips64le", "SCMP_ARCH_MIPSEL64"}, {"ppc64", "SCMP_ARCH_PPC64"},
      {"ppc64le", "SCMP_ARCH_PPC64LE"}, {"s390x", "SCMP_ARCH_S390X"},       {"riscv64", "SCMP_ARCH_RISCV64"}};
  auto it = kMap.find(go_arch);
  return it == kMap.end() ? "" : it->second;
}

std::string go_arch_of(const std::string& machine) {
  static const std::map<std::string, std::string> kMap = {
      {"x86_64", "amd64"}, {"aarch64", "arm64"}, {"i386", "386"},     {"i686", "386"},         {"armv7l", "arm"},
      {"armv6l", "arm"},   {"ppc64le", "ppc64le"}, {"ppc64", "ppc64"}, {"s390x", "s390x"},     {"riscv64", "riscv64"},
      {"mips64", "mips64"}, {"mips", "mips"}};
  auto it = kMap.find(machine);
  return it == kMap.end() ? machine : it->second;
}

// Whether the host kernel is at least `version` ("major.minor").
bool kernel_at_least(const SeccompHost& host, const std::string& version) {
  int major = 0, minor = 0;
  if (std::sscanf(version.c_str(), "%d.%d", &major, &minor) != 2) return false;
  return host.kernel_major > major || (host.kernel_major == major && host.kernel_minor >= minor);
}

// Docker's rule: excludes drop a rule if the architecture matches, if any
// excluded capability is held, or if the kernel is new enough; includes keep
// it only if the architecture matches, every included capability is held
// and the kernel is new enough.
bool rule_applies(const SeccompRule& r, const std::vector<std::string>& caps, const SeccompHost& host) {
  const SeccompFilter& ex = r.excludes;
  if (!ex.arches.empty() && contains(ex.arches, host.go_arch)) return false;
  for (const auto& c : ex.caps)
    if (contains(caps, c)) return false;
  if (!ex.min_kernel.empty() && kernel_at_least(host, ex.min_kernel)) return false;
  const SeccompFilter& in = r.includes;
  if (!in.arches.empty() && !contains(in.arches, host.go_arch)) return false;
  for (const auto& c : in.caps)
    if (!contains(caps, c)) return false;
  if (!in.min_kernel.empty() && !kernel_at_least(host, in.min_kernel)) return false;
  return true;
}

}  // namespace

const SeccompHost& seccomp_host() {
  static const SeccompHost host = [] {
    SeccompHost h;
    struct utsname u {};
    if (uname(&u) == 0) {
      h.go_arch = go_arch_of(u.machine);
      std::sscanf(u.release, "%d.%d", &h.kernel_major, &h.kernel_minor);
    }
    return h;
  }();
  return host;
}

json to_oci_seccomp(const SeccompProfile& p, const std::vector<std::string>& caps, const SeccompHost& host) {
  json out = {{"defaultAction", p.default_action}};
  if (p.default_errno_ret) out["defaultErrnoRet"] = *p.default_errno_ret;
  std::vector<std::string> arches = p.architectures;
  const std::string native = seccomp_arch(host.go_arch);
  for (const auto& m : p.arch_map) {
    if (m.architecture != native) continue;
    arches.push_back(m.architecture);
    arches.insert(arches.end(), m.sub_architectures.begin(), m.sub_architectures.end());
    break;
  }
  if (!arches.empty()) out["architectures"] = arches;
  if (!p.flags.empty()) out["flags"] = p.flags;
  json calls = json::array();
  for (const auto& r : p.syscalls) {
    if (!rule_applies(r, caps, host)) continue;
    json c = {{"names", r.names}, {"action", r.action}};
    if (r.errno_ret) c["errnoRet"] = *r.errno_ret;
    if (!r.args.empty()) {
      json args = json::array();
      for (const auto& a : r.args) {
        args.push_back({{"index", a.index}, {"value", a.value}, {"valueTwo", a.value_two}, {"op", a.op}});
      }
      c["args"] = args;
    }
    calls.push_back(std::move(c));
  }
  out["syscalls"] = calls;
  return out;
}

Result<std::shared_ptr<const SeccompProfile>> load_seccomp_profile(const std::string& path) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const SeccompProfile>> cache;
  {
    std::lock_guard lk(mu);
    if (auto it = cache.find(path); it != cache.end()) return it->second;
  }
  auto text = read_whole_file(path);
  if (!text.ok()) {
    return failed_precondition("reading the seccomp profile " + path + ": " + text.status().message() +
                               " (install golang-github-containers-common, which ships Docker's default profile, "
                               "or run the service with --security-opt seccomp=unconfined)");
  }
  auto parsed = parse_seccomp_profile(*text);
  if (!parsed.ok()) {
    return failed_precondition("the seccomp profile " + path + " is malformed: " + parsed.status().message() +
                               " (reinstall golang-github-containers-common)");
  }
  auto shared = std::make_shared<const SeccompProfile>(std::move(*parsed));
  std::lock_guard lk(mu);
  return cache.emplace(path, shared).first->second;
}

}  // namespace shoal::runtime
