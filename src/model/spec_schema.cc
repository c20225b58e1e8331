// The v1.41 field tables. To turn a field on when shoal starts applying it,
// mark it kApplied here (and decode it in objects.cc).
#include "model/spec_schema.h"

#include <algorithm>
#include <string>
#include <vector>

namespace shoal {

using json = nlohmann::json;

namespace {

enum class Type { kString, kBool, kInt, kUint, kNumber, kStrings, kStringMap, kObject, kObjects, kAnyObject, kAny };
enum class Support {
  kApplied,         // any value is applied
  kDefaultOnly,     // only empty values and those in `accepted` pass
  kRefusedPresent,  // refused when present at all, even empty (Mode.ReplicatedJob: {} selects it)
};

struct Field {
  const char* name;
  Type type;
  Support support = Support::kApplied;
  const std::vector<Field>* children = nullptr;  // kObject, kObjects
  json accepted = json::array();                 // kDefaultOnly: values that count as the default
  const char* hint = "remove it from the spec";  // what to do instead, for a refusal
};
using Fields = std::vector<Field>;

constexpr Support kApplied = Support::kApplied;
constexpr Support kDefaultOnly = Support::kDefaultOnly;

// ---- ServiceSpec (v1.41)
const Fields& service_fields() {
  static const Fields kLimits = {{"NanoCPUs", Type::kInt}, {"MemoryBytes", Type::kInt}, {"Pids", Type::kInt}};
  static const Fields kReservations = {
      {"NanoCPUs", Type::kInt},
      {"MemoryBytes", Type::kInt},
      {"GenericResources", Type::kObjects, kDefaultOnly, nullptr, json::array(), "generic resources are not scheduled yet"}};
  static const Fields kResources = {{"Limits", Type::kObject, kApplied, &kLimits},
                                    {"Reservations", Type::kObject, kApplied, &kReservations}};
  static const Fields kRestart = {{"Condition", Type::kString},
                                  {"Delay", Type::kInt},
                                  {"MaxAttempts", Type::kUint},
                                  {"Window", Type::kInt}};
  static const Fields kPlatform = {{"Architecture", Type::kString}, {"OS", Type::kString}};
  static const Fields kPlacement = {
      {"Constraints", Type::kStrings},
      {"Preferences", Type::kObjects, kDefaultOnly, nullptr, json::array(), "placement preferences are not applied yet"},
      {"MaxReplicas", Type::kUint},
      {"Platforms", Type::kObjects, kApplied, &kPlatform}};
  // Privileges: the security options (Seccomp, AppArmor and
  // NoNewPrivileges have the names of later API versions).
  static const Fields kSeccomp = {{"Mode", Type::kString}, {"Profile", Type::kString}};
  static const Fields kPrivileges = {
      {"CredentialSpec", Type::kAny, kDefaultOnly, nullptr, json::array(), "credential specs are for Windows"},
      {"SELinuxContext", Type::kAny, kDefaultOnly, nullptr, json::array(), "SELinux labels are not applied yet"},
      {"Seccomp", Type::kObject, kApplied, &kSeccomp},
      {"AppArmor", Type::kAny, kDefaultOnly, nullptr, json::array(), "AppArmor profiles are not applied yet"},
      {"NoNewPrivileges", Type::kBool}};
  // Structured (not free-form) so that their keys are matched as Go matches
  // them too: {"healthcheck":{"test":["NONE"]}} reads as {"Healthcheck":{"Test":["NONE"]}}.
  static const Fields kHealthcheck = {{"Test", Type::kStrings},
                                      {"Interval", Type::kInt},
                                      {"Timeout", Type::kInt},
                                      {"Retries", Type::kInt},
                                      {"StartPeriod", Type::kInt}};
  static const Fields kDnsConfig = {{"Nameservers", Type::kStrings}, {"Search", Type::kStrings}, {"Options", Type::kStrings}};
  static const Fields kContainer = {
      {"Image", Type::kString},
      {"Labels", Type::kStringMap},
      {"Command", Type::kStrings},
      {"Args", Type::kStrings},
      {"Hostname", Type::kString},
      {"Env", Type::kStrings},
      {"Dir", Type::kString},
      {"User", Type::kString},
      {"Groups", Type::kStrings, kDefaultOnly, nullptr, json::array(), "supplementary groups are not applied yet"},
      {"Privileges", Type::kObject, kApplied, &kPrivileges},
      {"TTY", Type::kBool, kDefaultOnly, nullptr, json::array(), "containers get no terminal yet"},
      {"OpenStdin", Type::kBool, kDefaultOnly, nullptr, json::array(), "containers get no stdin yet"},
      {"ReadOnly", Type::kBool},
      {"Mounts", Type::kObjects, kDefaultOnly, nullptr, json::array(), "mounts come with volume support"},
      {"StopSignal", Type::kString},
      {"StopGracePeriod", Type::kInt},
      {"Healthcheck", Type::kObject, kDefaultOnly, &kHealthcheck, json::parse(R"([{"Test":["NONE"]}])"),
       "health checks are not run yet (--no-healthcheck passes)"},
      {"Hosts", Type::kStrings, kDefaultOnly, nullptr, json::array(), "extra /etc/hosts entries are not written yet"},
      {"DNSConfig", Type::kObject, kDefaultOnly, &kDnsConfig, json::array(), "DNS comes with overlay networks"},
      {"Secrets", Type::kObjects, kDefaultOnly, nullptr, json::array(), "secrets are not delivered yet"},
      {"Configs", Type::kObjects, kDefaultOnly, nullptr, json::array(), "configs are not delivered yet"},
      {"Isolation", Type::kString, kDefaultOnly, nullptr, json::array({"default"}), "use \"default\""},
      {"Init", Type::kBool, kDefaultOnly, nullptr, json::array(), "no init process is run in containers yet"},
      {"Sysctls", Type::kStringMap, kDefaultOnly, nullptr, json::array(), "sysctls are not applied yet"},
      {"CapabilityAdd", Type::kStrings, kDefaultOnly, nullptr, json::array(), "containers get Docker's default capabilities only"},
      {"CapabilityDrop", Type::kStrings, kDefaultOnly, nullptr, json::array(), "containers get Docker's default capabilities only"},
      {"Ulimits", Type::kObjects, kDefaultOnly, nullptr, json::array(), "ulimits are not applied yet"}};
  static const Fields kLogDriver = {{"Name", Type::kString}, {"Options", Type::kStringMap}};
  static const Fields kNetworkAttachment = {
      {"Target", Type::kString},
      {"Aliases", Type::kStrings},
      {"DriverOpts", Type::kStringMap, kDefaultOnly, nullptr, json::array(),
       "per-attachment driver options are not applied; set options on the network (network create --opt)"}};
  static const Fields kTask = {
      {"PluginSpec", Type::kAny, Support::kRefusedPresent, nullptr, json::array(), "plugins are not supported"},
      {"ContainerSpec", Type::kObject, kApplied, &kContainer},
      {"NetworkAttachmentSpec", Type::kAny, Support::kRefusedPresent},
      {"Resources", Type::kObject, kApplied, &kResources},
      {"RestartPolicy", Type::kObject, kApplied, &kRestart},
      {"Placement", Type::kObject, kApplied, &kPlacement},
      {"ForceUpdate", Type::kUint},
      {"Runtime", Type::kString, kDefaultOnly, nullptr, json::array({"container"}), "use \"container\""},
      {"Networks", Type::kObjects, kApplied, &kNetworkAttachment},
      {"LogDriver", Type::kObject, kDefaultOnly, &kLogDriver, json::array(), "tasks log to files on their node"}};
  static const Fields kReplicated = {{"Replicas", Type::kUint}};
  static const Fields kMode = {
      {"Replicated", Type::kObject, kApplied, &kReplicated},
      {"Global", Type::kAnyObject},
      {"ReplicatedJob", Type::kAny, Support::kRefusedPresent, nullptr, json::array(), "use Replicated or Global"},
      {"GlobalJob", Type::kAny, Support::kRefusedPresent, nullptr, json::array(), "use Replicated or Global"}};
  static const Fields kUpdate = {
      {"Parallelism", Type::kUint},
      {"Delay", Type::kInt},
      {"FailureAction", Type::kString, kDefaultOnly, nullptr, json::array({"pause", "continue"}),
       "automatic rollback is not implemented yet; use pause or continue"},
      {"Monitor", Type::kInt},
      {"MaxFailureRatio", Type::kNumber, kDefaultOnly, nullptr, json::array(), "a failure ratio is not applied yet"},
      {"Order", Type::kString}};
  // A rollback runs with the UpdateConfig of the spec rolled back to; a
  // RollbackConfig other than Docker's default is not applied.
  static const char* kRollbackHint = "rollbacks use the UpdateConfig; leave RollbackConfig at its defaults";
  static const Fields kRollback = {
      {"Parallelism", Type::kUint, kDefaultOnly, nullptr, json::array({1}), kRollbackHint},
      {"Delay", Type::kInt, kDefaultOnly, nullptr, json::array(), kRollbackHint},
      {"FailureAction", Type::kString, kDefaultOnly, nullptr, json::array({"pause"}), kRollbackHint},
      {"Monitor", Type::kInt, kDefaultOnly, nullptr, json::array({5000000000LL}), kRollbackHint},
      {"MaxFailureRatio", Type::kNumber, kDefaultOnly, nullptr, json::array(), kRollbackHint},
      {"Order", Type::kString, kDefaultOnly, nullptr, json::array({"stop-first"}), kRollbackHint}};
  static const Fields kPort = {
      {"Name", Type::kString},
      {"Protocol", Type::kString, kDefaultOnly, nullptr, json::array({"tcp", "udp"}), "publish tcp or udp ports"},
      {"TargetPort", Type::kUint},
      {"PublishedPort", Type::kUint},
      {"PublishMode", Type::kString, kDefaultOnly, nullptr, json::array({"ingress", "host"}),
       "publish through the routing mesh (mode=ingress) or on the task's node (mode=host)"}};
  static const Fields kEndpoint = {
      {"Mode", Type::kString},
      {"Ports", Type::kObjects, kApplied, &kPort}};
  static const Fields kService = {
      {"Name", Type::kString},
      {"Labels", Type::kStringMap},
      {"TaskTemplate", Type::kObject, kApplied, &kTask},
      {"Mode", Type::kObject, kApplied, &kMode},
      {"UpdateConfig", Type::kObject, kApplied, &kUpdate},
      {"RollbackConfig", Type::kObject, kApplied, &kRollback},
      {"Networks", Type::kObjects, kDefaultOnly, nullptr, json::array(),
       "the top-level Networks field is deprecated; give the networks in TaskTemplate.Networks"},
      {"EndpointSpec", Type::kObject, kApplied, &kEndpoint}};
  return kService;
}

// ---- swarm Spec (v1.41). Raft's values are etcd's business: only the
// defaults shoal shows are accepted.
const Fields& swarm_fields() {
  static const char* kRaftHint = "shoal's store is etcd, whose raft settings are not configurable here";
  static const Fields kOrchestration = {{"TaskHistoryRetentionLimit", Type::kInt}};
  static const Fields kRaft = {
      {"SnapshotInterval", Type::kUint, kDefaultOnly, nullptr, json::array({10000}), kRaftHint},
      {"KeepOldSnapshots", Type::kUint, kDefaultOnly, nullptr, json::array(), kRaftHint},
      {"LogEntriesForSlowFollowers", Type::kUint, kDefaultOnly, nullptr, json::array({500}), kRaftHint},
      {"ElectionTick", Type::kInt, kDefaultOnly, nullptr, json::array({10}), kRaftHint},
      {"HeartbeatTick", Type::kInt, kDefaultOnly, nullptr, json::array({1}), kRaftHint}};
  static const Fields kDispatcher = {{"HeartbeatPeriod", Type::kInt}};
  static const char* kCaHint = "node certificates are issued by shoal's own root CA for 90 days";
  static const Fields kCa = {
      {"NodeCertExpiry", Type::kInt, kDefaultOnly, nullptr, json::array({int64_t{90} * 24 * 3600 * 1000000000LL}), kCaHint},
      {"ExternalCAs", Type::kObjects, kDefaultOnly, nullptr, json::array(), kCaHint},
      {"SigningCACert", Type::kString, kDefaultOnly, nullptr, json::array(), kCaHint},
      {"SigningCAKey", Type::kString, kDefaultOnly, nullptr, json::array(), kCaHint},
      {"ForceRotate", Type::kUint, kDefaultOnly, nullptr, json::array(), "CA rotation is not implemented yet"}};
  static const Fields kTaskDefaults = {
      {"LogDriver", Type::kAnyObject, kDefaultOnly, nullptr, json::array(), "tasks log to files on their node"}};
  static const Fields kEncryption = {
      {"AutoLockManagers", Type::kBool, kDefaultOnly, nullptr, json::array(), "autolock is not supported yet"}};
  static const Fields kSwarm = {{"Name", Type::kString},
                                {"Labels", Type::kStringMap},
                                {"Orchestration", Type::kObject, kApplied, &kOrchestration},
                                {"Raft", Type::kObject, kApplied, &kRaft},
                                {"Dispatcher", Type::kObject, kApplied, &kDispatcher},
                                {"CAConfig", Type::kObject, kApplied, &kCa},
                                {"EncryptionConfig", Type::kObject, kApplied, &kEncryption},
                                {"TaskDefaults", Type::kObject, kApplied, &kTaskDefaults}};
  return kSwarm;
}

bool iequals(const std::string& a, const char* b) {
  size_t n = std::char_traits<char>::length(b);
  if (a.size() != n) return false;
  for (size_t i = 0; i < n; ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

const char* type_text(Type t) {
  switch (t) {
    case Type::kString: return "a string";
    case Type::kBool: return "true or false";
    case Type::kInt: return "an integer";
    case Type::kUint: return "a non-negative integer";
    case Type::kNumber: return "a number";
    case Type::kStrings: return "a list of strings";
    case Type::kStringMap: return "an object of string values";
    case Type::kObject:
    case Type::kAnyObject: return "a JSON object";
    case Type::kObjects: return "a list of JSON objects";
    case Type::kAny: return "a JSON value";
  }
  return "a JSON value";
}

bool has_type(const json& v, Type t) {
  switch (t) {
    case Type::kString: return v.is_string();
    case Type::kBool: return v.is_boolean();
    case Type::kInt: return v.is_number_integer();
    case Type::kUint: return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0);
    case Type::kNumber: return v.is_number();
    case Type::kStrings:
      return v.is_array() && std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_string(); });
    case Type::kStringMap:
      return v.is_object() && std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_string(); });
    case Type::kObject:
    case Type::kAnyObject: return v.is_object();
    case Type::kObjects:
      return v.is_array() && std::all_of(v.begin(), v.end(), [](const json& e) { return e.is_object(); });
    case Type::kAny: return true;
  }
  return false;
}

