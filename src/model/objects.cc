// JSON for the object model, in Docker Engine API v1.41 shapes. Empty
// optional values are omitted the way Go's `omitempty` does, so the docker
// CLI's templates see what they see against dockerd.
#include "model/objects.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <type_traits>

#include "common/base64.h"
#include "common/time.h"

namespace shoal {

namespace {

std::string ts(Time t) { return format_rfc3339(t); }
Time parse_ts(const json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_string()) return Time{};
  auto r = parse_rfc3339(j[key].get<std::string>());
  return r.ok() ? *r : Time{};
}

template <typename T>
T get(const json& j, const char* key, T fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
    // nlohmann's get<> of a number outside T's range (or a huge float into an
    // integer) is undefined behaviour; stored and received JSON is untrusted.
    if (it->is_number()) {
      bool ok = true;
      if constexpr (std::is_integral_v<T>) {
        if (it->is_number_float()) {
          double d = it->template get<double>();
          ok = std::isfinite(d) && d == std::trunc(d) && d >= static_cast<double>(std::numeric_limits<T>::min()) &&
               d < static_cast<double>(std::numeric_limits<T>::max());
        } else if (it->is_number_unsigned()) {
          ok = it->template get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max());
        } else {
          int64_t v = it->template get<int64_t>();
          ok = std::is_signed_v<T> ? (v >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
                                      v <= static_cast<int64_t>(std::numeric_limits<T>::max()))
                                   : (v >= 0 && static_cast<uint64_t>(v) <= static_cast<uint64_t>(std::numeric_limits<T>::max()));
        }
      }
      if (!ok) throw std::out_of_range(std::string(key) + ": the number is out of range");
    }
  }
  return it->get<T>();
}

const json& sub(const json& j, const char* key) {
  static const json kEmpty = json::object();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(key);
  return it == j.end() || !it->is_object() ? kEmpty : *it;
}

void meta_to(json& j, const Meta& m) {
  j["ID"] = m.id;
  j["Version"] = {{"Index", m.version}};
  j["CreatedAt"] = ts(m.created_at);
  j["UpdatedAt"] = ts(m.updated_at);
}
void meta_from(const json& j, Meta& m) {
  m.id = get<std::string>(j, "ID", "");
  m.version = get<uint64_t>(sub(j, "Version"), "Index", 0);
  m.created_at = parse_ts(j, "CreatedAt");
  m.updated_at = parse_ts(j, "UpdatedAt");
}

void put_if(json& j, const char* key, const std::string& v) {
  if (!v.empty()) j[key] = v;
}
void put_list(json& j, const char* key, const std::vector<std::string>& v) {
  if (!v.empty()) j[key] = v;
}
void put_labels(json& j, const char* key, const Labels& v) {
  if (!v.empty()) j[key] = v;
}
void put_object(json& j, const char* key, json v) {
  if (!v.empty()) j[key] = std::move(v);
}

// The keys of `given` that `encoded` lacks, recursively through objects
// (lists are compared whole): what a client sent that the encoder leaves out.
json missing_keys(const json& given, const json& encoded) {
  json out = json::object();
  if (!given.is_object()) return out;
  for (auto it = given.begin(); it != given.end(); ++it) {
    if (it->is_null()) continue;  // null leaves a field unset, as in Go
    auto e = encoded.is_object() ? encoded.find(it.key()) : encoded.end();
    if (!encoded.is_object() || e == encoded.end()) {
      out[it.key()] = *it;
    } else if (it->is_object() && e->is_object()) {
      json sub = missing_keys(*it, *e);
      if (!sub.empty()) out[it.key()] = std::move(sub);
    }
  }
  return out;
}
// Adds the keys of `extra` that `j` lacks, recursively through objects.
void merge_missing(json& j, const json& extra) {
  if (!extra.is_object() || !j.is_object()) return;
  for (auto it = extra.begin(); it != extra.end(); ++it) {
    auto e = j.find(it.key());
    if (e == j.end()) j[it.key()] = *it;
    else if (e->is_object()) merge_missing(*e, *it);
  }
}

json limits_json(const ResourceLimits& l, bool pids) {
  json j = json::object();
  if (l.nano_cpus) j["NanoCPUs"] = l.nano_cpus;
  if (l.memory_bytes) j["MemoryBytes"] = l.memory_bytes;
  if (pids && l.pids) j["Pids"] = l.pids;
  return j;
}
ResourceLimits limits_from(const json& j) {
  return {get<int64_t>(j, "NanoCPUs", 0), get<int64_t>(j, "MemoryBytes", 0), get<int64_t>(j, "Pids", 0)};
}

