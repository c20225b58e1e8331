#include "manager/api/validation.h"

#include <random>
#include <regex>

#include "common/seccomp_profile.h"
#include "common/image_reference.h"
#include "manager/api/errors.h"
#include "manager/scheduler/scheduler.h"

namespace shoal::api {

namespace {

bool is_int(const json& v) { return v.is_number_integer() || v.is_number_unsigned(); }

Status check_non_negative(const json& obj, const char* key, const std::string& where, const char* unit) {
  if (!obj.is_object() || !obj.contains(key) || obj[key].is_null()) return ok_status();
  const json& v = obj[key];
  if (!is_int(v) || (v.is_number_integer() && v.get<int64_t>() < 0)) {
    return invalid_argument("invalid " + where + "." + key + " " + v.dump() + ": must be a non-negative " + unit);
  }
  return ok_status();
}

Status check_duration(const json& obj, const char* key, const std::string& where) {
  return check_non_negative(obj, key, where, "duration in nanoseconds");
}

Status check_string(const json& obj, const char* key, const std::string& where) {
  if (!obj.is_object() || !obj.contains(key) || obj[key].is_null() || obj[key].is_string()) return ok_status();
  return invalid_argument("invalid " + where + "." + key + " " + obj[key].dump() + ": must be a string");
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
  SHOAL_RETURN_IF_ERROR(check_non_negative(uc, "Parallelism", where, "integer"));
  SHOAL_RETURN_IF_ERROR(check_duration(uc, "Delay", where));
  SHOAL_RETURN_IF_ERROR(check_duration(uc, "Monitor", where));
  SHOAL_RETURN_IF_ERROR(check_string(uc, "FailureAction", where));
  SHOAL_RETURN_IF_ERROR(check_string(uc, "Order", where));
  std::string fa = uc.value("FailureAction", "");
  if (!fa.empty() && fa != "pause" && fa != "continue" && fa != "rollback") {
    return invalid_argument("invalid " + where + ".FailureAction \"" + fa + "\": use pause, continue or rollback");
  }
  std::string order = uc.value("Order", "");
  if (!order.empty() && order != "stop-first" && order != "start-first") {
    return invalid_argument("invalid " + where + ".Order \"" + order + "\": use stop-first or start-first");
  }
  if (uc.contains("MaxFailureRatio") && !uc["MaxFailureRatio"].is_null()) {
    const json& r = uc["MaxFailureRatio"];
    if (!r.is_number() || r.get<double>() < 0 || r.get<double>() > 1) {
      return invalid_argument("invalid " + where + ".MaxFailureRatio " + r.dump() + ": must be between 0 and 1");
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
    if (!is_int(r) || (r.is_number_integer() && r.get<int64_t>() < 0)) {
      return invalid_argument("invalid replicas value " + r.dump() +
                              ": must be non-negative (Mode.Replicated.Replicas is an integer >= 0)");
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
  const json& rp = member(tt, "RestartPolicy");
  SHOAL_RETURN_IF_ERROR(check_string(rp, "Condition", "TaskTemplate.RestartPolicy"));
  SHOAL_RETURN_IF_ERROR(check_duration(rp, "Delay", "TaskTemplate.RestartPolicy"));
  SHOAL_RETURN_IF_ERROR(check_duration(rp, "Window", "TaskTemplate.RestartPolicy"));
  SHOAL_RETURN_IF_ERROR(check_non_negative(rp, "MaxAttempts", "TaskTemplate.RestartPolicy", "integer"));
  SHOAL_RETURN_IF_ERROR(check_string_list(member(tt, "Placement"), "Constraints", "TaskTemplate.Placement"));
  SHOAL_RETURN_IF_ERROR(check_non_negative(member(tt, "Placement"), "MaxReplicas", "TaskTemplate.Placement", "integer"));
  for (const char* part : {"Limits", "Reservations"}) {
    const json& l = member(member(tt, "Resources"), part);
    std::string where = std::string("TaskTemplate.Resources.") + part;
    for (const char* k : {"NanoCPUs", "MemoryBytes", "Pids"}) SHOAL_RETURN_IF_ERROR(check_non_negative(l, k, where, "integer"));
  }
  SHOAL_RETURN_IF_ERROR(check_non_negative(tt, "ForceUpdate", "TaskTemplate", "integer"));
  SHOAL_RETURN_IF_ERROR(check_update_config(j, "UpdateConfig"));
  SHOAL_RETURN_IF_ERROR(check_update_config(j, "RollbackConfig"));
  const json& ep = member(j, "EndpointSpec");
  if (ep.contains("Ports") && !ep["Ports"].is_null()) {
    if (!ep["Ports"].is_array()) return invalid_argument("invalid EndpointSpec.Ports: must be a list");
    for (const json& p : ep["Ports"]) {
      if (!p.is_object()) return invalid_argument("invalid EndpointSpec.Ports entry " + p.dump());
      for (const char* k : {"TargetPort", "PublishedPort"}) {
        SHOAL_RETURN_IF_ERROR(check_non_negative(p, k, "EndpointSpec.Ports", "integer"));
      }
    }
  }
  return ok_status();
}

}  // namespace

Result<ServiceSpec> parse_service_spec(const std::string& body) {
  SHOAL_ASSIGN_OR_RETURN(json j, parse_json_body(body, "a ServiceSpec"));
  SHOAL_RETURN_IF_ERROR(check_raw(j));
  ServiceSpec spec;
  try {
    spec = j.get<ServiceSpec>();
  } catch (const std::exception& e) {
    return invalid_argument("invalid ServiceSpec: " + json_error_text(e));
  }
  return spec;
}

Status validate_service_name(const std::string& name) {
  static const std::regex kName("[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*");
  if (name.empty()) return invalid_argument("the service needs a name (Spec.Name)");
  if (name.size() > 63) {
    return invalid_argument("invalid name \"" + name + "\": a service name must be 63 characters or fewer");
  }
  if (!std::regex_match(name, kName)) {
    return invalid_argument("invalid name \"" + name +
                            "\": a service name must be valid as a DNS name component: letters, digits, '-' and "
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
  SHOAL_RETURN_IF_ERROR(validate_seccomp_options(s.task_template.container_spec.seccomp_mode, s.task_template.container_spec.seccomp_profile, "TaskTemplate.ContainerSpec.Privileges.Seccomp"));
  const std::string& cond = s.task_template.restart_policy.condition;
  if (cond != "none" && cond != "on-failure" && cond != "any") {
    return invalid_argument("invalid RestartPolicy.Condition \"" + cond + "\": use none, on-failure or any");
  }
  for (const auto& c : s.task_template.placement.constraints) SHOAL_RETURN_IF_ERROR(scheduler::validate_constraint(c));
  if (s.mode == ServiceModeKind::kGlobal && s.task_template.placement.max_replicas) {
    return invalid_argument("Placement.MaxReplicas applies to replicated services only");
  }
  if (s.endpoint_spec.mode != "vip" && s.endpoint_spec.mode != "dnsrr") {
    return invalid_argument("invalid EndpointSpec.Mode \"" + s.endpoint_spec.mode + "\": use vip or dnsrr");
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
      return invalid_argument("invalid EndpointSpec.Ports Protocol \"" + p.protocol + "\": use tcp, udp or sctp");
    }
    if (p.publish_mode != "ingress" && p.publish_mode != "host") {
      return invalid_argument("invalid EndpointSpec.Ports PublishMode \"" + p.publish_mode + "\": use ingress or host");
    }
    if (p.published_port && published[{p.protocol, p.published_port}]++) {
      return invalid_argument("EndpointSpec.Ports: published port " + std::to_string(p.published_port) + "/" +
                              p.protocol + " is given twice");
    }
    if (p.publish_mode == "ingress" && s.endpoint_spec.mode == "dnsrr") {
      return invalid_argument("port published with ingress mode can't be used with dnsrr mode: publish in host mode "
                              "(mode=host) or use endpoint mode vip");
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