std::string join(const std::string& path, const char* name) { return path.empty() ? name : path + "." + name; }

// The key of `in` that Go would decode into `f`, matched without regard to
// case; nullptr when there is none (or it is null, which leaves the field
// unset). Two spellings of one field ("Mounts" and "mounts") are an error:
// Go keeps the later one, and the parsed object no longer knows which came
// later, so taking either could apply a value Docker would drop or drop one
// it would apply.
Result<const json*> find_key(const json& in, const Field& f, const std::string& where) {
  const json* found = nullptr;
  const std::string* first = nullptr;
  for (auto it = in.begin(); it != in.end(); ++it) {
    if (!iequals(it.key(), f.name)) continue;
    if (first) {
      return invalid_argument("invalid " + where + ": given twice, as \"" + *first + "\" and \"" + it.key() +
                              "\"; give it once");
    }
    first = &it.key();
    found = it->is_null() ? nullptr : &*it;
  }
  return found;
}

Result<json> canonical(const json& in, const Fields& fields, const std::string& path);

Result<json> canonical_value(const json& v, const Field& f, const std::string& where) {
  if (!has_type(v, f.type)) {
    std::string shown = v.is_number() || v.is_boolean() ? " " + v.dump() : "";
    return invalid_argument("invalid " + where + shown + ": must be " + type_text(f.type));
  }
  if (!f.children) return v;
  if (f.type == Type::kObject) return canonical(v, *f.children, where);
  json out = json::array();
  for (size_t i = 0; i < v.size(); ++i) {
    SHOAL_ASSIGN_OR_RETURN(json e, canonical(v[i], *f.children, where + "[" + std::to_string(i) + "]"));
    out.push_back(std::move(e));
  }
  return out;
}

