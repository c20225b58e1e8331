#include "cli/service_spec.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "cli/units.h"
#include "common/seccomp_profile.h"

namespace shoal::cli {

using nlohmann::json;

namespace {

constexpr int64_t kSecond = 1000000000;

void add_common_flags(FlagSet& fs, bool update) {
  fs.add_bool("detach", 'd', "Exit immediately instead of waiting for the service to converge");
  fs.add_bool("quiet", 'q', "Suppress progress output");
  fs.add("replicas", 0, "uint", "Number of tasks");
  fs.add("workdir", 'w', "string", "Working directory inside the container");
  fs.add("user", 'u', "string", "Username or UID (format: <name|uid>[:<group|gid>])");
  fs.add("hostname", 0, "string", "Container hostname");
  fs.add("entrypoint", 0, "command", "Overwrite the default ENTRYPOINT of the image");
  fs.add_bool("read-only", 0, "Mount the container's root filesystem as read only");
  fs.add("security-opt", 0, "list",
         "Security options: seccomp=unconfined|default|<profile file>, no-new-privileges[=true|false]");
  fs.add_bool("init", 0, "Use an init inside each service container to forward signals and reap processes");
  fs.add_bool("tty", 't', "Allocate a pseudo-TTY");
  fs.add("stop-grace-period", 0, "duration", "Time to wait before force killing a container (ns|us|ms|s|m|h) (default 10s)");
  fs.add("stop-signal", 0, "string", "Signal to stop the container");
  fs.add("restart-condition", 0, "string", "Restart when condition is met (\"none\"|\"on-failure\"|\"any\") (default \"any\")");
  fs.add("restart-delay", 0, "duration", "Delay between restart attempts (ns|us|ms|s|m|h) (default 5s)");
  fs.add("restart-max-attempts", 0, "uint", "Maximum number of restarts before giving up");
  fs.add("restart-window", 0, "duration", "Window used to evaluate the restart policy (ns|us|ms|s|m|h)");
  fs.add("update-parallelism", 0, "uint", "Maximum number of tasks updated simultaneously (0 to update all at once)", "1");
  fs.add("update-delay", 0, "duration", "Delay between updates (ns|us|ms|s|m|h) (default 0s)");
  fs.add("update-monitor", 0, "duration", "Duration after each task update to monitor for failure (ns|us|ms|s|m|h) (default 5s)");
  fs.add("update-failure-action", 0, "string", "Action on update failure (\"pause\"|\"continue\"|\"rollback\") (default \"pause\")");
  fs.add("update-max-failure-ratio", 0, "float", "Failure rate to tolerate during an update (default 0)");
  fs.add("update-order", 0, "string", "Update order (\"start-first\"|\"stop-first\") (default \"stop-first\")");
  fs.add("rollback-parallelism", 0, "uint", "Maximum number of tasks rolled back simultaneously (0 to roll back all at once)", "1");
  fs.add("rollback-delay", 0, "duration", "Delay between task rollbacks (ns|us|ms|s|m|h) (default 0s)");
  fs.add("rollback-monitor", 0, "duration", "Duration after each task rollback to monitor for failure (ns|us|ms|s|m|h) (default 5s)");
  fs.add("rollback-failure-action", 0, "string", "Action on rollback failure (\"pause\"|\"continue\") (default \"pause\")");
  fs.add("rollback-max-failure-ratio", 0, "float", "Failure rate to tolerate during a rollback (default 0)");
  fs.add("rollback-order", 0, "string", "Rollback order (\"start-first\"|\"stop-first\") (default \"stop-first\")");
  fs.add("limit-cpu", 0, "decimal", "Limit CPUs");
  fs.add("limit-memory", 0, "bytes", "Limit Memory");
  fs.add("reserve-cpu", 0, "decimal", "Reserve CPUs");
  fs.add("reserve-memory", 0, "bytes", "Reserve Memory");
  fs.add("endpoint-mode", 0, "string", "Endpoint mode (vip or dnsrr)", update ? "" : "vip");
  fs.add_bool("with-registry-auth", 0, "Send registry authentication details to swarm agents");
  fs.add_bool("no-resolve-image", 0, "Do not query the registry to resolve image digest and supported platforms");
}

}  // namespace

void add_service_create_flags(FlagSet& fs) {
  add_common_flags(fs, false);
  fs.add("name", 0, "string", "Service name");
  fs.add("mode", 0, "string", "Service mode (\"replicated\", \"global\", \"replicated-job\", \"global-job\")", "replicated");
  fs.add("env", 'e', "list", "Set environment variables");
  fs.add("env-file", 0, "list", "Read in a file of environment variables");
  fs.add("label", 'l', "list", "Service labels");
  fs.add("container-label", 0, "list", "Container labels");
  fs.add("constraint", 0, "list", "Placement constraints");
  fs.add("publish", 'p', "port", "Publish a port as a node port");
  fs.add("network", 0, "network", "Network attachments");
  fs.set_interspersed(false);
}

void add_service_update_flags(FlagSet& fs) {
  add_common_flags(fs, true);
  fs.add("image", 0, "string", "Service image tag");
  fs.add("args", 0, "command", "Service command args");
  fs.add_bool("force", 0, "Force update even if no changes require it");
  fs.add_bool("rollback", 0, "Rollback to previous specification");
  fs.add("env-add", 0, "list", "Add or update an environment variable");
  fs.add("env-rm", 0, "list", "Remove an environment variable");
  fs.add("label-add", 0, "list", "Add or update a service label");
  fs.add("label-rm", 0, "list", "Remove a label by its key");
  fs.add("container-label-add", 0, "list", "Add or update a container label");
  fs.add("container-label-rm", 0, "list", "Remove a container label by its key");
  fs.add("constraint-add", 0, "list", "Add or update a placement constraint");
  fs.add("constraint-rm", 0, "list", "Remove a constraint");
  fs.add("publish-add", 0, "port", "Add or update a published port");
  fs.add("publish-rm", 0, "port", "Remove a published port by its target port");
  fs.add("network-add", 0, "network", "Add a network");
  fs.add("network-rm", 0, "list", "Remove a network");
}

std::string normalize_image(const std::string& image) {
  if (image.find('@') != std::string::npos) return image;
  size_t slash = image.rfind('/');
  size_t colon = image.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) return image;
  return image + ":latest";
}

