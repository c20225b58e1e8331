// /_ping, /version, /info.
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>

#include "common/time.h"
#include "manager/api/api.h"

namespace shoal::api {

namespace {

// The host's, not constants: uname(2)'s machine (what /info's Architecture
// shows, as Docker's does) and Go's name for it (/version's Arch).
std::string host_machine() {
  struct utsname u;
  return uname(&u) == 0 ? std::string(u.machine) : std::string("unknown");
}
std::string go_arch(const std::string& m) {
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  if (m == "i386" || m == "i686") return "386";
  if (m.rfind("armv", 0) == 0) return "arm";
  return m;  // ppc64le, s390x, riscv64: the same in both
}
// "2" on a pure cgroup v2 host, "1" on v1 and hybrid layouts (as Docker reports).
const char* cgroup_version() { return ::access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ? "2" : "1"; }

}  // namespace

http::Response Api::system_ping(const http::Request& req) {
  http::Response r;
  r.status = 200;
  r.body = "OK";
  r.headers["Content-Type"] = "text/plain; charset=utf-8";
  r.headers["Cache-Control"] = "no-cache, no-store, must-revalidate";
  r.headers["Pragma"] = "no-cache";
  r.headers["Builder-Version"] = "1";
  r.headers["Swarm"] = control_.active() ? (control_.store() ? "active/manager" : "active/worker") : "inactive";
  return r;
}

http::Response Api::system_version() {
  LocalInfo info = control_.local_info();
  json details = {{"ApiVersion", kApiVersion}, {"MinAPIVersion", kMinApiVersion}, {"Os", "linux"},
                  {"Arch", go_arch(host_machine())}, {"KernelVersion", info.kernel_version}, {"GitCommit", "shoal"},
                  {"Experimental", "false"}};
  json engine = {{"Name", "Engine"}, {"Version", kEngineVersion}, {"Details", details}};
  return json_response(200, {{"Platform", {{"Name", "shoal"}}},
                             {"Components", json::array({engine})},
                             {"Version", kEngineVersion},
                             {"ApiVersion", kApiVersion},
                             {"MinAPIVersion", kMinApiVersion},
                             {"GitCommit", "shoal"},
                             {"GoVersion", "n/a (C++20)"},
                             {"Os", "linux"},
                             {"Arch", go_arch(host_machine())},
                             {"KernelVersion", info.kernel_version},
                             {"BuildTime", ""}});
}

http::Response Api::system_info() {
  LocalInfo info = control_.local_info();
  json swarm = {{"NodeID", ""},           {"NodeAddr", ""}, {"LocalNodeState", "inactive"},
                {"ControlAvailable", false}, {"Error", ""},  {"RemoteManagers", nullptr}};
  if (control_.active()) {
    swarm["NodeID"] = control_.node_id();
    std::string addr = info.addr;
    if (auto colon = addr.rfind(':'); colon != std::string::npos && addr.find(']') == std::string::npos &&
                                      addr.find(':') == colon) {
      addr = addr.substr(0, colon);  // Docker shows the address without the port
    }
    swarm["NodeAddr"] = addr;
    swarm["LocalNodeState"] = "active";
    std::shared_ptr<Store> s = control_.store();
    std::optional<Cluster> cluster = s ? s->cluster() : std::nullopt;
    if (s && cluster) {
      // The docker CLI reads Swarm.Cluster whenever ControlAvailable is true,
      // so both are set together.
      swarm["ControlAvailable"] = true;
      auto nodes = s->nodes();
      std::sort(nodes.begin(), nodes.end(), [](const Node& a, const Node& b) { return a.id < b.id; });
      json managers = json::array();
      size_t n_managers = 0;
      for (const auto& n : nodes) {
        if (n.spec.role != NodeRole::kManager) continue;
        ++n_managers;
        managers.push_back({{"NodeID", n.id}, {"Addr", n.manager_status ? n.manager_status->addr : n.addr}});
      }
      swarm["RemoteManagers"] = managers;
      swarm["Nodes"] = nodes.size();
      swarm["Managers"] = n_managers;
      json cj = to_api(*cluster);
      cj.erase("JoinTokens");
      swarm["Cluster"] = cj;
    }
  }
  return json_response(200, {{"ID", control_.node_id()},
                             {"Containers", info.containers},
                             {"ContainersRunning", info.containers_running},
                             {"ContainersPaused", 0},
                             {"ContainersStopped", info.containers - info.containers_running},
                             {"Images", info.images},
                             {"Driver", "overlay2"},
                             {"DriverStatus", json::array()},
                             {"Plugins", {{"Volume", json::array()}, {"Network", {"overlay"}}, {"Log", {"json-file"}}}},
                             {"MemoryLimit", true},
                             {"SwapLimit", false},
                             {"CpuCfsPeriod", true},
                             {"CpuCfsQuota", true},
                             {"CPUShares", true},
                             {"CPUSet", true},
                             {"PidsLimit", true},
                             {"IPv4Forwarding", true},
                             {"BridgeNfIptables", false},
                             {"BridgeNfIp6tables", false},
                             {"Debug", false},
                             {"NFd", 0},
                             {"OomKillDisable", false},
                             {"NGoroutines", 0},
                             {"SystemTime", format_rfc3339(clock_.now())},
                             {"LoggingDriver", "json-file"},
                             {"CgroupDriver", "cgroupfs"},
                             {"CgroupVersion", cgroup_version()},
                             {"NEventsListener", 0},
                             {"KernelVersion", info.kernel_version},
                             {"OperatingSystem", info.operating_system},
                             {"OSVersion", ""},
                             {"OSType", "linux"},
                             {"Architecture", host_machine()},
                             {"NCPU", info.ncpu},
                             {"MemTotal", info.mem_total},
                             {"IndexServerAddress", "https://index.docker.io/v1/"},
                             {"RegistryConfig",
                              {{"AllowNondistributableArtifactsCIDRs", json::array()},
                               {"AllowNondistributableArtifactsHostnames", json::array()},
                               {"InsecureRegistryCIDRs", {"127.0.0.0/8"}},
                               {"IndexConfigs", json::object()},
                               {"Mirrors", json::array()}}},
                             {"GenericResources", nullptr},
                             {"DockerRootDir", "/var/lib/shoal"},
                             {"HttpProxy", ""},
                             {"HttpsProxy", ""},
                             {"NoProxy", ""},
                             {"Name", info.hostname},
                             {"Labels", json::array()},
                             {"ExperimentalBuild", false},
                             {"ServerVersion", kEngineVersion},
                             {"Runtimes", {{"runc", {{"path", "runc"}}}}},
                             {"DefaultRuntime", "runc"},
                             {"Swarm", swarm},
                             {"LiveRestoreEnabled", true},
                             {"Isolation", ""},
                             {"InitBinary", ""},
                             {"ContainerdCommit", {{"ID", ""}, {"Expected", ""}}},
                             {"RuncCommit", {{"ID", ""}, {"Expected", ""}}},
                             {"InitCommit", {{"ID", ""}, {"Expected", ""}}},
                             {"SecurityOptions", json::array()},
                             {"Warnings", nullptr}});
}

}  // namespace shoal::api
