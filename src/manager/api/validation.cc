#include "manager/api/validation.h"

#include <random>

#include "common/seccomp_profile.h"
#include "common/image_reference.h"
#include "common/json_limits.h"
#include "manager/api/errors.h"
#include "manager/scheduler/scheduler.h"
#include "model/spec_schema.h"

namespace shoal::api {

namespace {

bool is_int(const json& v) { return v.is_number_integer() || v.is_number_unsigned(); }

// A JSON value for an error message, bounded.
std::string shown(const json& v) {
  return v.is_string() ? quote_input(v.get<std::string>()) : quote_input(v.dump(-1, ' ', false, json::error_handler_t::replace));
}

// An integer 0..max (Go's decoder refuses fractions and wrong types).
Status check_range(const json& obj, const char* key, const std::string& where, const char* unit, uint64_t max) {
  if (!obj.is_object() || !obj.contains(key) || obj[key].is_null()) return ok_status();
  const json& v = obj[key];
  bool negative = v.is_number_integer() && !v.is_number_unsigned() && v.get<int64_t>() < 0;
  if (!is_int(v) || negative) {
    return invalid_argument("invalid " + where + "." + key + " " + shown(v) + ": must be a non-negative " + unit);
  }
  if (v.get<uint64_t>() > max) {
    return invalid_argument("invalid " + where + "." + key + " " + shown(v) + ": must be at most " + std::to_string(max) +
                            " (" + unit + ")");
  }
  return ok_status();
}

Status check_non_negative(const json& obj, const char* key, const std::string& where, const char* unit) {
  return check_range(obj, key, where, unit, static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
}

Status check_duration(const json& obj, const char* key, const std::string& where) {
  return check_duration_field(obj, key, where);
}

Status check_string(const json& obj, const char* key, const std::string& where) {
  if (!obj.is_object() || !obj.contains(key) || obj[key].is_null() || obj[key].is_string()) return ok_status();
  return invalid_argument("invalid " + where + "." + key + " " + shown(obj[key]) + ": must be a string");
}

Status check_object(const json& obj, const char* key, const std::string& where) {
  if (!obj.is_object() || !obj.contains(key) || obj[key].is_null() || obj[key].is_object()) return ok_status();
  return invalid_argument("invalid " + where + key + ": must be a JSON object");
}

Status check_string_list(const json& obj, const char* key, const std::string& where) {
  if (!obj.is_object() || !obj.contains(key) || obj[key].is_null()) return ok_status();
  const json& v = obj[key];
  bool ok = v.is_array() && std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_string(); });
  if (!ok) return invalid_argument("invalid " + where + "." + key + ": must be a list of strings");
  return ok_status();
}

const json& member(const json& j, const char* key) {
  static const json kEmpty = json::object();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(key);
  return it == j.end() || !it->is_object() ? kEmpty : *it;
}

Status check_update_config(const json& root, const char* key) {
  SHOAL_RETURN_IF_ERROR(check_object(root, key, ""));
  const json& uc = member(root, key);
  std::string where = key;
  SHOAL_RETURN_IF_ERROR(check_range(uc, "Parallelism", where, "integer", kMaxReplicas));
  SHOAL_RETURN_IF_ERROR(check_duration(uc, "Delay", where));
  SHOAL_RETURN_IF_ERROR(check_duration(uc, "Monitor", where));
  SHOAL_RETURN_IF_ERROR(check_string(uc, "FailureAction", where));
  SHOAL_RETURN_IF_ERROR(check_string(uc, "Order", where));
  std::string fa = uc.value("FailureAction", "");
  if (!fa.empty() && fa != "pause" && fa != "continue" && fa != "rollback") {
    return invalid_argument("invalid " + where + ".FailureAction " + quote_input(fa) + ": use pause, continue or rollback");
  }
  std::string order = uc.value("Order", "");
  if (!order.empty() && order != "stop-first" && order != "start-first") {
    return invalid_argument("invalid " + where + ".Order " + quote_input(order) + ": use stop-first or start-first");
  }
  if (uc.contains("MaxFailureRatio") && !uc["MaxFailureRatio"].is_null()) {
    const json& r = uc["MaxFailureRatio"];
    if (!r.is_number() || !(r.get<double>() >= 0 && r.get<double>() <= 1)) {
      return invalid_argument("invalid " + where + ".MaxFailureRatio " + shown(r) + ": must be between 0 and 1");
    }
  }
  return ok_status();
}

// Checks on the raw JSON: the things Go's decoder or SwarmKit would refuse.
Status check_raw(const json& j) {
  if (!j.is_object()) return invalid_argument("the request body must be a JSON object (a ServiceSpec)");
  SHOAL_RETURN_IF_ERROR(check_string(j, "Name", "Spec"));
  for (const char* k : {"Labels", "TaskTemplate", "Mode", "EndpointSpec"}) SHOAL_RETURN_IF_ERROR(check_object(j, k, ""));
  const json& mode = member(j, "Mode");
  if (mode.contains("Replicated") && mode.contains("Global")) {
    return invalid_argument("invalid Mode: give either Replicated or Global, not both");
  }
  for (const char* k : {"ReplicatedJob", "GlobalJob"}) {
    if (mode.contains(k)) return invalid_argument(std::string("Mode ") + k + " is not supported by shoal yet: use Replicated or Global");
  }
  const json& rep = member(mode, "Replicated");
  if (rep.contains("Replicas") && !rep["Replicas"].is_null()) {
    const json& r = rep["Replicas"];
    if (!is_int(r) || (r.is_number_integer() && !r.is_number_unsigned() && r.get<int64_t>() < 0)) {
      return invalid_argument("invalid replicas value " + shown(r) +
                              ": must be non-negative (Mode.Replicated.Replicas is an integer >= 0)");
    }
    if (r.get<uint64_t>() > kMaxReplicas) {
      return invalid_argument("invalid replicas value " + shown(r) + ": shoal runs at most " +
                              std::to_string(kMaxReplicas) + " replicas per service (Mode.Replicated.Replicas)");
    }
  }
  const json& tt = member(j, "TaskTemplate");
  for (const char* k : {"ContainerSpec", "Resources", "RestartPolicy", "Placement"}) {
    SHOAL_RETURN_IF_ERROR(check_object(tt, k, "TaskTemplate."));
  }
  const json& cs = member(tt, "ContainerSpec");
  const std::string where_cs = "TaskTemplate.ContainerSpec";
  for (const char* k : {"Image", "Hostname", "Dir", "User", "StopSignal", "Isolation"}) {
    SHOAL_RETURN_IF_ERROR(check_string(cs, k, where_cs));
  }
  for (const char* k : {"Command", "Args", "Env", "Groups"}) SHOAL_RETURN_IF_ERROR(check_string_list(cs, k, where_cs));
  SHOAL_RETURN_IF_ERROR(check_duration(cs, "StopGracePeriod", where_cs));
  if (cs.contains("StopSignal") && cs["StopSignal"].is_string()) {
    SHOAL_RETURN_IF_ERROR(validate_stop_signal(cs["StopSignal"].get<std::string>(), where_cs + ".StopSignal"));
  }
  if (cs.contains("User") && cs["User"].is_string()) {
    SHOAL_RETURN_IF_ERROR(validate_user(cs["User"].get<std::string>(), where_cs + ".User"));
  }
  const json& rp = member(tt, "RestartPolicy");
  SHOAL_RETURN_IF_ERROR(check_string(rp, "Condition", "TaskTemplate.RestartPolicy"));
  SHOAL_RETURN_IF_ERROR(check_duration(rp, "Delay", "TaskTemplate.RestartPolicy"));
  SHOAL_RETURN_IF_ERROR(check_duration(rp, "Window", "TaskTemplate.RestartPolicy"));
  SHOAL_RETURN_IF_ERROR(check_range(rp, "MaxAttempts", "TaskTemplate.RestartPolicy", "integer", 1u << 31));
  SHOAL_RETURN_IF_ERROR(check_string_list(member(tt, "Placement"), "Constraints", "TaskTemplate.Placement"));
  SHOAL_RETURN_IF_ERROR(check_range(member(tt, "Placement"), "MaxReplicas", "TaskTemplate.Placement", "integer", kMaxReplicas));
  for (const char* part : {"Limits", "Reservations"}) {
    const json& l = member(member(tt, "Resources"), part);
    std::string where = std::string("TaskTemplate.Resources.") + part;
    for (const char* k : {"NanoCPUs", "MemoryBytes", "Pids"}) SHOAL_RETURN_IF_ERROR(check_non_negative(l, k, where, "integer"));
  }
  // The CFS quota is NanoCPUs/10,000 µs per 100 ms: below 0.01 CPU it is 0,
  // which runc takes as no limit at all, so such a limit would be ignored.
  const json& limits = member(member(tt, "Resources"), "Limits");
  const int64_t cpus = limits.contains("NanoCPUs") && limits["NanoCPUs"].is_number_integer() ? limits["NanoCPUs"].get<int64_t>() : 0;
  if (cpus > 0 && cpus < kMinNanoCpus) {
    return invalid_argument("invalid TaskTemplate.Resources.Limits.NanoCPUs: " + std::to_string(cpus) +
                            " is below 0.01 CPU (10000000), the smallest limit that can be enforced; give at least "
                            "that, or 0 for no limit");
  }
  SHOAL_RETURN_IF_ERROR(check_non_negative(tt, "ForceUpdate", "TaskTemplate", "integer"));
  SHOAL_RETURN_IF_ERROR(check_update_config(j, "UpdateConfig"));
  SHOAL_RETURN_IF_ERROR(check_update_config(j, "RollbackConfig"));
  const json& ep = member(j, "EndpointSpec");
  if (ep.contains("Ports") && !ep["Ports"].is_null()) {
    if (!ep["Ports"].is_array()) return invalid_argument("invalid EndpointSpec.Ports: must be a list");
    for (const json& p : ep["Ports"]) {
      if (!p.is_object()) return invalid_argument("invalid EndpointSpec.Ports entry " + shown(p));
      SHOAL_RETURN_IF_ERROR(check_range(p, "TargetPort", "EndpointSpec.Ports", "port 1-65535", 65535));
      SHOAL_RETURN_IF_ERROR(check_range(p, "PublishedPort", "EndpointSpec.Ports", "port 1-65535, or 0 for any", 65535));
    }
  }
  return ok_status();
}

}  // namespace