Result<std::vector<std::string>> shell_split(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (c == quote) {
        quote = 0;
      } else if (c == '\\' && quote == '"' && i + 1 < s.size()) {
        cur += s[++i];
      } else {
        cur += c;
      }
    } else if (c == '"' || c == '\'') {
      quote = c;
      in_word = true;
    } else if (c == '\\' && i + 1 < s.size()) {
      cur += s[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) out.push_back(cur);
      cur.clear();
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (quote) return invalid_argument("EOF found when expecting closing quote");
  if (in_word) out.push_back(cur);
  return out;
}

namespace {

Result<std::pair<int64_t, int64_t>> parse_port_range(const std::string& s, const std::string& whole) {
  auto bad = [&] { return invalid_argument("invalid containerPort: " + s); };
  auto num = [](const std::string& t, int64_t* v) {
    if (t.empty() || t.size() > 5 || !std::all_of(t.begin(), t.end(), ::isdigit)) return false;
    *v = std::stoll(t);
    return *v <= 65535;
  };
  auto dash = s.find('-');
  int64_t a, b;
  if (dash == std::string::npos) {
    if (!num(s, &a)) return bad();
    return std::make_pair(a, a);
  }
  if (!num(s.substr(0, dash), &a) || !num(s.substr(dash + 1), &b) || b < a) return bad();
  return std::make_pair(a, b);
}

}  // namespace

