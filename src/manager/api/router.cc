#include "manager/api/router.h"

#include "common/json_limits.h"
#include "common/log.h"
#include "manager/api/api.h"

namespace shoal::api {

namespace {

// Compares dotted versions numerically, part by part, without converting
// (a part may have any number of digits); a missing part is 0.
int compare_versions(const std::string& a, const std::string& b) {
  auto parts = [](const std::string& v) {
    std::vector<std::string> out;
    size_t pos = 0;
    for (;;) {
      size_t dot = v.find('.', pos);
      std::string p = v.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
      p.erase(0, std::min(p.find_first_not_of('0'), p.size()));
      out.push_back(p);
      if (dot == std::string::npos) return out;
      pos = dot + 1;
    }
  };
  auto pa = parts(a), pb = parts(b);
  for (size_t i = 0; i < std::max(pa.size(), pb.size()); ++i) {
    std::string x = i < pa.size() ? pa[i] : "", y = i < pb.size() ? pb[i] : "";
    if (x.size() != y.size()) return x.size() < y.size() ? -1 : 1;
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

// Route families whose name starts with 'v' (not a version prefix).
bool is_v_family(const std::string& segment) { return segment == "version" || segment == "volumes"; }

}  // namespace

Result<ApiPath> parse_api_path(const std::string& raw) {
  ApiPath out;
  out.path = raw;
  // "/v<major>.<minor>/..." (Docker accepts any version from its minimum up
  // to its own). Any other first segment starting with 'v' that is not a
  // route family is a malformed version.
  if (raw.size() > 1 && raw[0] == '/' && raw[1] == 'v') {
    size_t slash = raw.find('/', 1);
    std::string segment = raw.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
    if (!is_v_family(segment)) {
      std::string version = segment.substr(1);
      bool numeric = !version.empty() && version.find_first_not_of("0123456789.") == std::string::npos &&
                     version.front() != '.' && version.back() != '.' && version.find("..") == std::string::npos;
      if (!numeric) {
        return invalid_argument("invalid API version " + quote_input(version) +
                                " in the request path: use a version like /v" + kApiVersion + "/ or none");
      }
      std::string shown = version.size() > 32 ? version.substr(0, 32) + "..." : version;
      if (compare_versions(version, kApiVersion) > 0) {
        return invalid_argument("client version " + shown +
                                " is too new. Maximum supported API version is " + kApiVersion);
      }
      if (compare_versions(version, kMinApiVersion) < 0) {
        return invalid_argument("client version " + shown +
                                " is too old. Minimum supported API version is " + kMinApiVersion +
                                ", please upgrade your client to a newer version");
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

Result<std::shared_ptr<Store>> Api::manager_store() {
  std::shared_ptr<Store> s = control_.store();
  if (!s) return unavailable(kNotSwarmManager);
  return s;
}

void Api::serve(http::Exchange ex) {
  if (ex.start_stream && serve_logs_follow(ex)) return;
  ex.respond(handle(ex.request));
}

http::Response Api::handle(const http::Request& req) {
  http::Response r;
  auto path = parse_api_path(req.path);
  if (!path.ok()) {
    r = error_response(path.status());
  } else {
    try {
      r = route(req, *path);
    } catch (const std::exception& e) {
      LOG_ERROR("api", req.method << " " << req.path.substr(0, 128) << ": " << e.what());
      r = error_response(internal_error("internal error: " + std::string(e.what()).substr(0, 512)));
    } catch (...) {
      LOG_ERROR("api", req.method << " " << req.path.substr(0, 128) << ": unknown exception");
      r = error_response(internal_error("internal error: the request handler failed"));
    }
  }
  r.headers["Api-Version"] = kApiVersion;
  r.headers["Docker-Experimental"] = "false";
  r.headers["Ostype"] = "linux";
  r.headers["Server"] = std::string("shoal/") + kEngineVersion + " (linux)";
  if (req.method == "HEAD") r.body.clear();
  if (r.status >= 400) {
    LOG_DEBUG("api", req.method << " " << req.path.substr(0, 128) << " -> " << r.status << " " << r.body.substr(0, 512));
  }
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
    if (p[1] == "join") return swarm_join(req);
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

  if (m == "POST" && at(2, "networks") && p[1] == "create") return networks_create(req);
  if (m == "POST" && at(2, "networks") && p[1] == "prune") return networks_prune(req);
  if (get && at(1, "networks")) return networks_list(req);
  if (get && at(2, "networks")) return network_inspect(p[1], req);
  if (m == "DELETE" && at(2, "networks")) return network_delete(p[1]);
  if (m == "POST" && at(3, "networks") && (p[2] == "connect" || p[2] == "disconnect")) return network_connect(p[1]);

  if (get && at(1, "tasks")) return tasks_list(req);
  if (get && at(2, "tasks")) return task_inspect(p[1]);

  if (get && at(2, "containers") && p[1] == "json") return containers_list(req);
  if (m == "POST" && at(3, "containers") && p[2] == "kill") return container_kill(p[1], req);
  if (get && at(3, "containers") && p[2] == "json") return container_inspect(p[1]);
  if (get && at(3, "containers") && p[2] == "logs") return container_logs(p[1], req);
  if (m == "POST" && at(3, "containers") && p[2] == "exec") return exec_create(p[1], req);
  if (m == "POST" && at(3, "exec") && p[2] == "start") return exec_start(p[1], req);
  if (m == "POST" && at(3, "exec") && p[2] == "resize") return exec_resize(p[1], req);
  if (get && at(3, "exec") && p[2] == "json") return exec_inspect(p[1]);

  return error_response(404, "page not found");
}

}  // namespace shoal::api