Result<ServiceSpec> parse_service_spec(const std::string& body) {
  SHOAL_ASSIGN_OR_RETURN(json j, parse_json_body(body, "a ServiceSpec"));
  if (j.is_object()) {
    SHOAL_ASSIGN_OR_RETURN(j, canonical_service_spec(j));  // keys as Go matches them
  }
  SHOAL_RETURN_IF_ERROR(check_raw(j));
  SHOAL_RETURN_IF_ERROR(check_supported_service_spec(j));  // fields shoal does not apply yet
  ServiceSpec spec;
  try {
    spec = j.get<ServiceSpec>();
  } catch (const std::exception& e) {
    return invalid_argument("invalid ServiceSpec: " + json_error_text(e));
  }
  return spec;
}

Status validate_service_name(const std::string& name) {
  if (name.empty()) return invalid_argument("the service needs a name (Spec.Name)");
  if (name.size() > 63) {
    return invalid_argument("invalid name " + quote_input(name) + ": a service name must be 63 characters or fewer");
  }
  if (!is_dns_label(name)) {
    return invalid_argument("invalid name " + quote_input(name) +
                            ": a service name must be valid as a DNS name component: letters, digits, '-' and "
                            "'_', starting and ending with a letter or digit");
  }
  return ok_status();
}