Result<std::vector<json>> parse_publish(const std::string& value) {
  std::vector<json> out;
  if (value.find('=') != std::string::npos) {
    json p = {{"Protocol", "tcp"}, {"PublishMode", "ingress"}};
    bool have_target = false;
    std::stringstream ss(value);
    std::string field;
    while (std::getline(ss, field, ',')) {
      auto eq = field.find('=');
      if (eq == std::string::npos) return invalid_argument("invalid field '" + field + "' must be a key=value pair");
      std::string k = field.substr(0, eq), v = field.substr(eq + 1);
      std::transform(k.begin(), k.end(), k.begin(), ::tolower);
      if (k == "protocol") {
        if (v != "tcp" && v != "udp" && v != "sctp") return invalid_argument("invalid protocol value '" + v + "'");
        p["Protocol"] = v;
      } else if (k == "mode") {
        if (v != "ingress" && v != "host") return invalid_argument("invalid publish mode value (" + v + "): must be either 'ingress' or 'host'");
        p["PublishMode"] = v;
      } else if (k == "target" || k == "published") {
        if (v.empty() || !std::all_of(v.begin(), v.end(), ::isdigit) || v.size() > 5 || std::stol(v) > 65535)
          return invalid_argument("invalid " + k + " port (" + v + "): value must be an integer");
        p[k == "target" ? "TargetPort" : "PublishedPort"] = std::stol(v);
        if (k == "target") have_target = true;
      } else {
        return invalid_argument("invalid field key " + k);
      }
    }
    if (!have_target) return invalid_argument("missing mandatory field \"target\"");
    out.push_back(p);
    return out;
  }
  std::string spec = value, proto = "tcp";
  if (auto sl = spec.find('/'); sl != std::string::npos) {
    proto = spec.substr(sl + 1);
    spec = spec.substr(0, sl);
    std::transform(proto.begin(), proto.end(), proto.begin(), ::tolower);
    if (proto != "tcp" && proto != "udp" && proto != "sctp") return invalid_argument("invalid proto: " + proto);
  }
  std::vector<std::string> parts;
  std::stringstream ss(spec);
  std::string part;
  while (std::getline(ss, part, ':')) parts.push_back(part);
  if (parts.empty() || parts.size() > 3) return invalid_argument("invalid port format: " + value);
  if (parts.size() == 3) return invalid_argument("hostip is not supported: " + value);
  SHOAL_ASSIGN_OR_RETURN(auto target, parse_port_range(parts.back(), value));
  bool has_pub = parts.size() == 2 && !parts[0].empty();
  std::pair<int64_t, int64_t> pub{0, 0};
  if (has_pub) {
    auto r = parse_port_range(parts[0], value);
    if (!r.ok()) return invalid_argument("invalid hostPort: " + parts[0]);
    pub = *r;
    if (pub.second - pub.first != target.second - target.first)
      return invalid_argument("invalid ranges specified for container and host Ports: " + value);
  }
  for (int64_t t = target.first; t <= target.second; ++t) {
    json p = {{"Protocol", proto}, {"TargetPort", t}, {"PublishMode", "ingress"}};
    if (has_pub) p["PublishedPort"] = pub.first + (t - target.first);
    out.push_back(p);
  }
  return out;
}

namespace {

Status flag_value_error(const std::string& value, const std::string& flag, const Status& st) {
  return invalid_argument("invalid argument \"" + value + "\" for \"--" + flag + "\" flag: " + st.message());
}

Result<int64_t> duration_flag(const FlagSet& fs, const std::string& name) {
  auto r = parse_duration_ns(fs.str(name));
  if (!r.ok()) return flag_value_error(fs.str(name), name, r.status());
  return *r;
}

Result<uint64_t> uint_flag(const FlagSet& fs, const std::string& name) {
  std::string v = fs.str(name);
  if (v.empty() || !std::all_of(v.begin(), v.end(), ::isdigit))
    return invalid_argument("invalid argument \"" + v + "\" for \"--" + name + "\" flag: strconv.ParseUint: parsing \"" +
                            v + "\": invalid syntax");
  return std::stoull(v);
}

Result<double> float_flag(const FlagSet& fs, const std::string& name) {
  std::string v = fs.str(name);
  char* end = nullptr;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || *end != '\0')
    return invalid_argument("invalid argument \"" + v + "\" for \"--" + name +
                            "\" flag: strconv.ParseFloat: parsing \"" + v + "\": invalid syntax");
  return d;
}

bool any_changed(const FlagSet& fs, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (fs.changed(n)) return true;
  return false;
}