json update_config_json(const UpdateConfig& u) {
  const UpdateConfig d;
  json j = json::object();
  if (u.parallelism != d.parallelism) j["Parallelism"] = u.parallelism;
  if (u.delay != d.delay) j["Delay"] = u.delay.count();
  if (u.failure_action != d.failure_action) j["FailureAction"] = u.failure_action;
  if (u.monitor != d.monitor) j["Monitor"] = u.monitor.count();
  if (u.max_failure_ratio != d.max_failure_ratio) j["MaxFailureRatio"] = u.max_failure_ratio;
  if (u.order != d.order) j["Order"] = u.order;
  return j;
}
UpdateConfig update_config_from(const json& j) {
  UpdateConfig u;
  u.parallelism = get<uint64_t>(j, "Parallelism", 1);
  u.delay = Nanos(get<int64_t>(j, "Delay", 0));
  u.failure_action = get<std::string>(j, "FailureAction", "pause");
  u.monitor = Nanos(get<int64_t>(j, "Monitor", 5000000000LL));
  u.max_failure_ratio = get<double>(j, "MaxFailureRatio", 0);
  u.order = get<std::string>(j, "Order", "stop-first");
  return u;
}

// EndpointSpec.Ports, Endpoint.Ports and a task's PortStatus.Ports: the same encoding.
json ports_json(const std::vector<PortConfig>& ports) {
  json out = json::array();
  for (const auto& p : ports) {
    json pj = {{"Protocol", p.protocol}, {"TargetPort", p.target_port}, {"PublishMode", p.publish_mode}};
    put_if(pj, "Name", p.name);
    if (p.published_port) pj["PublishedPort"] = p.published_port;
    out.push_back(pj);
  }
  return out;
}
std::vector<PortConfig> ports_from(const json& parent) {
  std::vector<PortConfig> out;
  if (!parent.contains("Ports") || !parent["Ports"].is_array()) return out;
  for (const auto& p : parent["Ports"]) {
    PortConfig pc;
    pc.name = get<std::string>(p, "Name", "");
    pc.protocol = get<std::string>(p, "Protocol", "tcp");
    pc.target_port = get<uint32_t>(p, "TargetPort", 0);
    pc.published_port = get<uint32_t>(p, "PublishedPort", 0);
    pc.publish_mode = get<std::string>(p, "PublishMode", "ingress");
    out.push_back(pc);
  }
  return out;
}

json task_status_json(const TaskStatus& s) {
  json j = {{"Timestamp", ts(s.timestamp)}, {"State", task_state_name(s.state)}, {"Message", s.message}};
  if (!s.err.empty()) j["Err"] = s.err;
  if (s.container_status) {
    j["ContainerStatus"] = {{"ContainerID", s.container_status->container_id},
                            {"PID", s.container_status->pid},
                            {"ExitCode", s.container_status->exit_code}};
  }
  j["PortStatus"] = json::object();
  if (!s.port_status.empty()) j["PortStatus"]["Ports"] = ports_json(s.port_status);
  return j;
}
TaskStatus task_status_from(const json& j) {
  TaskStatus s;
  s.timestamp = parse_ts(j, "Timestamp");
  parse_task_state(get<std::string>(j, "State", "new"), &s.state);
  s.message = get<std::string>(j, "Message", "");
  s.err = get<std::string>(j, "Err", "");
  if (j.contains("ContainerStatus")) {
    const json& c = sub(j, "ContainerStatus");
    s.container_status = ContainerStatus{get<std::string>(c, "ContainerID", ""), get<int>(c, "PID", 0),
                                         get<int>(c, "ExitCode", 0)};
  }
  if (j.contains("PortStatus") && j["PortStatus"].is_object()) s.port_status = ports_from(j["PortStatus"]);
  return s;
}

json description_json(const NodeDescription& d) {
  return {{"Hostname", d.hostname},
          {"Platform", {{"Architecture", d.architecture}, {"OS", d.os}}},
          {"Resources", {{"NanoCPUs", d.nano_cpus}, {"MemoryBytes", d.memory_bytes}}},
          {"Engine", {{"EngineVersion", d.engine_version}}}};
}
NodeDescription description_from(const json& j) {
  NodeDescription d;
  d.hostname = get<std::string>(j, "Hostname", "");
  d.architecture = get<std::string>(sub(j, "Platform"), "Architecture", "");
  d.os = get<std::string>(sub(j, "Platform"), "OS", "");
  d.nano_cpus = get<int64_t>(sub(j, "Resources"), "NanoCPUs", 0);
  d.memory_bytes = get<int64_t>(sub(j, "Resources"), "MemoryBytes", 0);
  d.engine_version = get<std::string>(sub(j, "Engine"), "EngineVersion", "");
  return d;
}

}  // namespace