Status validate_service_spec(const ServiceSpec& s) {
  SHOAL_RETURN_IF_ERROR(validate_service_name(s.name));
  const std::string& image = s.task_template.container_spec.image;
  if (image.empty()) {
    return invalid_argument("TaskTemplate.ContainerSpec.Image is empty: give the image to run, e.g. busybox:latest");
  }
  auto ref = parse_reference(image);
  if (!ref.ok()) return ref.status();
  // Docker expands Go templates ({{.Node.Hostname}}, {{.Task.Slot}}, ...) in
  // Hostname and Env; shoal does not yet, and would pass them on verbatim.
  const auto& cs = s.task_template.container_spec;
  auto templated = [](const std::string& v) { return v.find("{{") != std::string::npos; };
  if (templated(cs.hostname)) {
    return invalid_argument("TaskTemplate.ContainerSpec.Hostname " + quote_input(cs.hostname) +
                            " is not supported by shoal yet: templates ({{...}}) are not expanded; give the value itself");
  }
  for (const auto& e : cs.env) {
    if (templated(e)) {
      return invalid_argument("TaskTemplate.ContainerSpec.Env " + quote_input(e) +
                              " is not supported by shoal yet: templates ({{...}}) are not expanded; give the value itself");
    }
  }
  SHOAL_RETURN_IF_ERROR(validate_seccomp_options(s.task_template.container_spec.seccomp_mode, s.task_template.container_spec.seccomp_profile, "TaskTemplate.ContainerSpec.Privileges.Seccomp"));
  const std::string& cond = s.task_template.restart_policy.condition;
  if (cond != "none" && cond != "on-failure" && cond != "any") {
    return invalid_argument("invalid RestartPolicy.Condition " + quote_input(cond) + ": use none, on-failure or any");
  }
  for (const auto& c : s.task_template.placement.constraints) SHOAL_RETURN_IF_ERROR(scheduler::validate_constraint(c));
  SHOAL_RETURN_IF_ERROR(scheduler::validate_platforms(s.task_template.placement.platforms));
  if (s.mode == ServiceModeKind::kGlobal && s.task_template.placement.max_replicas) {
    return invalid_argument("Placement.MaxReplicas applies to replicated services only");
  }
  if (s.endpoint_spec.mode != "vip" && s.endpoint_spec.mode != "dnsrr") {
    return invalid_argument("invalid EndpointSpec.Mode " + quote_input(s.endpoint_spec.mode) + ": use vip or dnsrr");
  }
  std::map<std::pair<std::string, uint32_t>, int> published;
  for (const auto& p : s.endpoint_spec.ports) {
    if (p.target_port == 0 || p.target_port > 65535) {
      return invalid_argument("invalid EndpointSpec.Ports TargetPort " + std::to_string(p.target_port) + ": must be 1-65535");
    }
    if (p.published_port > 65535) {
      return invalid_argument("invalid EndpointSpec.Ports PublishedPort " + std::to_string(p.published_port) + ": must be 0-65535");
    }
    if (p.protocol != "tcp" && p.protocol != "udp" && p.protocol != "sctp") {
      return invalid_argument("invalid EndpointSpec.Ports Protocol " + quote_input(p.protocol) + ": use tcp, udp or sctp");
    }
    if (p.publish_mode != "ingress" && p.publish_mode != "host") {
      return invalid_argument("invalid EndpointSpec.Ports PublishMode " + quote_input(p.publish_mode) + ": use ingress or host");
    }
    if (p.published_port && published[{p.protocol, p.published_port}]++) {
      return invalid_argument("EndpointSpec.Ports: published port " + std::to_string(p.published_port) + "/" +
                              p.protocol + " is given twice");
    }
    if (p.publish_mode == "host" && p.published_port == 0) {
      return invalid_argument("EndpointSpec.Ports: host-mode port for target " + std::to_string(p.target_port) + "/" +
                              p.protocol + " has no published port: give one (published=PORT); shoal does not "
                              "pick a port per node");
    }
    if (p.publish_mode == "ingress" && s.endpoint_spec.mode == "dnsrr") {
      return invalid_argument("port published with ingress mode can't be used with dnsrr mode: publish in host mode "
                              "(mode=host) or use endpoint mode vip");
    }
  }
  return ok_status();
}