json default_update_config() {
  return {{"Parallelism", 1}, {"FailureAction", "pause"}, {"Monitor", 5 * kSecond}, {"MaxFailureRatio", 0},
          {"Order", "stop-first"}};
}

// Applies --update-* (prefix "update") or --rollback-* (prefix "rollback") flags.
Status apply_update_config(const FlagSet& fs, const std::string& prefix, json& spec, const char* key) {
  auto f = [&](const char* n) { return prefix + "-" + n; };
  if (!any_changed(fs, {f("parallelism").c_str(), f("delay").c_str(), f("monitor").c_str(),
                        f("failure-action").c_str(), f("max-failure-ratio").c_str(), f("order").c_str()}))
    return ok_status();
  if (!spec.contains(key) || !spec[key].is_object()) spec[key] = default_update_config();
  json& c = spec[key];
  if (fs.changed(f("parallelism"))) {
    SHOAL_ASSIGN_OR_RETURN(c["Parallelism"], uint_flag(fs, f("parallelism")));
  }
  if (fs.changed(f("delay"))) {
    SHOAL_ASSIGN_OR_RETURN(int64_t d, duration_flag(fs, f("delay")));
    if (d) c["Delay"] = d; else c.erase("Delay");
  }
  if (fs.changed(f("monitor"))) {
    SHOAL_ASSIGN_OR_RETURN(int64_t d, duration_flag(fs, f("monitor")));
    if (d) c["Monitor"] = d; else c.erase("Monitor");
  }
  if (fs.changed(f("failure-action"))) {
    std::string a = fs.str(f("failure-action"));
    bool ok = a == "pause" || a == "continue" || (prefix == "update" && a == "rollback");
    if (!ok)
      return invalid_argument("invalid argument \"" + a + "\" for \"--" + f("failure-action") +
                              "\" flag: value must be one of " +
                              (prefix == "update" ? "pause, continue, rollback" : "pause, continue"));
    c["FailureAction"] = a;
  }
  if (fs.changed(f("max-failure-ratio"))) {
    SHOAL_ASSIGN_OR_RETURN(c["MaxFailureRatio"], float_flag(fs, f("max-failure-ratio")));
  }
  if (fs.changed(f("order"))) {
    std::string o = fs.str(f("order"));
    if (o != "start-first" && o != "stop-first")
      return invalid_argument("invalid argument \"" + o + "\" for \"--" + f("order") +
                              "\" flag: value must be one of start-first, stop-first");
    c["Order"] = o;
  }
  return ok_status();
}

Status apply_restart_policy(const FlagSet& fs, json& task) {
  if (!any_changed(fs, {"restart-condition", "restart-delay", "restart-max-attempts", "restart-window"}))
    return ok_status();
  if (!task.contains("RestartPolicy") || !task["RestartPolicy"].is_object())
    task["RestartPolicy"] = {{"Condition", "any"}, {"Delay", 5 * kSecond}, {"MaxAttempts", 0}};
  json& r = task["RestartPolicy"];
  if (fs.changed("restart-condition")) {
    std::string c = fs.str("restart-condition");
    if (c != "none" && c != "on-failure" && c != "any")
      return invalid_argument("invalid argument \"" + c +
                              "\" for \"--restart-condition\" flag: invalid restartpolicy condition: \"" + c + "\"");
    r["Condition"] = c;
  }
  if (fs.changed("restart-delay")) {
    SHOAL_ASSIGN_OR_RETURN(r["Delay"], duration_flag(fs, "restart-delay"));
  }
  if (fs.changed("restart-max-attempts")) {
    SHOAL_ASSIGN_OR_RETURN(r["MaxAttempts"], uint_flag(fs, "restart-max-attempts"));
  }
  if (fs.changed("restart-window")) {
    SHOAL_ASSIGN_OR_RETURN(r["Window"], duration_flag(fs, "restart-window"));
  }
  return ok_status();
}

