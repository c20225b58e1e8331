#include "manager/api/validation.h"

#include <regex>

#include "common/image_reference.h"
#include "manager/scheduler/scheduler.h"

namespace shoal::api {

namespace {

Status check_duration(const json& obj, const char* key, const std::string& where) {
  if (!obj.is_object() || !obj.contains(key) || obj[key].is_null()) return ok_status();
  const json& v = obj[key];
  if (!v.is_number_integer() || v.get<int64_t>() < 0) {
    return invalid_argument(where + "." + key + " must be a non-negative duration in nanoseconds");
  }
  return ok_status();
}

Status check_update_config(const json& uc, const std::string& where) {
  if (!uc.is_object()) return ok_status();
  if (uc.contains("Parallelism") && (!uc["Parallelism"].is_number_integer() || uc["Parallelism"].get<int64_t>() < 0)) {
    return invalid_argument(where + ".Parallelism must be a non-negative integer");
  }
  SHOAL_RETURN_IF_ERROR(check_duration(uc, "Delay", where));
  SHOAL_RETURN_IF_ERROR(check_duration(uc, "Monitor", where));
  std::string fa = uc.value("FailureAction", "pause");
  if (fa != "pause" && fa != "continue" && fa != "rollback" && !fa.empty()) {
    return invalid_argument(where + ".FailureAction \"" + fa + "\" is not valid: use pause, continue or rollback");
  }
  std::string order = uc.value("Order", "stop-first");
  if (order != "stop-first" && order != "start-first" && !order.empty()) {
    return invalid_argument(where + ".Order \"" + order + "\" is not valid: use stop-first or start-first");
  }
  if (uc.contains("MaxFailureRatio")) {
    double r = uc["MaxFailureRatio"].is_number() ? uc["MaxFailureRatio"].get<double>() : -1;
    if (r < 0 || r > 1) return invalid_argument(where + ".MaxFailureRatio must be between 0 and 1");
  }
  return ok_status();
}

}  // namespace

Result<ServiceSpec> parse_service_spec(const std::string& body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    return invalid_argument(std::string("invalid JSON in the request body: ") + e.what());
  }
  if (!j.is_object()) return invalid_argument("the request body must be a JSON object (a ServiceSpec)");
  if (j.contains("Mode") && j["Mode"].is_object() && j["Mode"].contains("Replicated")) {
    const json& r = j["Mode"]["Replicated"];
    if (r.is_object() && r.contains("Replicas") && !r["Replicas"].is_null()) {
      if (!r["Replicas"].is_number_integer() || r["Replicas"].get<int64_t>() < 0) {
        return invalid_argument("invalid replicas value: Mode.Replicated.Replicas must be a non-negative integer");
      }
    }
  }
  if (j.contains("Mode") && j["Mode"].is_object() && j["Mode"].contains("Replicated") && j["Mode"].contains("Global")) {
    return invalid_argument("Mode: give either Replicated or Global, not both");
  }
  const json& tt = j.value("TaskTemplate", json::object());
  const json& cs = tt.value("ContainerSpec", json::object());
  SHOAL_RETURN_IF_ERROR(check_duration(cs, "StopGracePeriod", "TaskTemplate.ContainerSpec"));
  const json& rp = tt.value("RestartPolicy", json::object());
  SHOAL_RETURN_IF_ERROR(check_duration(rp, "Delay", "TaskTemplate.RestartPolicy"));
  SHOAL_RETURN_IF_ERROR(check_duration(rp, "Window", "TaskTemplate.RestartPolicy"));
  if (rp.is_object() && rp.contains("MaxAttempts") &&
      (!rp["MaxAttempts"].is_number_integer() || rp["MaxAttempts"].get<int64_t>() < 0)) {
    return invalid_argument("TaskTemplate.RestartPolicy.MaxAttempts must be a non-negative integer");
  }
  SHOAL_RETURN_IF_ERROR(check_update_config(j.value("UpdateConfig", json::object()), "UpdateConfig"));
  SHOAL_RETURN_IF_ERROR(check_update_config(j.value("RollbackConfig", json::object()), "RollbackConfig"));
  ServiceSpec spec;
  try {
    spec = j.get<ServiceSpec>();
  } catch (const std::exception& e) {
    return invalid_argument(std::string("invalid ServiceSpec: ") + e.what());
  }
  SHOAL_RETURN_IF_ERROR(validate_service_spec(spec));
  return spec;
}

Status validate_service_spec(const ServiceSpec& s) {
  static const std::regex kName("[a-zA-Z0-9][a-zA-Z0-9_.-]*");
  if (s.name.empty()) return invalid_argument("the service needs a name (Spec.Name)");
  if (s.name.size() > 63 || !std::regex_match(s.name, kName)) {
    return invalid_argument("invalid name \"" + s.name +
                            "\": a service name is 1-63 characters of letters, digits, '_', '.' or '-', starting "
                            "with a letter or digit");
  }
  const std::string& image = s.task_template.container_spec.image;
  if (image.empty()) return invalid_argument("ContainerSpec.Image is empty: give the image to run, e.g. busybox:latest");
  auto ref = parse_reference(image);
  if (!ref.ok()) return ref.status();
  const std::string& cond = s.task_template.restart_policy.condition;
  if (cond != "none" && cond != "on-failure" && cond != "any") {
    return invalid_argument("invalid RestartPolicy.Condition \"" + cond + "\": use none, on-failure or any");
  }
  for (const auto& c : s.task_template.placement.constraints) SHOAL_RETURN_IF_ERROR(scheduler::validate_constraint(c));
  if (s.endpoint_spec.mode != "vip" && s.endpoint_spec.mode != "dnsrr") {
    return invalid_argument("invalid EndpointSpec.Mode \"" + s.endpoint_spec.mode + "\": use vip or dnsrr");
  }
  for (const auto& p : s.endpoint_spec.ports) {
    if (p.target_port == 0 || p.target_port > 65535) return invalid_argument("EndpointSpec.Ports: TargetPort must be 1-65535");
    if (p.published_port > 65535) return invalid_argument("EndpointSpec.Ports: PublishedPort must be 0-65535");
    if (p.protocol != "tcp" && p.protocol != "udp" && p.protocol != "sctp") {
      return invalid_argument("EndpointSpec.Ports: Protocol must be tcp, udp or sctp");
    }
  }
  if (s.task_template.resources.limits.memory_bytes < 0 || s.task_template.resources.limits.nano_cpus < 0) {
    return invalid_argument("Resources.Limits must not be negative");
  }
  return ok_status();
}

Result<std::map<std::string, std::vector<std::string>>> parse_filters(const std::string& text) {
  std::map<std::string, std::vector<std::string>> out;
  if (text.empty()) return out;
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    return invalid_argument(std::string("invalid filters: ") + e.what());
  }
  if (!j.is_object()) return invalid_argument("invalid filters: expected a JSON object");
  for (const auto& [key, v] : j.items()) {
    if (v.is_object()) {
      for (const auto& [val, on] : v.items())
        if (!on.is_boolean() || on.get<bool>()) out[key].push_back(val);
    } else if (v.is_array()) {
      for (const auto& val : v) out[key].push_back(val.get<std::string>());
    } else {
      return invalid_argument("invalid filter \"" + key + "\"");
    }
  }
  return out;
}

}  // namespace shoal::api