bool is_dns_label(std::string_view name) {
  // ^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$ in one pass: alphanumerics and
  // separators, starting and ending with an alphanumeric.
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (name.empty() || !alnum(name.front()) || !alnum(name.back())) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return alnum(c) || c == '-' || c == '_'; });
}

Status check_duration_field(const json& obj, const char* key, const std::string& where) {
  return check_range(obj, key, where, "duration in nanoseconds, at most 10 years", kMaxDurationNanos);
}

Status validate_stop_signal(const std::string& sig, const std::string& where) {
  if (sig.empty()) return ok_status();
  if (signal_number(sig) > 0) return ok_status();
  return invalid_argument("invalid " + where + " " + quote_input(sig) +
                          ": use a signal name such as SIGTERM, TERM or SIGRTMIN+3, or a number 1-64");
}

int signal_number(const std::string& text) {
  static const std::pair<const char*, int> kSigs[] = {
      {"HUP", 1},   {"INT", 2},     {"QUIT", 3},  {"ILL", 4},    {"TRAP", 5},    {"ABRT", 6},    {"IOT", 6},
      {"BUS", 7},   {"FPE", 8},     {"KILL", 9},  {"USR1", 10},  {"SEGV", 11},   {"USR2", 12},   {"PIPE", 13},
      {"ALRM", 14}, {"TERM", 15},   {"STKFLT", 16}, {"CHLD", 17}, {"CLD", 17},   {"CONT", 18},   {"STOP", 19},
      {"TSTP", 20}, {"TTIN", 21},   {"TTOU", 22}, {"URG", 23},   {"XCPU", 24},   {"XFSZ", 25},   {"VTALRM", 26},
      {"PROF", 27}, {"WINCH", 28},  {"IO", 29},   {"POLL", 29},  {"PWR", 30},    {"SYS", 31},    {"RTMIN", 34},
      {"RTMAX", 64}};
  auto digits = [](std::string_view s) {
    return !s.empty() && s.size() <= 2 && s.find_first_not_of("0123456789") == std::string_view::npos;
  };
  if (digits(text)) {
    int n = std::stoi(text);
    return n >= 1 && n <= 64 ? n : 0;
  }
  if (text.size() > 16) return 0;
  std::string s = text;
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (s.rfind("SIG", 0) == 0) s = s.substr(3);
  for (const auto& [name, num] : kSigs)
    if (s == name) return num;
  // RTMIN+n (34+n) and RTMAX-n (64-n), within 34..64.
  for (auto [prefix, base, sign] : {std::tuple{"RTMIN+", 34, 1}, std::tuple{"RTMAX-", 64, -1}}) {
    std::string_view p = prefix;
    if (s.rfind(p, 0) == 0 && digits(std::string_view(s).substr(p.size()))) {
      int n = base + sign * std::stoi(s.substr(p.size()));
      return n >= 34 && n <= 64 ? n : 0;
    }
  }
  return 0;
}