Result<json> canonical(const json& in, const Fields& fields, const std::string& path) {
  if (!in.is_object()) return invalid_argument("invalid " + (path.empty() ? "spec" : path) + ": must be a JSON object");
  json out = json::object();
  for (const Field& f : fields) {
    SHOAL_ASSIGN_OR_RETURN(const json* v, find_key(in, f, join(path, f.name)));
    if (!v) continue;
    SHOAL_ASSIGN_OR_RETURN(out[f.name], canonical_value(*v, f, join(path, f.name)));
  }
  return out;
}

bool is_empty(const json& v) {
  if (v.is_null()) return true;
  if (v.is_boolean()) return !v.get<bool>();
  if (v.is_number()) return v.get<double>() == 0;
  if (v.is_string()) return v.get_ref<const std::string&>().empty();
  if (v.is_array()) return v.empty();
  return std::all_of(v.begin(), v.end(), [](const json& e) { return is_empty(e); });
}

// `v` without its empty object members (recursively): {"Test":["NONE"],
// "Interval":0} compares equal to the accepted {"Test":["NONE"]}.
json without_empty_members(const json& v) {
  if (!v.is_object()) return v;
  json out = json::object();
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!is_empty(*it)) out[it.key()] = without_empty_members(*it);
  }
  return out;
}

