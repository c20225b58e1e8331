#include "manager/api/api.h"

#include <regex>

#include "common/log.h"

namespace shoal::api {

http::Response json_response(int status, const json& body) {
  http::Response r;
  r.status = status;
  r.body = body.dump();
  r.headers["Content-Type"] = "application/json";
  return r;
}

int http_status(Code code) {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kInvalidArgument: return 400;
    case Code::kFailedPrecondition: return 400;
    case Code::kNotFound: return 404;
    case Code::kAlreadyExists:
    case Code::kConflict: return 409;
    case Code::kPermissionDenied: return 403;
    case Code::kUnavailable: return 503;
    case Code::kDeadlineExceeded: return 504;
    case Code::kInternal: return 500;
  }
  return 500;
}

http::Response error_response(const Status& st) {
  return json_response(http_status(st.code()), {{"message", st.message()}});
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
  static const std::regex kVersioned(R"(^/v(\d+)\.(\d+)(/.*)$)");
  std::smatch m;
  std::string path = req.path;
  if (std::regex_match(path, m, kVersioned)) {
    int major = std::stoi(m[1]), minor = std::stoi(m[2]);
    if (major > 1 || (major == 1 && minor > 41)) {
      return error_response(invalid_argument("client version " + m[1].str() + "." + m[2].str() +
                                             " is too new. Maximum supported API version is 1.41"));
    }
    path = m[3];
  }
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  http::Response r;
  try {
    r = route(req.method, path, req);
  } catch (const std::exception& e) {
    LOG_ERROR("api", req.method << " " << req.path << ": " << e.what());
    r = error_response(internal_error(std::string("internal error: ") + e.what()));
  }
  r.headers["Api-Version"] = kApiVersion;
  r.headers["Docker-Experimental"] = "false";
  r.headers["Ostype"] = "linux";
  r.headers["Server"] = std::string("shoal/") + kEngineVersion;
  if (r.status >= 400) LOG_DEBUG("api", req.method << " " << req.path << " -> " << r.status << " " << r.body);
  return r;
}

http::Response Api::route(const std::string& method, const std::string& path, const http::Request& req) {
  // /<family>[/<id>[/<action>]]
  std::vector<std::string> parts;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    if (next > pos) parts.push_back(path.substr(pos, next - pos));
    pos = next + 1;
  }
  auto is = [&](const char* m, size_t n, const char* family) {
    return method == m && parts.size() == n && !parts.empty() && parts[0] == family;
  };
  if ((method == "GET" || method == "HEAD") && path == "/_ping") return system_ping(req);
  if (method == "GET" && path == "/version") return system_version();
  if (method == "GET" && path == "/info") return system_info();
  if (is("GET", 1, "swarm")) return swarm_inspect();
  if (is("POST", 2, "swarm") && parts[1] == "init") return swarm_init(req);
  if (is("POST", 2, "swarm") && parts[1] == "leave") return swarm_leave(req);
  if (is("GET", 1, "nodes")) return nodes_list(req);
  if (is("GET", 2, "nodes")) return node_inspect(parts[1]);
  if (is("POST", 3, "nodes") && parts[2] == "update") return node_update(parts[1], req);
  if (is("POST", 2, "services") && parts[1] == "create") return services_create(req);
  if (is("GET", 1, "services")) return services_list(req);
  if (is("GET", 2, "services")) return service_inspect(parts[1]);
  if (is("POST", 3, "services") && parts[2] == "update") return service_update(parts[1], req);
  if (is("DELETE", 2, "services")) return service_delete(parts[1]);
  if (is("GET", 3, "services") && parts[2] == "logs") return service_logs(parts[1], req);
  if (is("GET", 1, "tasks")) return tasks_list(req);
  if (is("GET", 2, "tasks")) return task_inspect(parts[1]);
  if (is("GET", 2, "containers") && parts[1] == "json") return containers_list(req);
  if (is("POST", 3, "containers") && parts[2] == "kill") return container_kill(parts[1], req);
  return json_response(404, {{"message", "page not found"}});
}

}  // namespace shoal::api