const char* task_state_name(TaskState s) {
  switch (s) {
    case TaskState::kNew: return "new";
    case TaskState::kPending: return "pending";
    case TaskState::kAssigned: return "assigned";
    case TaskState::kAccepted: return "accepted";
    case TaskState::kPreparing: return "preparing";
    case TaskState::kReady: return "ready";
    case TaskState::kStarting: return "starting";
    case TaskState::kRunning: return "running";
    case TaskState::kComplete: return "complete";
    case TaskState::kShutdown: return "shutdown";
    case TaskState::kFailed: return "failed";
    case TaskState::kRejected: return "rejected";
    case TaskState::kRemove: return "remove";
    case TaskState::kOrphaned: return "orphaned";
  }
  return "unknown";
}

bool parse_task_state(const std::string& s, TaskState* out) {
  static const TaskState kAll[] = {TaskState::kNew,      TaskState::kPending,  TaskState::kAssigned,
                                   TaskState::kAccepted, TaskState::kPreparing, TaskState::kReady,
                                   TaskState::kStarting, TaskState::kRunning,  TaskState::kComplete,
                                   TaskState::kShutdown, TaskState::kFailed,   TaskState::kRejected,
                                   TaskState::kRemove,   TaskState::kOrphaned};
  for (auto st : kAll) {
    if (s == task_state_name(st)) {
      *out = st;
      return true;
    }
  }
  return false;
}

const char* node_role_name(NodeRole r) { return r == NodeRole::kManager ? "manager" : "worker"; }
const char* node_availability_name(NodeAvailability a) {
  switch (a) {
    case NodeAvailability::kActive: return "active";
    case NodeAvailability::kPause: return "pause";
    case NodeAvailability::kDrain: return "drain";
  }
  return "active";
}
const char* node_state_name(NodeState s) {
  switch (s) {
    case NodeState::kUnknown: return "unknown";
    case NodeState::kDown: return "down";
    case NodeState::kReady: return "ready";
    case NodeState::kDisconnected: return "disconnected";
  }
  return "unknown";
}

// ---- Cluster
json to_api(const Cluster& v) {
  json j = json::object();
  meta_to(j, v);
  const ClusterSpec& s = v.spec;
  j["Spec"] = {{"Name", s.name},
               {"Labels", s.labels.empty() ? json::object() : json(s.labels)},
               {"Orchestration", {{"TaskHistoryRetentionLimit", s.task_history_retention_limit}}},
               {"Raft",
                {{"SnapshotInterval", s.snapshot_interval},
                 {"KeepOldSnapshots", 0},
                 {"LogEntriesForSlowFollowers", 500},
                 {"ElectionTick", s.election_tick},
                 {"HeartbeatTick", s.heartbeat_tick}}},
               {"Dispatcher", {{"HeartbeatPeriod", s.heartbeat_period.count()}}},
               {"CAConfig", {{"NodeCertExpiry", s.node_cert_expiry.count()}}},
               {"TaskDefaults", json::object()},
               {"EncryptionConfig", {{"AutoLockManagers", s.autolock_managers}}}};
  j["TLSInfo"] = {{"TrustRoot", v.root_ca_cert}, {"CertIssuerSubject", ""}, {"CertIssuerPublicKey", ""}};
  j["RootRotationInProgress"] = false;
  j["DefaultAddrPool"] = v.default_addr_pool;
  j["SubnetSize"] = v.subnet_size;
  j["DataPathPort"] = v.data_path_port;
  return j;
}
json to_stored(const Cluster& v) {
  json j = to_api(v);
  if (!v.removed_nodes.empty()) {
    json r = json::object();
    for (const auto& [id, until] : v.removed_nodes) r[id] = ts(until);
    j["RemovedNodes"] = r;
  }
  return j;
}
bool node_removed(const Cluster& c, const std::string& node_id, Time now) {
  auto it = c.removed_nodes.find(node_id);
  return it != c.removed_nodes.end() && now < it->second;
}
void from_stored(const json& j, Cluster& v) {
  meta_from(j, v);
  const json& s = sub(j, "Spec");
  v.spec.name = get<std::string>(s, "Name", "default");
  v.spec.labels = get<Labels>(s, "Labels", {});
  v.spec.task_history_retention_limit = get<int64_t>(sub(s, "Orchestration"), "TaskHistoryRetentionLimit", 5);
  v.spec.heartbeat_period = Nanos(get<int64_t>(sub(s, "Dispatcher"), "HeartbeatPeriod", 5000000000LL));
  v.spec.node_cert_expiry = Nanos(get<int64_t>(sub(s, "CAConfig"), "NodeCertExpiry", v.spec.node_cert_expiry.count()));
  v.spec.snapshot_interval = get<uint64_t>(sub(s, "Raft"), "SnapshotInterval", 10000);
  v.spec.election_tick = get<uint64_t>(sub(s, "Raft"), "ElectionTick", 10);
  v.spec.heartbeat_tick = get<uint64_t>(sub(s, "Raft"), "HeartbeatTick", 1);
  v.spec.autolock_managers = get<bool>(sub(s, "EncryptionConfig"), "AutoLockManagers", false);
  v.root_ca_cert = get<std::string>(sub(j, "TLSInfo"), "TrustRoot", "");
  v.default_addr_pool = get<std::vector<std::string>>(j, "DefaultAddrPool", {"10.0.0.0/8"});
  v.subnet_size = get<uint32_t>(j, "SubnetSize", 24);
  v.data_path_port = get<uint32_t>(j, "DataPathPort", 4789);
  const json& removed = sub(j, "RemovedNodes");
  if (removed.is_object()) {
    for (const auto& [id, _] : removed.items()) v.removed_nodes[id] = parse_ts(removed, id.c_str());
  }
}