Status apply_resources(const FlagSet& fs, json& task) {
  json& res = task["Resources"];
  if (!res.is_object()) res = json::object();
  if (!res.contains("Limits")) res["Limits"] = json::object();
  if (!res.contains("Reservations")) res["Reservations"] = json::object();
  auto cpu = [&](const char* flag, json& dst) -> Status {
    if (!fs.changed(flag)) return ok_status();
    auto v = parse_nano_cpus(fs.str(flag));
    if (!v.ok()) return flag_value_error(fs.str(flag), flag, v.status());
    dst["NanoCPUs"] = *v;
    return ok_status();
  };
  auto mem = [&](const char* flag, json& dst) -> Status {
    if (!fs.changed(flag)) return ok_status();
    auto v = parse_memory_bytes(fs.str(flag));
    if (!v.ok()) return flag_value_error(fs.str(flag), flag, v.status());
    dst["MemoryBytes"] = *v;
    return ok_status();
  };
  SHOAL_RETURN_IF_ERROR(cpu("limit-cpu", res["Limits"]));
  SHOAL_RETURN_IF_ERROR(mem("limit-memory", res["Limits"]));
  SHOAL_RETURN_IF_ERROR(cpu("reserve-cpu", res["Reservations"]));
  SHOAL_RETURN_IF_ERROR(mem("reserve-memory", res["Reservations"]));
  return ok_status();
}

// A Docker-format seccomp profile file for --security-opt seccomp=FILE:
// read (a regular file, at most 1 MiB) and checked here, so a typo fails
// before anything is sent.
Result<std::string> read_seccomp_file(const std::string& path) {
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::is_regular_file(st)) {
    return invalid_argument("opening seccomp profile (" + path + ") failed: not a readable regular file");
  }
  if (std::filesystem::file_size(path, ec) > (1u << 20)) {
    return invalid_argument("seccomp profile " + path + " is larger than 1 MiB");
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in.good() && !in.eof()) return invalid_argument("reading seccomp profile " + path + " failed");
  auto parsed = parse_seccomp_profile(text.str());
  if (!parsed.ok()) return invalid_argument("invalid seccomp profile " + path + ": " + parsed.status().message());
  return text.str();
}

// --security-opt, as docker run spells it, into ContainerSpec.Privileges
// (Seccomp {Mode, Profile} and NoNewPrivileges, API 1.44 names).
Status apply_security_opts(const FlagSet& fs, json& cs) {
  for (const auto& opt : fs.list("security-opt")) {
    size_t sep = opt.find_first_of("=:");
    const std::string key = opt.substr(0, sep), value = sep == std::string::npos ? "" : opt.substr(sep + 1);
    if (!cs.contains("Privileges") || !cs["Privileges"].is_object()) cs["Privileges"] = json::object();
    json& priv = cs["Privileges"];
    if (key == "seccomp" && !value.empty()) {
      if (value == "unconfined" || value == "default") {
        priv["Seccomp"] = {{"Mode", value}};
      } else {
        auto text = read_seccomp_file(value);
        if (!text.ok()) return flag_value_error(opt, "security-opt", text.status());
        priv["Seccomp"] = {{"Mode", "custom"}, {"Profile", *text}};
      }
    } else if (key == "no-new-privileges" && (value.empty() || value == "true" || value == "false")) {
      if (value == "false") priv.erase("NoNewPrivileges");
      else priv["NoNewPrivileges"] = true;
    } else {
      return flag_value_error(opt, "security-opt",
                              invalid_argument("use seccomp=unconfined|default|<profile file> or "
                                               "no-new-privileges[=true|false] (other options are not supported)"));
    }
    if (priv.empty()) cs.erase("Privileges");
  }
  return ok_status();
}

