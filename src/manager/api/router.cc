#include "manager/api/router.h"

#include "common/log.h"
#include "manager/api/api.h"

namespace shoal::api {

Result<ApiPath> parse_api_path(const std::string& raw) {
  ApiPath out;
  out.path = raw;
  // "/v<major>.<minor>/..." (Docker accepts any version up to its own).
  if (raw.size() > 2 && raw[0] == '/' && raw[1] == 'v' && std::isdigit(static_cast<unsigned char>(raw[2]))) {
    size_t slash = raw.find('/', 1);
    std::string version = raw.substr(2, slash == std::string::npos ? std::string::npos : slash - 2);
    size_t dot = version.find('.');
    bool numeric = dot != std::string::npos && dot > 0 && dot + 1 < version.size() &&
                   version.find_first_not_of("0123456789.") == std::string::npos &&
                   version.find('.', dot + 1) == std::string::npos;
    if (numeric) {
      int major = std::stoi(version.substr(0, dot)), minor = std::stoi(version.substr(dot + 1));
      if (major > 1 || (major == 1 && minor > 41)) {
        return invalid_argument("client version " + version + " is too new. Maximum supported API version is " +
                                kApiVersion);
      }
      out.path = slash == std::string::npos ? "/" : raw.substr(slash);
    }
  }
  while (out.path.size() > 1 && out.path.back() == '/') out.path.pop_back();
  size_t pos = 0;
  while (pos < out.path.size()) {
    size_t next = out.path.find('/', pos);
    if (next == std::string::npos) next = out.path.size();
    if (next > pos) out.parts.push_back(out.path.substr(pos, next - pos));
    pos = next + 1;
  }
  return out;
}

Api::Api(SwarmControl& control, LocalContainers* containers, Clock& clock)
    : control_(control), containers_(containers), clock_(clock) {}

Result<Store*> Api::manager_store() {
  Store* s = control_.store();
  if (!s) return unavailable(kNotSwarmManager);
  return s;
}

void Api::serve(http::Exchange ex) { ex.respond(handle(ex.request)); }

http::Response Api::handle(const http::Request& req) {
  http::Response r;
  auto path = parse_api_path(req.path);
  if (!path.ok()) {
    r = error_response(path.status());
  } else {
    try {
      r = route(req, *path);
    } catch (const std::exception& e) {
      LOG_ERROR("api", req.method << " " << req.path << ": " << e.what());
      r = error_response(internal_error(std::string("internal error: ") + e.what()));
    }
  }
  r.headers["Api-Version"] = kApiVersion;
  r.headers["Docker-Experimental"] = "false";
  r.headers["Ostype"] = "linux";
  r.headers["Server"] = std::string("shoal/") + kEngineVersion + " (linux)";
  if (req.method == "HEAD") r.body.clear();
  if (r.status >= 400) LOG_DEBUG("api", req.method << " " << req.path << " -> " << r.status << " " << r.body);
  return r;
}

http::Response Api::route(const http::Request& req, const ApiPath& ap) {
  const std::string& path = ap.path;
  const auto& p = ap.parts;
  const std::string& m = req.method;
  auto at = [&](size_t n, const char* family) { return p.size() == n && p[0] == family; };
  bool get = m == "GET" || m == "HEAD";

  if (get && path == "/_ping") return system_ping(req);
  if (get && path == "/version") return system_version();
  if (get && path == "/info") return system_info();

  if (get && at(1, "swarm")) return swarm_inspect();
  if (get && at(2, "swarm") && p[1] == "unlockkey") return swarm_unlockkey();
  if (m == "POST" && at(2, "swarm")) {
    if (p[1] == "init") return swarm_init(req);
    if (p[1] == "leave") return swarm_leave(req);
    if (p[1] == "update") return swarm_update(req);
    if (p[1] == "join") {
      return error_response(501, "joining an existing swarm through the Docker API is not supported by shoal yet");
    }
    if (p[1] == "unlock") return error_response(failed_precondition("swarm is not locked: autolock is not enabled"));
  }

  if (get && at(1, "nodes")) return nodes_list(req);
  if (get && at(2, "nodes")) return node_inspect(p[1]);
  if (m == "POST" && at(3, "nodes") && p[2] == "update") return node_update(p[1], req);
  if (m == "DELETE" && at(2, "nodes")) return node_delete(p[1], req);

  if (m == "POST" && at(2, "services") && p[1] == "create") return services_create(req);
  if (get && at(1, "services")) return services_list(req);
  if (get && at(2, "services")) return service_inspect(p[1], req);
  if (m == "POST" && at(3, "services") && p[2] == "update") return service_update(p[1], req);
  if (m == "DELETE" && at(2, "services")) return service_delete(p[1]);
  if (get && at(3, "services") && p[2] == "logs") return service_logs(p[1], req);

  if (get && at(1, "tasks")) return tasks_list(req);
  if (get && at(2, "tasks")) return task_inspect(p[1]);

  if (get && at(2, "containers") && p[1] == "json") return containers_list(req);
  if (m == "POST" && at(3, "containers") && p[2] == "kill") return container_kill(p[1], req);

  return error_response(404, "page not found");
}

}  // namespace shoal::api