// ---- Node
json to_api(const Node& v) {
  json j = json::object();
  meta_to(j, v);
  json spec = {{"Labels", v.spec.labels.empty() ? json::object() : json(v.spec.labels)},
               {"Role", node_role_name(v.spec.role)},
               {"Availability", node_availability_name(v.spec.availability)}};
  put_if(spec, "Name", v.spec.name);
  j["Spec"] = spec;
  j["Description"] = description_json(v.description);
  json status = {{"State", node_state_name(v.state)}, {"Addr", v.addr}};
  put_if(status, "Message", v.status_message);
  j["Status"] = status;
  if (v.manager_status) {
    j["ManagerStatus"] = {{"Leader", v.manager_status->leader},
                          {"Reachability", v.manager_status->reachability},
                          {"Addr", v.manager_status->addr}};
  }
  return j;
}
json to_stored(const Node& v) {
  json j = to_api(v);
  if (!v.ingress_addr.empty()) j["ShoalIngressAddr"] = v.ingress_addr;
  return j;
}
void from_stored(const json& j, Node& v) {
  meta_from(j, v);
  const json& s = sub(j, "Spec");
  v.spec.name = get<std::string>(s, "Name", "");
  v.spec.labels = get<Labels>(s, "Labels", {});
  v.spec.role = get<std::string>(s, "Role", "worker") == "manager" ? NodeRole::kManager : NodeRole::kWorker;
  std::string a = get<std::string>(s, "Availability", "active");
  v.spec.availability = a == "drain" ? NodeAvailability::kDrain
                        : a == "pause" ? NodeAvailability::kPause
                                       : NodeAvailability::kActive;
  v.description = description_from(sub(j, "Description"));
  std::string st = get<std::string>(sub(j, "Status"), "State", "unknown");
  v.state = st == "ready" ? NodeState::kReady
            : st == "down" ? NodeState::kDown
            : st == "disconnected" ? NodeState::kDisconnected
                                   : NodeState::kUnknown;
  v.status_message = get<std::string>(sub(j, "Status"), "Message", "");
  v.addr = get<std::string>(sub(j, "Status"), "Addr", "");
  if (j.contains("ManagerStatus")) {
    const json& m = sub(j, "ManagerStatus");
    v.manager_status = ManagerStatus{get<bool>(m, "Leader", false), get<std::string>(m, "Reachability", "reachable"),
                                     get<std::string>(m, "Addr", "")};
  }
  v.ingress_addr = get<std::string>(j, "ShoalIngressAddr", "");
}

