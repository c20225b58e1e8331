#include "cli/inspect_order.h"

#include <map>
#include <utility>
#include <vector>

namespace shoal::cli {

using nlohmann::ordered_json;

namespace {

using Fields = std::vector<std::pair<const char*, const char*>>;  // key, child type ("" = leaf)

const std::map<std::string, Fields>& schema() {
  static const std::map<std::string, Fields> kSchema = {
      {"Service", {{"ID", ""}, {"Version", "Version"}, {"CreatedAt", ""}, {"UpdatedAt", ""}, {"Spec", "ServiceSpec"},
                   {"PreviousSpec", "ServiceSpec"}, {"Endpoint", "Endpoint"}, {"UpdateStatus", "UpdateStatus"},
                   {"ServiceStatus", "ServiceStatus"}, {"JobStatus", ""}}},
      {"Version", {{"Index", ""}}},
      {"ServiceSpec", {{"Name", ""}, {"Labels", ""}, {"TaskTemplate", "TaskSpec"}, {"Mode", "Mode"},
                       {"UpdateConfig", "UpdateConfig"}, {"RollbackConfig", "UpdateConfig"}, {"Networks", "NetAttach"},
                       {"EndpointSpec", "EndpointSpec"}}},
      {"TaskSpec", {{"ContainerSpec", "ContainerSpec"}, {"PluginSpec", ""}, {"NetworkAttachmentSpec", ""},
                    {"Resources", "TaskResources"}, {"RestartPolicy", "RestartPolicy"}, {"Placement", "Placement"},
                    {"Networks", "NetAttach"}, {"LogDriver", "LogDriver"}, {"ForceUpdate", ""}, {"Runtime", ""}}},
      {"ContainerSpec", {{"Image", ""}, {"Labels", ""}, {"Command", ""}, {"Args", ""}, {"Hostname", ""}, {"Env", ""},
                         {"Dir", ""}, {"User", ""}, {"Groups", ""}, {"Privileges", ""}, {"Init", ""},
                         {"StopSignal", ""}, {"TTY", ""}, {"OpenStdin", ""}, {"ReadOnly", ""}, {"Mounts", ""},
                         {"StopGracePeriod", ""}, {"Healthcheck", ""}, {"Hosts", ""}, {"DNSConfig", ""},
                         {"Secrets", ""}, {"Configs", ""}, {"Isolation", ""}, {"Sysctls", ""},
                         {"CapabilityAdd", ""}, {"CapabilityDrop", ""}, {"Ulimits", ""}}},
      {"TaskResources", {{"Limits", "Res"}, {"Reservations", "Res"}}},
      {"Res", {{"NanoCPUs", ""}, {"MemoryBytes", ""}, {"Pids", ""}, {"GenericResources", ""}}},
      {"RestartPolicy", {{"Condition", ""}, {"Delay", ""}, {"MaxAttempts", ""}, {"Window", ""}}},
      {"Placement", {{"Constraints", ""}, {"Preferences", ""}, {"MaxReplicas", ""}, {"Platforms", "Platform"}}},
      {"Platform", {{"Architecture", ""}, {"OS", ""}}},
      {"LogDriver", {{"Name", ""}, {"Options", ""}}},
      {"Mode", {{"Replicated", "Replicated"}, {"Global", ""}, {"ReplicatedJob", ""}, {"GlobalJob", ""}}},
      {"Replicated", {{"Replicas", ""}}},
      {"UpdateConfig", {{"Parallelism", ""}, {"Delay", ""}, {"FailureAction", ""}, {"Monitor", ""},
                        {"MaxFailureRatio", ""}, {"Order", ""}}},
      {"NetAttach", {{"Target", ""}, {"Aliases", ""}, {"DriverOpts", ""}}},
      {"EndpointSpec", {{"Mode", ""}, {"Ports", "Port"}}},
      {"Port", {{"Name", ""}, {"Protocol", ""}, {"TargetPort", ""}, {"PublishedPort", ""}, {"PublishMode", ""}}},
      {"Endpoint", {{"Spec", "EndpointSpec"}, {"Ports", "Port"}, {"VirtualIPs", "VIP"}}},
      {"VIP", {{"NetworkID", ""}, {"Addr", ""}}},
      {"UpdateStatus", {{"State", ""}, {"StartedAt", ""}, {"CompletedAt", ""}, {"Message", ""}}},
      {"ServiceStatus", {{"RunningTasks", ""}, {"DesiredTasks", ""}, {"CompletedTasks", ""}}},
      {"Node", {{"ID", ""}, {"Version", "Version"}, {"CreatedAt", ""}, {"UpdatedAt", ""}, {"Spec", "NodeSpec"},
                {"Description", "NodeDesc"}, {"Status", "NodeStatus"}, {"ManagerStatus", "ManagerStatus"}}},
      {"NodeSpec", {{"Name", ""}, {"Labels", ""}, {"Role", ""}, {"Availability", ""}}},
      {"NodeDesc", {{"Hostname", ""}, {"Platform", "Platform"}, {"Resources", "Res"}, {"Engine", "Engine"},
                    {"TLSInfo", "TLSInfo"}}},
      {"Engine", {{"EngineVersion", ""}, {"Labels", ""}, {"Plugins", ""}}},
      {"TLSInfo", {{"TrustRoot", ""}, {"CertIssuerSubject", ""}, {"CertIssuerPublicKey", ""}}},
      {"NodeStatus", {{"State", ""}, {"Message", ""}, {"Addr", ""}}},
      {"ManagerStatus", {{"Leader", ""}, {"Reachability", ""}, {"Addr", ""}}},
      {"Task", {{"ID", ""}, {"Version", "Version"}, {"CreatedAt", ""}, {"UpdatedAt", ""}, {"Name", ""},
                {"Labels", ""}, {"Spec", "TaskSpec"}, {"ServiceID", ""}, {"Slot", ""}, {"NodeID", ""},
                {"Status", "TaskStatus"}, {"DesiredState", ""}, {"NetworksAttachments", ""},
                {"GenericResources", ""}, {"JobIteration", ""}}},
      {"TaskStatus", {{"Timestamp", ""}, {"State", ""}, {"Message", ""}, {"Err", ""},
                      {"ContainerStatus", "ContainerStatus"}, {"PortStatus", "PortStatus"}}},
      {"ContainerStatus", {{"ContainerID", ""}, {"PID", ""}, {"ExitCode", ""}}},
      {"PortStatus", {{"Ports", "Port"}}},
  };
  return kSchema;
}

}  // namespace

ordered_json docker_key_order(const ordered_json& j, const std::string& type) {
  if (type.empty()) return j;
  if (j.is_array()) {
    ordered_json out = ordered_json::array();
    for (const auto& e : j) out.push_back(docker_key_order(e, type));
    return out;
  }
  if (!j.is_object()) return j;
  auto it = schema().find(type);
  if (it == schema().end()) return j;
  ordered_json out = ordered_json::object();
  for (const auto& [key, child] : it->second) {
    auto f = j.find(key);
    if (f != j.end()) out[key] = docker_key_order(*f, child);
  }
  for (auto f = j.begin(); f != j.end(); ++f)
    if (!out.contains(f.key())) out[f.key()] = f.value();
  return out;
}

}  // namespace shoal::cli