// Flags shared by create and update that set plain ContainerSpec fields.
Status apply_container_fields(const FlagSet& fs, json& cs) {
  SHOAL_RETURN_IF_ERROR(apply_security_opts(fs, cs));
  if (fs.changed("workdir")) cs["Dir"] = fs.str("workdir");
  if (fs.changed("user")) cs["User"] = fs.str("user");
  if (fs.changed("hostname")) cs["Hostname"] = fs.str("hostname");
  if (fs.changed("read-only")) cs["ReadOnly"] = fs.boolean("read-only");
  if (fs.changed("init")) cs["Init"] = fs.boolean("init");
  if (fs.changed("tty")) cs["TTY"] = fs.boolean("tty");
  if (fs.changed("stop-signal")) cs["StopSignal"] = fs.str("stop-signal");
  if (fs.changed("stop-grace-period")) {
    SHOAL_ASSIGN_OR_RETURN(cs["StopGracePeriod"], duration_flag(fs, "stop-grace-period"));
  }
  if (fs.changed("entrypoint")) {
    SHOAL_ASSIGN_OR_RETURN(auto cmd, shell_split(fs.str("entrypoint")));
    if (cmd.empty()) cs.erase("Command"); else cs["Command"] = cmd;
  }
  return ok_status();
}

std::string env_with_lookup(const std::string& v) {
  if (v.find('=') != std::string::npos) return v;
  if (const char* e = std::getenv(v.c_str())) return v + "=" + e;
  return v;
}

void set_kv(json& obj, const std::string& kv) {
  auto eq = kv.find('=');
  obj[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
}

Status check_endpoint_mode(const std::string& m) {
  if (m != "vip" && m != "dnsrr")
    return invalid_argument("invalid argument \"" + m + "\" for \"--endpoint-mode\" flag: invalid endpoint mode \"" + m + "\"");
  return ok_status();
}

json network_attachment(const std::string& v) {
  if (v.find('=') == std::string::npos) return {{"Target", v}};
  json n = json::object();
  std::stringstream ss(v);
  std::string f;
  while (std::getline(ss, f, ',')) {
    auto eq = f.find('=');
    std::string k = f.substr(0, eq), val = eq == std::string::npos ? "" : f.substr(eq + 1);
    if (k == "name") n["Target"] = val;
    else if (k == "alias") n["Aliases"].push_back(val);
    else if (k == "driver-opt") set_kv(n["DriverOpts"], val);
  }
  return n;
}

}  // namespace

Result<json> build_create_spec(const FlagSet& fs) {
  const auto& args = fs.args();
  json cs = {{"Image", normalize_image(args.at(0))}, {"Init", false}, {"DNSConfig", json::object()}};
  if (args.size() > 1) cs["Args"] = std::vector<std::string>(args.begin() + 1, args.end());
  json env = json::array();
  for (const auto& file : fs.list("env-file")) {
    std::ifstream in(file);
    if (!in) return invalid_argument("open " + file + ": no such file or directory");
    std::string line;
    while (std::getline(in, line)) {
      size_t b = line.find_first_not_of(" \t");
      if (b == std::string::npos || line[b] == '#') continue;
      env.push_back(env_with_lookup(line.substr(b)));
    }
  }
  for (const auto& e : fs.list("env")) env.push_back(env_with_lookup(e));
  if (!env.empty()) cs["Env"] = env;
  if (fs.changed("container-label")) {
    cs["Labels"] = json::object();
    for (const auto& l : fs.list("container-label")) set_kv(cs["Labels"], l);
  }
  SHOAL_RETURN_IF_ERROR(apply_container_fields(fs, cs));

  json task = {{"ContainerSpec", cs}, {"Placement", json::object()}, {"ForceUpdate", 0}};
  SHOAL_RETURN_IF_ERROR(apply_resources(fs, task));
  SHOAL_RETURN_IF_ERROR(apply_restart_policy(fs, task));
  if (fs.changed("constraint")) task["Placement"]["Constraints"] = fs.list("constraint");
  if (fs.changed("network")) {
    for (const auto& n : fs.list("network")) task["Networks"].push_back(network_attachment(n));
  }

  json spec = {{"Labels", json::object()}, {"TaskTemplate", task}};
  if (fs.changed("name")) spec["Name"] = fs.str("name");
  for (const auto& l : fs.list("label")) set_kv(spec["Labels"], l);

  std::string mode = fs.str("mode");
  if (mode == "replicated") {
    spec["Mode"] = {{"Replicated", json::object()}};
    if (fs.changed("replicas")) {
      SHOAL_ASSIGN_OR_RETURN(spec["Mode"]["Replicated"]["Replicas"], uint_flag(fs, "replicas"));
    }
  } else if (mode == "global") {
    if (fs.changed("replicas")) return invalid_argument("replicas can only be used with replicated or replicated-job mode");
    spec["Mode"] = {{"Global", json::object()}};
  } else if (mode == "replicated-job" || mode == "global-job") {
    return invalid_argument("shoal does not support " + mode + " services yet");
  } else {
    return invalid_argument("invalid argument \"" + mode + "\" for \"--mode\" flag: invalid service mode \"" + mode + "\"");
  }
  SHOAL_RETURN_IF_ERROR(apply_update_config(fs, "update", spec, "UpdateConfig"));
  SHOAL_RETURN_IF_ERROR(apply_update_config(fs, "rollback", spec, "RollbackConfig"));

  std::string em = fs.str("endpoint-mode");
  SHOAL_RETURN_IF_ERROR(check_endpoint_mode(em));
  spec["EndpointSpec"] = {{"Mode", em}};
  for (const auto& p : fs.list("publish")) {
    auto ports = parse_publish(p);
    if (!ports.ok()) return flag_value_error(p, "publish", ports.status());
    for (auto& port : *ports) spec["EndpointSpec"]["Ports"].push_back(port);
  }
  return spec;
}