// ---- TaskSpec
void to_json(json& j, const TaskSpec& v) {
  const ContainerSpec& c = v.container_spec;
  json cs = {{"Image", c.image}};
  if (!c.labels.empty()) cs["Labels"] = c.labels;
  put_list(cs, "Command", c.command);
  put_list(cs, "Args", c.args);
  put_if(cs, "Hostname", c.hostname);
  put_list(cs, "Env", c.env);
  put_if(cs, "Dir", c.dir);
  put_if(cs, "User", c.user);
  put_list(cs, "Groups", c.groups);
  if (c.tty) cs["TTY"] = true;
  if (c.open_stdin) cs["OpenStdin"] = true;
  if (c.read_only) cs["ReadOnly"] = true;
  put_if(cs, "StopSignal", c.stop_signal);
  if (c.stop_grace_period) cs["StopGracePeriod"] = c.stop_grace_period->count();
  if (c.init) cs["Init"] = true;
  if (!c.isolation.empty() && c.isolation != "default") cs["Isolation"] = c.isolation;
  if (!c.seccomp_mode.empty() || !c.seccomp_profile.empty() || c.no_new_privileges) {
    json priv = json::object(), sc = json::object();
    put_if(sc, "Mode", c.seccomp_mode);
    put_if(sc, "Profile", c.seccomp_profile);
    if (!sc.empty()) priv["Seccomp"] = sc;
    if (c.no_new_privileges) priv["NoNewPrivileges"] = true;
    cs["Privileges"] = priv;
  }
  j = json::object();
  put_object(j, "ContainerSpec", std::move(cs));
  json res = json::object();
  put_object(res, "Limits", limits_json(v.resources.limits, true));
  put_object(res, "Reservations", limits_json(v.resources.reservations, false));
  put_object(j, "Resources", std::move(res));
  json rp = json::object();
  if (v.restart_policy.condition != "any") rp["Condition"] = v.restart_policy.condition;
  if (v.restart_policy.max_attempts) rp["MaxAttempts"] = v.restart_policy.max_attempts;
  if (v.restart_policy.delay) rp["Delay"] = v.restart_policy.delay->count();
  if (v.restart_policy.window.count()) rp["Window"] = v.restart_policy.window.count();
  put_object(j, "RestartPolicy", std::move(rp));
  json pl = json::object();
  put_list(pl, "Constraints", v.placement.constraints);
  if (v.placement.max_replicas) pl["MaxReplicas"] = v.placement.max_replicas;
  if (!v.placement.platforms.empty()) {
    json ps = json::array();
    for (const auto& p : v.placement.platforms) {
      json pj = json::object();  // omitempty, as Docker's swarm.Platform
      put_if(pj, "Architecture", p.architecture);
      put_if(pj, "OS", p.os);
      ps.push_back(std::move(pj));
    }
    pl["Platforms"] = std::move(ps);
  }
  put_object(j, "Placement", std::move(pl));
  if (!v.networks.empty()) {
    json nets = json::array();
    for (const auto& n : v.networks) {
      json nj = {{"Target", n.target}};
      put_list(nj, "Aliases", n.aliases);
      nets.push_back(nj);
    }
    j["Networks"] = nets;
  }
  if (v.force_update) j["ForceUpdate"] = v.force_update;
  if (!v.runtime.empty() && v.runtime != "container") j["Runtime"] = v.runtime;
}
void from_json(const json& j, TaskSpec& v) {
  const json& cs = sub(j, "ContainerSpec");
  ContainerSpec& c = v.container_spec;
  c.image = get<std::string>(cs, "Image", "");
  c.labels = get<Labels>(cs, "Labels", {});
  c.command = get<std::vector<std::string>>(cs, "Command", {});
  c.args = get<std::vector<std::string>>(cs, "Args", {});
  c.hostname = get<std::string>(cs, "Hostname", "");
  c.env = get<std::vector<std::string>>(cs, "Env", {});
  c.dir = get<std::string>(cs, "Dir", "");
  c.user = get<std::string>(cs, "User", "");
  c.groups = get<std::vector<std::string>>(cs, "Groups", {});
  c.tty = get<bool>(cs, "TTY", false);
  c.open_stdin = get<bool>(cs, "OpenStdin", false);
  c.read_only = get<bool>(cs, "ReadOnly", false);
  c.stop_signal = get<std::string>(cs, "StopSignal", "");
  if (cs.contains("StopGracePeriod") && !cs["StopGracePeriod"].is_null()) {
    c.stop_grace_period = Nanos(cs["StopGracePeriod"].get<int64_t>());
  }
  c.init = get<bool>(cs, "Init", false);
  c.isolation = get<std::string>(cs, "Isolation", "default");
  c.seccomp_mode = get<std::string>(sub(sub(cs, "Privileges"), "Seccomp"), "Mode", "");
  c.seccomp_profile = get<std::string>(sub(sub(cs, "Privileges"), "Seccomp"), "Profile", "");
  c.no_new_privileges = get<bool>(sub(cs, "Privileges"), "NoNewPrivileges", false);
  v.resources.limits = limits_from(sub(sub(j, "Resources"), "Limits"));
  v.resources.reservations = limits_from(sub(sub(j, "Resources"), "Reservations"));
  const json& rp = sub(j, "RestartPolicy");
  v.restart_policy.condition = get<std::string>(rp, "Condition", "any");
  if (rp.contains("Delay") && !rp["Delay"].is_null()) v.restart_policy.delay = Nanos(rp["Delay"].get<int64_t>());
  v.restart_policy.max_attempts = get<uint64_t>(rp, "MaxAttempts", 0);
  v.restart_policy.window = Nanos(get<int64_t>(rp, "Window", 0));
  v.placement.constraints = get<std::vector<std::string>>(sub(j, "Placement"), "Constraints", {});
  v.placement.max_replicas = get<uint64_t>(sub(j, "Placement"), "MaxReplicas", 0);
  v.placement.platforms.clear();
  if (const json& ps = sub(j, "Placement"); ps.contains("Platforms") && ps["Platforms"].is_array()) {
    for (const auto& p : ps["Platforms"]) {
      v.placement.platforms.push_back({get<std::string>(p, "Architecture", ""), get<std::string>(p, "OS", "")});
    }
  }
  v.networks.clear();
  if (j.contains("Networks") && j["Networks"].is_array()) {
    for (const auto& n : j["Networks"]) {
      v.networks.push_back({get<std::string>(n, "Target", ""), get<std::vector<std::string>>(n, "Aliases", {})});
    }
  }
  v.force_update = get<uint64_t>(j, "ForceUpdate", 0);
  v.runtime = get<std::string>(j, "Runtime", "container");
}

