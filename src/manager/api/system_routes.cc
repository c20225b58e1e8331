// /_ping, /version, /info, /swarm*.
#include <sys/utsname.h>

#include "manager/api/api.h"

namespace shoal::api {

http::Response Api::system_ping(const http::Request& req) {
  http::Response r;
  r.status = 200;
  r.body = req.method == "HEAD" ? "" : "OK";
  r.headers["Content-Type"] = "text/plain; charset=utf-8";
  r.headers["Cache-Control"] = "no-cache, no-store, must-revalidate";
  r.headers["Swarm"] = control_.active() ? (control_.store() ? "active/manager" : "active/worker") : "inactive";
  return r;
}

http::Response Api::system_version() {
  LocalInfo info = control_.local_info();
  json engine = {{"Name", "Engine"},
                 {"Version", kEngineVersion},
                 {"Details", {{"ApiVersion", kApiVersion}, {"MinAPIVersion", "1.12"}, {"Os", "linux"}, {"Arch", "amd64"},
                              {"KernelVersion", info.kernel_version}}}};
  return json_response(200, {{"Platform", {{"Name", "shoal"}}},
                             {"Components", json::array({engine})},
                             {"Version", kEngineVersion},
                             {"ApiVersion", kApiVersion},
                             {"MinAPIVersion", "1.12"},
                             {"GitCommit", "shoal"},
                             {"GoVersion", "n/a (C++20)"},
                             {"Os", "linux"},
                             {"Arch", "amd64"},
                             {"KernelVersion", info.kernel_version},
                             {"BuildTime", ""}});
}

http::Response Api::system_info() {
  LocalInfo info = control_.local_info();
  json swarm = {{"NodeID", ""}, {"NodeAddr", ""}, {"LocalNodeState", "inactive"}, {"ControlAvailable", false},
                {"Error", ""}, {"RemoteManagers", nullptr}};
  if (control_.active()) {
    swarm["NodeID"] = control_.node_id();
    swarm["NodeAddr"] = info.addr;
    swarm["LocalNodeState"] = "active";
    if (Store* s = control_.store()) {
      swarm["ControlAvailable"] = true;
      auto nodes = s->nodes();
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
      if (auto c = s->cluster()) {
        json cj = api_json(json(*c));
        cj.erase("JoinTokens");
        swarm["Cluster"] = cj;
      }
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
                             {"Plugins", {{"Volume", json::array()}, {"Network", json::array()}, {"Log", {"json-file"}}}},
                             {"MemoryLimit", true},
                             {"SwapLimit", false},
                             {"CpuCfsPeriod", true},
                             {"CpuCfsQuota", true},
                             {"IPv4Forwarding", true},
                             {"Debug", false},
                             {"NFd", 0},
                             {"NGoroutines", 0},
                             {"SystemTime", ""},
                             {"LoggingDriver", "json-file"},
                             {"CgroupDriver", "cgroupfs"},
                             {"NEventsListener", 0},
                             {"KernelVersion", info.kernel_version},
                             {"OperatingSystem", info.operating_system},
                             {"OSType", "linux"},
                             {"Architecture", "x86_64"},
                             {"NCPU", info.ncpu},
                             {"MemTotal", info.mem_total},
                             {"IndexServerAddress", "https://index.docker.io/v1/"},
                             {"RegistryConfig", {{"IndexConfigs", json::object()}}},
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
                             {"SecurityOptions", json::array()},
                             {"Warnings", json::array()}});
}

http::Response Api::swarm_inspect() {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto c = (*store)->cluster();
  if (!c) return error_response(unavailable("the swarm's cluster object is not there yet; try again"));
  json j = api_json(json(*c));
  return json_response(200, j);
}

http::Response Api::swarm_init(const http::Request& req) {
  InitRequest ir;
  if (!req.body.empty()) {
    try {
      json j = json::parse(req.body);
      ir.listen_addr = j.value("ListenAddr", ir.listen_addr);
      ir.advertise_addr = j.value("AdvertiseAddr", "");
      if (j.contains("DefaultAddrPool") && j["DefaultAddrPool"].is_array()) {
        ir.default_addr_pool = j["DefaultAddrPool"].get<std::vector<std::string>>();
      }
      ir.subnet_size = j.value("SubnetSize", 24u);
      ir.data_path_port = j.value("DataPathPort", 4789u);
      ir.force_new_cluster = j.value("ForceNewCluster", false);
      if (j.contains("Spec")) ir.spec_json = j["Spec"].dump();
    } catch (const std::exception& e) {
      return error_response(invalid_argument(std::string("invalid JSON in the request body: ") + e.what()));
    }
  }
  if (ir.subnet_size < 8 || ir.subnet_size > 29) {
    return error_response(invalid_argument("SubnetSize must be between 8 and 29"));
  }
  auto id = control_.init(ir);
  if (!id.ok()) return error_response(id.status());
  return json_response(200, *id);
}

http::Response Api::swarm_leave(const http::Request& req) {
  std::string force = req.query_param("force").value_or("");
  Status st = control_.leave(force == "1" || force == "true" || force == "True");
  if (!st.ok()) return error_response(st);
  http::Response r;
  r.status = 200;
  return r;
}

}  // namespace shoal::api