std::string short_value(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  return s.size() > 64 ? s.substr(0, 61) + "..." : s;
}

Status check(const json& in, const Fields& fields, const std::string& path) {
  for (const Field& f : fields) {
    auto it = in.find(f.name);
    if (it == in.end()) continue;
    std::string where = join(path, f.name);
    bool refused = false;
    if (f.support == Support::kRefusedPresent) refused = true;
    if (f.support == Support::kDefaultOnly && !is_empty(*it)) {
      refused = std::find(f.accepted.begin(), f.accepted.end(), without_empty_members(*it)) == f.accepted.end();
    }
    if (refused) {
      std::string value = f.type == Type::kString || f.type == Type::kNumber || f.type == Type::kUint ||
                                  f.type == Type::kInt
                              ? " " + short_value(*it)
                              : "";
      return invalid_argument(where + value + " is not supported by shoal yet: " + f.hint);
    }
    if (f.children && f.type == Type::kObject) SHOAL_RETURN_IF_ERROR(check(*it, *f.children, where));
    if (f.children && f.type == Type::kObjects) {
      for (size_t i = 0; i < it->size(); ++i) {
        SHOAL_RETURN_IF_ERROR(check((*it)[i], *f.children, where + "[" + std::to_string(i) + "]"));
      }
    }
  }
  return ok_status();
}

}  // namespace