// ---- ServiceSpec
namespace {
// The spec's fields at non-default values; to_json adds given_defaults.
json service_spec_fields(const ServiceSpec& v) {
  json j = json::object();
  put_if(j, "Name", v.name);
  put_labels(j, "Labels", v.labels);
  put_object(j, "TaskTemplate", json(v.task_template));
  if (v.mode == ServiceModeKind::kGlobal) j["Mode"] = {{"Global", json::object()}};
  else j["Mode"] = {{"Replicated", {{"Replicas", v.replicas}}}};
  if (v.update_config) j["UpdateConfig"] = update_config_json(*v.update_config);
  if (v.rollback_config) j["RollbackConfig"] = update_config_json(*v.rollback_config);
  json ep = json::object();
  if (v.endpoint_spec.mode != "vip") ep["Mode"] = v.endpoint_spec.mode;
  if (!v.endpoint_spec.ports.empty()) ep["Ports"] = ports_json(v.endpoint_spec.ports);
  put_object(j, "EndpointSpec", std::move(ep));
  return j;
}
}  // namespace

void to_json(json& j, const ServiceSpec& v) {
  j = service_spec_fields(v);
  merge_missing(j, v.given_defaults);
}
void from_json(const json& j, ServiceSpec& v) {
  v.name = get<std::string>(j, "Name", "");
  v.labels = get<Labels>(j, "Labels", {});
  v.task_template = sub(j, "TaskTemplate").get<TaskSpec>();
  const json& mode = sub(j, "Mode");
  if (mode.contains("Global")) {
    v.mode = ServiceModeKind::kGlobal;
  } else {
    v.mode = ServiceModeKind::kReplicated;
    v.replicas = get<uint64_t>(sub(mode, "Replicated"), "Replicas", 1);
  }
  if (j.contains("UpdateConfig") && j["UpdateConfig"].is_object()) v.update_config = update_config_from(j["UpdateConfig"]);
  if (j.contains("RollbackConfig") && j["RollbackConfig"].is_object()) {
    v.rollback_config = update_config_from(j["RollbackConfig"]);
  }
  const json& ep = sub(j, "EndpointSpec");
  v.endpoint_spec.mode = get<std::string>(ep, "Mode", "vip");
  v.endpoint_spec.ports = ports_from(ep);
  v.given_defaults = json::object();
  v.given_defaults = missing_keys(j, service_spec_fields(v));
}

