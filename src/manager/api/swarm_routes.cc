// /swarm: inspect, init, leave, update (spec fields and join token
// rotation), unlockkey.
#include "common/ids.h"
#include "manager/api/api.h"
#include "manager/api/filters.h"

namespace shoal::api {

namespace {

const json& member(const json& j, const char* key) {
  static const json kEmpty = json::object();
  if (!j.is_object()) return kEmpty;
  auto it = j.find(key);
  return it == j.end() || !it->is_object() ? kEmpty : *it;
}

Status read_int(const json& obj, const char* key, int64_t min, const std::string& where, int64_t* out) {
  if (!obj.contains(key) || obj[key].is_null()) return ok_status();
  const json& v = obj[key];
  if (!(v.is_number_integer() || v.is_number_unsigned()) || v.get<int64_t>() < min) {
    return invalid_argument("invalid " + where + "." + key + " " + v.dump() + ": must be an integer >= " + std::to_string(min));
  }
  *out = v.get<int64_t>();
  return ok_status();
}

// "SWMTKN-1-<CA digest>-<secret>" with a new secret.
std::string rotate_token(const std::string& token) {
  auto dash = token.rfind('-');
  std::string head = dash == std::string::npos ? "SWMTKN-1-" : token.substr(0, dash + 1);
  return head + base36(random_bytes(16), 25);
}

}  // namespace

http::Response Api::swarm_inspect() {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto c = (*store)->cluster();
  if (!c) return error_response(unavailable("the swarm's cluster object is not there yet; try again in a moment"));
  return json_response(200, to_api(*c));
}

http::Response Api::swarm_init(const http::Request& req) {
  if (control_.active()) return error_response(unavailable(kAlreadyInSwarm));
  InitRequest ir;
  if (req.body.find_first_not_of(" \t\r\n") != std::string::npos) {
    auto j = parse_json_body(req.body, "a SwarmInitRequest");
    if (!j.ok()) return error_response(j.status());
    if (!j->is_object()) return error_response(invalid_argument("the request body must be a JSON object (a SwarmInitRequest)"));
    try {
      ir.listen_addr = j->value("ListenAddr", ir.listen_addr);
      ir.advertise_addr = j->value("AdvertiseAddr", "");
      if (j->contains("DefaultAddrPool") && (*j)["DefaultAddrPool"].is_array()) {
        ir.default_addr_pool = (*j)["DefaultAddrPool"].get<std::vector<std::string>>();
      }
      if (j->contains("SubnetSize") && !(*j)["SubnetSize"].is_null()) ir.subnet_size = (*j)["SubnetSize"].get<uint32_t>();
      if (j->contains("DataPathPort") && !(*j)["DataPathPort"].is_null()) ir.data_path_port = (*j)["DataPathPort"].get<uint32_t>();
      ir.force_new_cluster = j->value("ForceNewCluster", false);
      if (j->contains("AutoLockManagers") && (*j)["AutoLockManagers"].is_boolean() && (*j)["AutoLockManagers"].get<bool>()) {
        return error_response(invalid_argument("autolock is not supported by shoal yet: init without --autolock"));
      }
      if (j->contains("Spec") && (*j)["Spec"].is_object()) ir.spec_json = (*j)["Spec"].dump();
    } catch (const std::exception& e) {
      return error_response(invalid_argument("invalid SwarmInitRequest: " + json_error_text(e)));
    }
  }
  if (ir.listen_addr.empty()) ir.listen_addr = "0.0.0.0:2377";
  if (ir.subnet_size == 0) ir.subnet_size = 24;
  if (ir.data_path_port == 0) ir.data_path_port = 4789;
  if (ir.subnet_size < 8 || ir.subnet_size > 29) {
    return error_response(invalid_argument("invalid SubnetSize " + std::to_string(ir.subnet_size) + ": use 8 to 29"));
  }
  if (ir.data_path_port < 1024 || ir.data_path_port > 49151) {
    return error_response(invalid_argument("invalid DataPathPort " + std::to_string(ir.data_path_port) +
                                           ": use a port between 1024 and 49151"));
  }
  auto id = control_.init(ir);
  if (!id.ok()) return error_response(id.status());
  return json_response(200, *id);
}

http::Response Api::swarm_leave(const http::Request& req) {
  if (!control_.active()) return error_response(unavailable(kNotInSwarm));
  Status st = control_.leave(truthy(req.query_param("force").value_or("")));
  if (!st.ok()) return error_response(st);
  return empty_response(200);
}

http::Response Api::swarm_update(const http::Request& req) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto cur = (*store)->cluster();
  if (!cur) return error_response(unavailable("the swarm's cluster object is not there yet; try again in a moment"));
  auto version = req.query_param("version");
  if (!version) return error_response(invalid_argument("the version query parameter is required: inspect the swarm and pass its Version.Index"));
  uint64_t v = 0;
  try {
    v = std::stoull(*version);
  } catch (...) {
    return error_response(invalid_argument("invalid version \"" + *version + "\": an integer is required"));
  }
  if (v != cur->version) {
    return error_response(conflict("update out of sequence: the swarm was changed since version " + *version +
                                   " (it is now at " + std::to_string(cur->version) + "); inspect it again and retry"));
  }
  auto body = parse_json_body(req.body, "a swarm Spec");
  if (!body.ok()) return error_response(body.status());
  const json& spec = *body;
  if (!spec.is_object()) return error_response(invalid_argument("the request body must be a JSON object (a swarm Spec)"));
  Cluster next = *cur;
  ClusterSpec& s = next.spec;
  if (spec.contains("Labels") && spec["Labels"].is_object()) s.labels = spec["Labels"].get<Labels>();
  int64_t history = s.task_history_retention_limit;
  int64_t heartbeat = s.heartbeat_period.count();
  int64_t expiry = s.node_cert_expiry.count();
  int64_t snapshot = static_cast<int64_t>(s.snapshot_interval);
  Status st = read_int(member(spec, "Orchestration"), "TaskHistoryRetentionLimit", 0, "Orchestration", &history);
  if (st.ok()) st = read_int(member(spec, "Dispatcher"), "HeartbeatPeriod", 1, "Dispatcher", &heartbeat);
  if (st.ok()) st = read_int(member(spec, "CAConfig"), "NodeCertExpiry", 0, "CAConfig", &expiry);
  if (st.ok()) st = read_int(member(spec, "Raft"), "SnapshotInterval", 0, "Raft", &snapshot);
  if (!st.ok()) return error_response(st);
  if (expiry && expiry < int64_t(3600) * 1000000000) {
    return error_response(invalid_argument("invalid CAConfig.NodeCertExpiry: certificates must be valid for at least 1 hour"));
  }
  if (member(spec, "EncryptionConfig").value("AutoLockManagers", false)) {
    return error_response(invalid_argument("autolock is not supported by shoal yet: leave EncryptionConfig.AutoLockManagers false"));
  }
  s.task_history_retention_limit = history;
  s.heartbeat_period = Nanos(heartbeat);
  if (expiry) s.node_cert_expiry = Nanos(expiry);
  s.snapshot_interval = static_cast<uint64_t>(snapshot);
  if (truthy(req.query_param("rotateWorkerToken").value_or(""))) next.join_tokens.worker = rotate_token(cur->join_tokens.worker);
  if (truthy(req.query_param("rotateManagerToken").value_or(""))) next.join_tokens.manager = rotate_token(cur->join_tokens.manager);
  next.updated_at = clock_.now();
  Batch b;
  b.put_if_version(next);
  Status cst = (*store)->commit(b);
  if (cst.code() == Code::kConflict) {
    return error_response(conflict("update out of sequence: the swarm was changed concurrently; inspect it again and retry"));
  }
  if (!cst.ok()) return error_response(cst);
  return empty_response(200);
}

http::Response Api::swarm_unlockkey() {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  return error_response(not_found("no unlock key is set: autolock is not enabled on this swarm"));
}

}  // namespace shoal::api
