// /containers on this node: list (Docker's summary shape) and kill.
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "manager/api/api.h"
#include "common/json_limits.h"
#include "manager/api/filters.h"

namespace shoal::api {

namespace {

// "KILL", "SIGKILL", "9" -> 9; 0 when unknown.
int parse_signal(const std::string& text) {
  static const std::pair<const char*, int> kSigs[] = {
      {"KILL", SIGKILL}, {"TERM", SIGTERM}, {"INT", SIGINT},   {"HUP", SIGHUP},     {"QUIT", SIGQUIT},
      {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"STOP", SIGSTOP}, {"CONT", SIGCONT},   {"ABRT", SIGABRT},
      {"ALRM", SIGALRM}, {"PIPE", SIGPIPE}, {"WINCH", SIGWINCH}, {"TRAP", SIGTRAP}};
  std::string s = text;
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (s.rfind("SIG", 0) == 0) s = s.substr(3);
  for (const auto& [name, num] : kSigs)
    if (s == name) return num;
  if (!s.empty() && s.size() <= 2 && s.find_first_not_of("0123456789") == std::string::npos) {
    int n = std::stoi(s);
    return n >= 1 && n <= 64 ? n : 0;
  }
  return 0;
}

// Docker's Port objects from "8081:8000/tcp" (published:target/protocol):
// {"IP": "0.0.0.0", "PrivatePort": 8000, "PublicPort": 8081, "Type": "tcp"}.
// A malformed entry (not written by shoal) is left out.
json ports_json(const std::vector<std::string>& ports) {
  json out = json::array();
  for (const auto& p : ports) {
    unsigned pub = 0, target = 0;
    char proto[8] = {};
    if (std::sscanf(p.c_str(), "%5u:%5u/%7s", &pub, &target, proto) != 3 || pub > 65535 || target > 65535) continue;
    out.push_back({{"IP", "0.0.0.0"}, {"PrivatePort", target}, {"PublicPort", pub}, {"Type", std::string(proto)}});
  }
  return out;
}

}  // namespace

// GET /containers/json: all, limit and the filters id (prefix), name (a part
// of a name: Docker takes a regular expression, shoal a literal, so that no
// input can make matching slow), label and status. size is refused (501):
// shoal does not compute a container's disk usage, and answering 0 would lie.
http::Response Api::containers_list(const http::Request& req) {
  auto filters = parse_filters(req.query_param("filters").value_or(""), {"id", "name", "label", "status"});
  if (!filters.ok()) return error_response(filters.status());
  if (truthy(req.query_param("size").value_or(""))) {
    return error_response(unimplemented("size=true is not supported: shoal does not compute containers' sizes; "
                                        "list without --size"));
  }
  int64_t limit = -1;
  if (auto l = req.query_param("limit"); l && !l->empty()) {
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(l->c_str(), &end, 10);
    if (*end != '\0' || errno != 0 || l->size() > 18) {
      return error_response(invalid_argument("invalid limit " + shown_input(*l) + ": give a whole number"));
    }
    limit = v;
  }
  if (!containers_) return json_response(200, json::array());
  bool all = truthy(req.query_param("all").value_or("")) || limit > 0 || filters->count("status") > 0;
  json out = json::array();
  auto list = containers_->list(all);
  // Newest first, as Docker lists them (limit keeps the newest).
  std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.created > b.created; });
  for (const auto& c : list) {
    if (limit > 0 && static_cast<int64_t>(out.size()) >= limit) break;
    if (!any_of(*filters, "id", [&](const std::string& v) { return has_prefix(c.id, v); })) continue;
    if (!any_of(*filters, "name", [&](const std::string& v) {
          for (const auto& n : c.names)
            if (n.find(v) != std::string::npos) return true;
          return false;
        })) continue;
    if (!labels_match_all(*filters, "label", c.labels)) continue;
    if (!any_of(*filters, "status", [&](const std::string& v) { return c.state == v; })) continue;
    out.push_back({{"Id", c.id},
                   {"Names", c.names},
                   {"Image", c.image},
                   {"ImageID", ""},
                   {"Command", c.command},
                   {"Created", c.created},
                   {"Ports", ports_json(c.ports)},
                   {"Labels", c.labels.empty() ? json::object() : json(c.labels)},
                   {"State", c.state},
                   {"Status", c.status},
                   {"HostConfig", {{"NetworkMode", "default"}}},
                   {"NetworkSettings", {{"Networks", json::object()}}},
                   {"Mounts", json::array()}});
  }
  return json_response(200, out);
}

http::Response Api::container_kill(const std::string& ref, const http::Request& req) {
  if (!containers_) return error_response(not_found("No such container: " + shown_input(ref)));
  std::string sig = req.query_param("signal").value_or("");
  if (sig.empty()) sig = "KILL";
  int num = parse_signal(sig);
  if (num == 0) return error_response(invalid_argument("invalid signal: " + shown_input(sig) + " (use a name such as SIGTERM or a number from 1 to 64)"));
  Status st = containers_->kill(ref, num);
  if (!st.ok()) return error_response(st);
  return empty_response(204);
}

}  // namespace shoal::api