// ---- Service
json to_api(const Service& v) {
  json j = json::object();
  meta_to(j, v);
  j["Spec"] = v.spec;
  if (v.previous_spec) j["PreviousSpec"] = *v.previous_spec;
  // Endpoint: what is published (Docker's allocator output): the spec's
  // ports with the published numbers the manager assigned.
  json ep_spec = j["Spec"].value("EndpointSpec", json::object());
  json ep = {{"Spec", ep_spec}};
  if (!v.endpoint_ports.empty()) ep["Ports"] = ports_json(v.endpoint_ports);
  if (!v.virtual_ips.empty()) {
    json vips = json::array();
    for (const auto& vip : v.virtual_ips) vips.push_back({{"NetworkID", vip.network_id}, {"Addr", vip.addr}});
    ep["VirtualIPs"] = std::move(vips);
  }
  j["Endpoint"] = ep;
  if (v.update_status) {
    json us = {{"State", v.update_status->state}, {"Message", v.update_status->message}};
    if (v.update_status->started_at) us["StartedAt"] = ts(*v.update_status->started_at);
    if (v.update_status->completed_at) us["CompletedAt"] = ts(*v.update_status->completed_at);
    j["UpdateStatus"] = us;
  }
  return j;
}
json to_stored(const Service& v) {
  json j = to_api(v);
  j["ShoalSpecVersion"] = v.spec_version;
  if (!v.registry_auth_sealed.empty()) j["ShoalRegistryAuth"] = base64_encode(v.registry_auth_sealed);
  return j;
}
void from_stored(const json& j, Service& v) {
  meta_from(j, v);
  v.spec = sub(j, "Spec").get<ServiceSpec>();
  if (j.contains("PreviousSpec") && j["PreviousSpec"].is_object()) v.previous_spec = j["PreviousSpec"].get<ServiceSpec>();
  if (j.contains("UpdateStatus") && j["UpdateStatus"].is_object()) {
    const json& us = j["UpdateStatus"];
    UpdateStatus u;
    u.state = get<std::string>(us, "State", "");
    u.message = get<std::string>(us, "Message", "");
    if (us.contains("StartedAt")) u.started_at = parse_ts(us, "StartedAt");
    if (us.contains("CompletedAt")) u.completed_at = parse_ts(us, "CompletedAt");
    v.update_status = u;
  }
  v.spec_version = get<uint64_t>(j, "ShoalSpecVersion", 1);
  v.virtual_ips.clear();
  const json& ep = sub(j, "Endpoint");
  v.endpoint_ports = ports_from(ep);
  if (ep.contains("VirtualIPs") && ep["VirtualIPs"].is_array()) {
    for (const json& vip : ep["VirtualIPs"])
      v.virtual_ips.push_back({get<std::string>(vip, "NetworkID", ""), get<std::string>(vip, "Addr", "")});
  }
  v.registry_auth_sealed.clear();
  if (auto ra = get<std::string>(j, "ShoalRegistryAuth", ""); !ra.empty()) {
    auto sealed = base64_decode(ra);
    if (!sealed.ok()) throw std::invalid_argument("ShoalRegistryAuth is not base64 (the sealed registry credentials)");
    v.registry_auth_sealed = std::move(sealed).value();
  }
}

// ---- Task
void to_json(json& j, const TaskStatus& v) { j = task_status_json(v); }
void from_json(const json& j, TaskStatus& v) { v = task_status_from(j); }

json to_api(const Task& v) {
  json j = json::object();
  meta_to(j, v);
  j["Labels"] = v.labels.empty() ? json::object() : json(v.labels);
  j["Spec"] = v.spec;
  j["ServiceID"] = v.service_id;
  if (v.slot) j["Slot"] = v.slot;
  if (!v.node_id.empty()) j["NodeID"] = v.node_id;
  j["Status"] = task_status_json(v.status);
  j["DesiredState"] = task_state_name(v.desired_state);
  if (!v.networks.empty()) {
    json atts = json::array();
    for (const auto& a : v.networks) {
      json net = {{"ID", a.network_id}, {"Spec", {{"Name", a.network_name}}}};
      json att = {{"Network", std::move(net)}, {"Addresses", a.addresses}};
      if (!a.aliases.empty()) att["Aliases"] = a.aliases;
      atts.push_back(std::move(att));
    }
    j["NetworksAttachments"] = std::move(atts);
  }
  return j;
}
json to_stored(const Task& v) {
  json j = to_api(v);
  j["ShoalServiceName"] = v.service_name;
  j["ShoalSpecVersion"] = v.spec_version;
  if (!v.host_ports.empty()) j["ShoalHostPorts"] = ports_json(v.host_ports);
  if (!v.restarts.empty()) {
    json r = json::array();
    for (const auto& a : v.restarts) r.push_back({{"At", ts(a.at)}, {"Count", a.count}});
    j["ShoalRestarts"] = std::move(r);
  }
  return j;
}
void from_stored(const json& j, Task& v) {
  meta_from(j, v);
  v.labels = get<Labels>(j, "Labels", {});
  v.spec = sub(j, "Spec").get<TaskSpec>();
  v.service_id = get<std::string>(j, "ServiceID", "");
  v.slot = get<uint64_t>(j, "Slot", 0);
  v.node_id = get<std::string>(j, "NodeID", "");
  v.status = task_status_from(sub(j, "Status"));
  v.desired_state = TaskState::kRunning;
  parse_task_state(get<std::string>(j, "DesiredState", "running"), &v.desired_state);
  v.service_name = get<std::string>(j, "ShoalServiceName", "");
  v.spec_version = get<uint64_t>(j, "ShoalSpecVersion", 0);
  v.host_ports.clear();
  if (j.contains("ShoalHostPorts")) v.host_ports = ports_from(json{{"Ports", j["ShoalHostPorts"]}});
  v.networks.clear();
  if (j.contains("NetworksAttachments") && j["NetworksAttachments"].is_array()) {
    for (const json& a : j["NetworksAttachments"]) {
      const json& net = sub(a, "Network");
      v.networks.push_back({get<std::string>(net, "ID", ""), get<std::string>(sub(net, "Spec"), "Name", ""),
                            get<std::vector<std::string>>(a, "Addresses", {}),
                            get<std::vector<std::string>>(a, "Aliases", {})});
    }
  }
  v.restarts.clear();
  if (j.contains("ShoalRestarts") && j["ShoalRestarts"].is_array()) {
    for (const json& a : j["ShoalRestarts"]) v.restarts.push_back({parse_ts(a, "At"), get<uint64_t>(a, "Count", 1)});
  }
}