Status apply_swarm_spec(const json& c, ClusterSpec& spec) {
  if (c.contains("Name") && !c["Name"].get_ref<const std::string&>().empty()) spec.name = c["Name"];
  if (c.contains("Labels")) spec.labels = c["Labels"].get<Labels>();
  const json orch = c.value("Orchestration", json::object());
  if (orch.contains("TaskHistoryRetentionLimit")) {
    int64_t v = orch["TaskHistoryRetentionLimit"].get<int64_t>();
    if (v < 0 || v > 1000000) {
      return invalid_argument("invalid Orchestration.TaskHistoryRetentionLimit " + std::to_string(v) +
                              ": must be between 0 and 1000000");
    }
    spec.task_history_retention_limit = v;
  }
  const json disp = c.value("Dispatcher", json::object());
  if (disp.contains("HeartbeatPeriod")) {
    int64_t v = disp["HeartbeatPeriod"].get<int64_t>();
    if (v == 0) return ok_status();  // 0: the default (what the CLI sends without --dispatcher-heartbeat)
    // An upper bound too: the period is multiplied (3 missed heartbeats mark a
    // node down), so a value near int64's limit would overflow the deadline.
    constexpr int64_t kMaxHeartbeat = 24LL * 3600 * 1000000000;
    if (v < 1000000 || v > kMaxHeartbeat) {
      return invalid_argument("invalid Dispatcher.HeartbeatPeriod " + std::to_string(v) +
                              ": must be between 1ms (1000000 ns) and 24h (86400000000000 ns)");
    }
    spec.heartbeat_period = Nanos(v);
  }
  return ok_status();
}

Result<json> canonical_service_spec(const json& in) { return canonical(in, service_fields(), ""); }
Result<json> canonical_swarm_spec(const json& in) { return canonical(in, swarm_fields(), ""); }
Result<json> canonical_swarm_init_request(const json& in) {
  // Spec is left as sent here: canonical_swarm_spec() reads it.
  static const Fields kInit = {{"ListenAddr", Type::kString},     {"AdvertiseAddr", Type::kString},
                               {"DataPathAddr", Type::kString},   {"DataPathPort", Type::kUint},
                               {"DefaultAddrPool", Type::kStrings}, {"SubnetSize", Type::kUint},
                               {"ForceNewCluster", Type::kBool},  {"Spec", Type::kAnyObject},
                               {"AutoLockManagers", Type::kBool}, {"Availability", Type::kString}};
  return canonical(in, kInit, "");
}
Result<json> canonical_node_spec(const json& in) {
  static const Fields kNode = {{"Name", Type::kString},
                               {"Labels", Type::kStringMap},
                               {"Role", Type::kString},
                               {"Availability", Type::kString}};
  return canonical(in, kNode, "");
}
Status check_supported_service_spec(const json& canonical) { return check(canonical, service_fields(), ""); }
Status check_supported_swarm_spec(const json& canonical) { return check(canonical, swarm_fields(), ""); }

}  // namespace shoal
