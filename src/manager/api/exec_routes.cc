// `docker exec` and `docker inspect CONTAINER` on this node:
// POST /containers/{id}/exec, POST /exec/{id}/start (the hijacked stream),
// POST /exec/{id}/resize, GET /exec/{id}/json, GET /containers/{id}/json.
#include <set>

#include "common/json_limits.h"
#include "common/time.h"
#include "manager/api/api.h"

namespace shoal::api {

namespace {

// Exec ids are shoal's own 64 hex characters: anything else is no exec.
bool is_exec_id(const std::string& id) {
  return id.size() == 64 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

Result<bool> opt_bool(const json& body, const char* key) {
  if (!body.contains(key) || body[key].is_null()) return false;
  if (!body[key].is_boolean()) return invalid_argument(std::string(key) + " must be true or false");
  return body[key].get<bool>();
}

Result<std::string> opt_string(const json& body, const char* key, size_t max) {
  if (!body.contains(key) || body[key].is_null()) return std::string();
  if (!body[key].is_string()) return invalid_argument(std::string(key) + " must be a string");
  std::string s = body[key].get<std::string>();
  if (s.size() > max) return invalid_argument(std::string(key) + " is longer than " + std::to_string(max) + " bytes");
  if (s.find('\0') != std::string::npos) return invalid_argument(std::string(key) + " holds a NUL byte");
  return s;
}

Result<std::vector<std::string>> opt_strings(const json& body, const char* key) {
  constexpr size_t kMaxItems = 4096, kMaxBytes = 1 << 20;
  std::vector<std::string> out;
  if (!body.contains(key) || body[key].is_null()) return out;
  if (!body[key].is_array()) return invalid_argument(std::string(key) + " must be a list of strings");
  size_t bytes = 0;
  for (const auto& v : body[key]) {
    if (!v.is_string()) return invalid_argument(std::string(key) + " must be a list of strings");
    out.push_back(v.get<std::string>());
    bytes += out.back().size();
    if (out.back().find('\0') != std::string::npos) return invalid_argument(std::string(key) + " holds a NUL byte");
  }
  if (out.size() > kMaxItems || bytes > kMaxBytes) return invalid_argument(std::string(key) + " is too large");
  return out;
}

// Docker's [height, width], both 0 to 65535; nullopt when absent.
Result<std::optional<std::pair<int, int>>> console_size(const json& body) {
  if (!body.contains("ConsoleSize") || body["ConsoleSize"].is_null()) return std::optional<std::pair<int, int>>();
  const json& c = body["ConsoleSize"];
  if (!c.is_array() || c.size() != 2 || !c[0].is_number_unsigned() || !c[1].is_number_unsigned() ||
      c[0].get<uint64_t>() > 65535 || c[1].get<uint64_t>() > 65535) {
    return invalid_argument("ConsoleSize must be [height, width], each from 0 to 65535");
  }
  return std::optional<std::pair<int, int>>(std::pair<int, int>(c[0].get<int>(), c[1].get<int>()));
}

Result<ExecOptions> parse_exec_config(const std::string& text) {
  SHOAL_ASSIGN_OR_RETURN(json body, parse_json_body(text, "an exec configuration"));
  if (!body.is_object()) return invalid_argument("the exec configuration must be a JSON object");
  static const std::set<std::string> kKnown = {"AttachStdin", "AttachStdout", "AttachStderr", "DetachKeys",
                                               "Tty",         "Env",          "Cmd",          "Privileged",
                                               "User",        "WorkingDir",   "ConsoleSize",  "Detach"};
  for (const auto& [k, _] : body.items()) {
    if (!kKnown.count(k)) return invalid_argument("unknown exec field " + shown_input(k) + ": shoal does not support it");
  }
  ExecOptions o;
  SHOAL_ASSIGN_OR_RETURN(o.attach_stdin, opt_bool(body, "AttachStdin"));
  SHOAL_ASSIGN_OR_RETURN(o.attach_stdout, opt_bool(body, "AttachStdout"));
  SHOAL_ASSIGN_OR_RETURN(o.attach_stderr, opt_bool(body, "AttachStderr"));
  SHOAL_ASSIGN_OR_RETURN(o.tty, opt_bool(body, "Tty"));
  // Detach is decided by the start request, here as in Docker (whose CLI
  // sends it in both): only its type is checked.
  SHOAL_RETURN_IF_ERROR(opt_bool(body, "Detach").status());
  SHOAL_ASSIGN_OR_RETURN(bool privileged, opt_bool(body, "Privileged"));
  if (privileged) {
    return invalid_argument("privileged exec is not supported by shoal: the process runs with the container's "
                            "own privileges; run without --privileged");
  }
  SHOAL_ASSIGN_OR_RETURN(std::string detach_keys, opt_string(body, "DetachKeys", 256));
  if (!detach_keys.empty()) {
    return invalid_argument("detach keys are not supported by shoal yet: run without --detach-keys (and without "
                            "detachKeys in the docker config)");
  }
  SHOAL_ASSIGN_OR_RETURN(o.cmd, opt_strings(body, "Cmd"));
  if (o.cmd.empty() || o.cmd[0].empty()) return invalid_argument("No exec command specified");
  SHOAL_ASSIGN_OR_RETURN(o.env, opt_strings(body, "Env"));
  for (const auto& e : o.env) {
    if (e.empty() || e[0] == '=') return invalid_argument("invalid environment variable " + shown_input(e));
  }
  SHOAL_ASSIGN_OR_RETURN(o.user, opt_string(body, "User", 256));
  SHOAL_ASSIGN_OR_RETURN(o.workdir, opt_string(body, "WorkingDir", 4096));
  if (!o.workdir.empty() && o.workdir[0] != '/') {
    return invalid_argument("the working directory " + shown_input(o.workdir) + " is invalid: it must be absolute");
  }
  SHOAL_ASSIGN_OR_RETURN(auto size, console_size(body));
  if (size) o.console_rows = size->first, o.console_cols = size->second;  // the terminal's size from its start
  return o;
}

json exec_json(const ExecInfo& e) {
  const ExecOptions& o = e.options;
  json args = json::array();
  for (size_t i = 1; i < o.cmd.size(); ++i) args.push_back(o.cmd[i]);
  return {{"ID", e.id},
          {"Running", e.running},
          {"ExitCode", e.exit_code ? json(*e.exit_code) : json(nullptr)},
          {"ProcessConfig",
           {{"tty", o.tty}, {"entrypoint", o.cmd.empty() ? "" : o.cmd[0]}, {"arguments", args},
            {"privileged", false}, {"user", o.user}}},
          {"OpenStdin", o.attach_stdin},
          {"OpenStderr", o.attach_stderr},
          {"OpenStdout", o.attach_stdout},
          {"CanRemove", false},
          {"ContainerID", e.container_id},
          {"DetachKeys", ""},
          {"Pid", e.pid}};
}

}  // namespace

http::Response Api::exec_create(const std::string& ref, const http::Request& req) {
  if (!containers_) return error_response(not_found("No such container: " + shown_input(ref)));
  auto o = parse_exec_config(req.body);
  if (!o.ok()) return error_response(o.status());
  auto id = containers_->exec_create(ref, *o);
  if (!id.ok()) return error_response(id.status());
  return json_response(201, {{"Id", *id}});
}

http::Response Api::exec_start(const std::string& id, const http::Request& req) {
  if (!containers_ || !is_exec_id(id)) return error_response(not_found("No such exec instance: " + shown_input(id)));
  auto body = parse_json_body(req.body.empty() ? "{}" : req.body, "an exec start configuration");
  if (!body.ok()) return error_response(body.status());
  if (!body->is_object()) return error_response(invalid_argument("the exec start configuration must be a JSON object"));
  for (const auto& [k, _] : body->items()) {
    if (k != "Detach" && k != "Tty" && k != "ConsoleSize") {
      return error_response(invalid_argument("unknown exec start field " + shown_input(k)));
    }
  }
  auto detach = opt_bool(*body, "Detach");
  if (!detach.ok()) return error_response(detach.status());
  // Tty here only chooses the stream's Content-Type from API 1.42 on; at
  // 1.41 the instance's own Tty (from its create) decides everything.
  if (auto tty = opt_bool(*body, "Tty"); !tty.ok()) return error_response(tty.status());
  auto size = console_size(*body);
  if (!size.ok()) return error_response(size.status());
  auto h = *size ? containers_->exec_start(id, (*size)->first, (*size)->second) : containers_->exec_start(id, 0, 0);
  if (!h.ok()) return error_response(h.status());
  if (*detach) return empty_response(200);  // the process runs on; its output is dropped
  http::Response r;
  // As Docker answers: 101 to a client that asked to upgrade, else 200, then the raw stream.
  bool upgrade = false;
  if (auto it = req.headers.find("Upgrade"); it != req.headers.end() && !it->second.empty()) upgrade = true;
  r.status = upgrade ? 101 : 200;
  r.headers["Content-Type"] = "application/vnd.docker.raw-stream";
  if (upgrade) {
    r.headers["Connection"] = "Upgrade";
    r.headers["Upgrade"] = "tcp";
  }
  r.hijack = *h;
  return r;
}

http::Response Api::exec_resize(const std::string& id, const http::Request& req) {
  if (!containers_ || !is_exec_id(id)) return error_response(not_found("No such exec instance: " + shown_input(id)));
  auto num = [&](const char* key) -> int {
    std::string v = req.query_param(key).value_or("");
    if (v.empty() || v.size() > 5 || v.find_first_not_of("0123456789") != std::string::npos) return -1;
    int n = std::stoi(v);
    return n <= 65535 ? n : -1;
  };
  int h = num("h"), w = num("w");
  if (h < 0 || w < 0) return error_response(invalid_argument("h and w must be whole numbers from 0 to 65535"));
  Status st = containers_->exec_resize(id, h, w);
  if (!st.ok()) return error_response(st);
  return empty_response(201);
}

http::Response Api::exec_inspect(const std::string& id) {
  if (!containers_ || !is_exec_id(id)) return error_response(not_found("No such exec instance: " + shown_input(id)));
  auto e = containers_->exec_inspect(id);
  if (!e.ok()) return error_response(e.status());
  return json_response(200, exec_json(*e));
}

http::Response Api::container_inspect(const std::string& ref) {
  if (!containers_) return error_response(not_found("No such container: " + shown_input(ref)));
  auto d = containers_->inspect(ref);
  if (!d.ok()) return error_response(d.status());
  const ContainerSummary& s = d->summary;
  json args = json::array();
  for (size_t i = 1; i < d->args.size(); ++i) args.push_back(d->args[i]);
  const bool running = s.state == "running";
  return json_response(
      200, {{"Id", s.id},
            {"Created", format_rfc3339(std::chrono::system_clock::time_point(std::chrono::seconds(s.created)))},
            {"Path", d->args.empty() ? "" : d->args[0]},
            {"Args", args},
            {"State",
             {{"Status", s.state}, {"Running", running}, {"Paused", false}, {"Restarting", false},
              {"OOMKilled", false}, {"Dead", false}, {"Pid", d->pid}, {"ExitCode", d->exit_code},
              {"Error", d->error}, {"StartedAt", d->started_at}, {"FinishedAt", d->finished_at}}},
            {"Image", s.image},
            {"Name", s.names.empty() ? "" : s.names[0]},
            {"RestartCount", 0},
            {"Driver", "overlay"},
            {"Platform", "linux"},
            {"LogPath", d->log_path},
            {"Config",
             {{"Hostname", d->hostname}, {"Image", s.image}, {"Tty", false}, {"OpenStdin", false},
              {"Cmd", d->args}, {"Labels", s.labels.empty() ? json::object() : json(s.labels)}}},
            {"HostConfig", {{"NetworkMode", "default"}, {"LogConfig", {{"Type", "json-file"}, {"Config", json::object()}}}}},
            {"NetworkSettings", {{"Networks", json::object()}}},
            {"Mounts", json::array()}});
}

}  // namespace shoal::api