// ---- Network
namespace {
json ipam_configs_json(const std::vector<IpamConfig>& v) {
  json out = json::array();
  for (const auto& c : v) {
    json e = json::object();
    put_if(e, "Subnet", c.subnet);
    put_if(e, "IPRange", c.ip_range);
    put_if(e, "Gateway", c.gateway);
    out.push_back(std::move(e));
  }
  return out;
}
std::vector<IpamConfig> ipam_configs_from(const json& j) {
  std::vector<IpamConfig> out;
  if (!j.is_array()) return out;
  for (const auto& e : j) {
    out.push_back({get<std::string>(e, "Subnet", ""), get<std::string>(e, "IPRange", ""),
                   get<std::string>(e, "Gateway", "")});
  }
  return out;
}
}  // namespace

// Docker's NetworkResource of a swarm-scoped network (GET /networks/{id}).
json to_api(const Network& v) {
  json opts = v.spec.driver_opts.empty() ? json::object() : json(v.spec.driver_opts);
  if (v.vni) opts[kVxlanIdOption] = std::to_string(v.vni);
  return {{"Name", v.spec.name},
          {"Id", v.id},
          {"Created", ts(v.created_at)},
          {"Scope", "swarm"},
          {"Driver", v.spec.driver},
          {"EnableIPv6", false},
          {"IPAM", {{"Driver", "default"}, {"Options", nullptr}, {"Config", ipam_configs_json(v.ipam)}}},
          {"Internal", v.spec.internal},
          {"Attachable", v.spec.attachable},
          {"Ingress", v.spec.ingress},
          {"ConfigFrom", {{"Network", ""}}},
          {"ConfigOnly", false},
          {"Containers", json::object()},
          {"Options", opts},
          {"Labels", v.spec.labels.empty() ? json::object() : json(v.spec.labels)}};
}
json to_stored(const Network& v) {
  json j = json::object();
  meta_to(j, v);
  json spec = {{"Name", v.spec.name},
               {"Driver", v.spec.driver},
               {"Internal", v.spec.internal},
               {"Attachable", v.spec.attachable},
               {"Ingress", v.spec.ingress},
               {"IPAM", ipam_configs_json(v.spec.ipam)}};
  put_labels(spec, "Labels", v.spec.labels);
  if (!v.spec.driver_opts.empty()) spec["Options"] = v.spec.driver_opts;
  j["Spec"] = spec;
  j["VNI"] = v.vni;
  j["IPAM"] = ipam_configs_json(v.ipam);
  return j;
}
void from_stored(const json& j, Network& v) {
  meta_from(j, v);
  const json& s = sub(j, "Spec");
  v.spec.name = get<std::string>(s, "Name", "");
  v.spec.labels = get<Labels>(s, "Labels", {});
  v.spec.driver = get<std::string>(s, "Driver", "overlay");
  v.spec.driver_opts = get<std::map<std::string, std::string>>(s, "Options", {});
  v.spec.internal = get<bool>(s, "Internal", false);
  v.spec.attachable = get<bool>(s, "Attachable", false);
  v.spec.ingress = get<bool>(s, "Ingress", false);
  v.spec.ipam = ipam_configs_from(s.contains("IPAM") ? s["IPAM"] : json());
  v.vni = get<uint32_t>(j, "VNI", 0);
  v.ipam = ipam_configs_from(j.contains("IPAM") ? j["IPAM"] : json());
}

}  // namespace shoal