Status validate_user(const std::string& user, const std::string& where) {
  if (user.empty()) return ok_status();
  auto bad = [&](const std::string& why) {
    return invalid_argument("invalid " + where + " " + quote_input(user) + ": " + why +
                            " (use USER, UID, USER:GROUP or UID:GID)");
  };
  size_t colon = user.find(':');
  if (user.find(':', colon == std::string::npos ? user.size() : colon + 1) != std::string::npos) {
    return bad("more than one ':'");
  }
  for (std::string_view part : {std::string_view(user).substr(0, colon),
                                colon == std::string::npos ? std::string_view("0") : std::string_view(user).substr(colon + 1)}) {
    if (part.empty()) return bad("the user or group is empty");
    if (part.find_first_not_of("0123456789") == std::string_view::npos) {
      // Linux ids are 32-bit; runc refuses ids above 2^31-1.
      if (part.size() > 10 || std::stoull(std::string(part)) > kMaxId) {
        return bad("a uid or gid must be between 0 and " + std::to_string(kMaxId));
      }
    } else if (part.size() > 256 || std::any_of(part.begin(), part.end(), [](char c) {
                 return static_cast<unsigned char>(c) <= ' ' || c == '/' || c == 0x7f;
               })) {
      return bad("user and group names are at most 256 characters without spaces, control characters or '/'");
    }
  }
  return ok_status();
}

std::string generate_service_name(const std::function<bool(const std::string&)>& taken) {
  static const char* kLeft[] = {"admiring", "brave",  "clever",  "eager",   "focused", "gifted",  "happy",
                                "jolly",    "keen",   "lucid",   "modest",  "nifty",   "optimistic", "quirky",
                                "relaxed",  "serene", "trusting", "upbeat", "vibrant", "wizardly", "zealous"};
  static const char* kRight[] = {"archimedes", "babbage", "curie",    "darwin",  "euclid",  "feynman", "galileo",
                                 "hopper",     "turing",  "kepler",   "lovelace", "meitner", "noether", "pasteur",
                                 "ritchie",    "shannon", "thompson", "varahamihira", "wozniak", "yonath"};
  std::random_device rd;
  std::mt19937 gen(rd());
  std::uniform_int_distribution<size_t> l(0, std::size(kLeft) - 1), r(0, std::size(kRight) - 1);
  std::string name;
  for (int attempt = 0; attempt < 100; ++attempt) {
    name = std::string(kLeft[l(gen)]) + "_" + kRight[r(gen)];
    if (attempt >= 10) name += std::to_string(attempt);
    if (!taken(name)) return name;
  }
  return name;
}

void apply_create_defaults(ServiceSpec& spec) {
  if (!spec.update_config) spec.update_config = UpdateConfig{};
  if (!spec.rollback_config) spec.rollback_config = UpdateConfig{};
}

void insert_defaults(ServiceSpec& spec) {
  apply_create_defaults(spec);
  auto& cs = spec.task_template.container_spec;
  if (!cs.stop_grace_period) cs.stop_grace_period = std::chrono::seconds(10);
  auto& rp = spec.task_template.restart_policy;
  if (!rp.delay) rp.delay = std::chrono::seconds(5);
}

}  // namespace shoal::api