Status apply_update_flags(const FlagSet& fs, json& spec, const std::function<std::string(const std::string&)>& network_id) {
  if (!spec.contains("TaskTemplate") || !spec["TaskTemplate"].is_object()) spec["TaskTemplate"] = json::object();
  json& task = spec["TaskTemplate"];
  if (!task.contains("ContainerSpec") || !task["ContainerSpec"].is_object()) task["ContainerSpec"] = json::object();
  json& cs = task["ContainerSpec"];

  if (fs.changed("image")) cs["Image"] = normalize_image(fs.str("image"));
  if (fs.changed("args")) {
    SHOAL_ASSIGN_OR_RETURN(auto a, shell_split(fs.str("args")));
    if (a.empty()) cs.erase("Args"); else cs["Args"] = a;
  }
  SHOAL_RETURN_IF_ERROR(apply_container_fields(fs, cs));

  // Environment: remove by key, then add/replace by key (sorted, as docker's map yields no order).
  if (fs.changed("env-rm") || fs.changed("env-add")) {
    auto key = [](const std::string& e) { return e.substr(0, e.find('=')); };
    std::set<std::string> rm;
    for (const auto& e : fs.list("env-rm")) rm.insert(key(e));
    std::vector<std::string> env;
    if (cs.contains("Env") && cs["Env"].is_array())
      for (const auto& e : cs["Env"])
        if (!rm.count(key(e.get<std::string>()))) env.push_back(e.get<std::string>());
    if (fs.changed("env-add")) {
      std::map<std::string, std::string> m;
      for (const auto& e : env) m[key(e)] = e;
      for (const auto& e : fs.list("env-add")) m[key(e)] = env_with_lookup(e);
      env.clear();
      for (const auto& [k, v] : m) env.push_back(v);
    }
    if (env.empty()) cs.erase("Env"); else cs["Env"] = env;
  }
  auto update_labels = [&](json& obj, const char* add, const char* rm) {
    if (!fs.changed(add) && !fs.changed(rm)) return;
    if (!obj.contains("Labels") || !obj["Labels"].is_object()) obj["Labels"] = json::object();
    for (const auto& l : fs.list(rm)) obj["Labels"].erase(l.substr(0, l.find('=')));
    for (const auto& l : fs.list(add)) set_kv(obj["Labels"], l);
  };
  update_labels(spec, "label-add", "label-rm");
  update_labels(cs, "container-label-add", "container-label-rm");

  if (fs.changed("constraint-add") || fs.changed("constraint-rm")) {
    if (!task.contains("Placement") || !task["Placement"].is_object()) task["Placement"] = json::object();
    std::vector<std::string> cons;
    if (task["Placement"].contains("Constraints"))
      for (const auto& c : task["Placement"]["Constraints"]) cons.push_back(c.get<std::string>());
    for (const auto& c : fs.list("constraint-add"))
      if (std::find(cons.begin(), cons.end(), c) == cons.end()) cons.push_back(c);
    auto rm = fs.list("constraint-rm");
    cons.erase(std::remove_if(cons.begin(), cons.end(),
                              [&](const std::string& c) { return std::find(rm.begin(), rm.end(), c) != rm.end(); }),
               cons.end());
    std::sort(cons.begin(), cons.end());
    task["Placement"]["Constraints"] = cons;
  }

  if (any_changed(fs, {"limit-cpu", "limit-memory", "reserve-cpu", "reserve-memory"})) {
    SHOAL_RETURN_IF_ERROR(apply_resources(fs, task));
  }
  SHOAL_RETURN_IF_ERROR(apply_restart_policy(fs, task));

  if (fs.changed("network-add") || fs.changed("network-rm")) {
    json nets = task.contains("Networks") && task["Networks"].is_array() ? task["Networks"] : json::array();
    auto rm = fs.list("network-rm");
    if (network_id) {
      for (auto& r : fs.list("network-rm")) {
        std::string id = network_id(r);
        if (!id.empty()) rm.push_back(id);
      }
    }
    json kept = json::array();
    for (const auto& n : nets)
      if (std::find(rm.begin(), rm.end(), n.value("Target", "")) == rm.end()) kept.push_back(n);
    for (const auto& n : fs.list("network-add")) kept.push_back(network_attachment(n));
    task["Networks"] = kept;
  }

  if (fs.changed("replicas")) {
    if (!spec.contains("Mode") || !spec["Mode"].contains("Replicated"))
      return invalid_argument("replicas can only be used with replicated or replicated-job mode");
    SHOAL_ASSIGN_OR_RETURN(spec["Mode"]["Replicated"]["Replicas"], uint_flag(fs, "replicas"));
  }
  SHOAL_RETURN_IF_ERROR(apply_update_config(fs, "update", spec, "UpdateConfig"));
  SHOAL_RETURN_IF_ERROR(apply_update_config(fs, "rollback", spec, "RollbackConfig"));

  if (fs.changed("endpoint-mode")) {
    SHOAL_RETURN_IF_ERROR(check_endpoint_mode(fs.str("endpoint-mode")));
    spec["EndpointSpec"]["Mode"] = fs.str("endpoint-mode");
  }
  if (fs.changed("publish-add") || fs.changed("publish-rm")) {
    json& ep = spec["EndpointSpec"];
    json ports = ep.contains("Ports") && ep["Ports"].is_array() ? ep["Ports"] : json::array();
    json kept = json::array();
    std::vector<std::pair<int64_t, std::string>> rm;
    for (const auto& r : fs.list("publish-rm")) {
      auto parsed = parse_publish(r);
      if (!parsed.ok()) return flag_value_error(r, "publish-rm", parsed.status());
      for (const auto& p : *parsed) rm.emplace_back(p["TargetPort"].get<int64_t>(), p["Protocol"].get<std::string>());
    }
    std::vector<json> add;
    for (const auto& a : fs.list("publish-add")) {
      auto parsed = parse_publish(a);
      if (!parsed.ok()) return flag_value_error(a, "publish-add", parsed.status());
      add.insert(add.end(), parsed->begin(), parsed->end());
    }
    for (const auto& p : ports) {
      std::pair<int64_t, std::string> k{p.value("TargetPort", 0), p.value("Protocol", "tcp")};
      bool removed = std::find(rm.begin(), rm.end(), k) != rm.end();
      for (const auto& a : add)
        if (a.value("PublishedPort", 0) != 0 && a.value("PublishedPort", 0) == p.value("PublishedPort", 0) &&
            a.value("Protocol", "tcp") == k.second)
          removed = true;
      if (!removed) kept.push_back(p);
    }
    for (const auto& a : add) kept.push_back(a);
    ep["Ports"] = kept;
  }
  if (fs.boolean("force")) task["ForceUpdate"] = task.value("ForceUpdate", 0) + 1;
  return ok_status();
}

}  // namespace shoal::cli
