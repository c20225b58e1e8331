// /swarm: inspect, init, leave, update (spec fields and join token
// rotation), unlockkey.
#include <tuple>

#include "common/ids.h"
#include "common/ipv4.h"
#include "manager/allocator/network_ipam.h"
#include "manager/api/api.h"
#include "manager/api/filters.h"
#include "model/spec_schema.h"

namespace shoal::api {

namespace {

// A swarm Spec as Go decodes it, with the fields shoal does not apply refused.
Result<json> checked_swarm_spec(const json& in) {
  SHOAL_ASSIGN_OR_RETURN(json spec, canonical_swarm_spec(in));
  SHOAL_RETURN_IF_ERROR(check_supported_swarm_spec(spec));
  return spec;
}

// The SwarmInitRequest fields shoal does not honour, refused unless they hold
// what the docker CLI sends by default (zero, empty, or Docker's own default:
// DefaultAddrPool 10.0.0.0/8, SubnetSize 24, DataPathPort 4789), so nothing
// is stored and ignored. `j` is canonical (types already checked).
Status refuse_unhonoured_init_fields(const json& j) {
  auto has = [&](const char* key) { return j.contains(key) && !j[key].is_null(); };
  for (auto [key, dflt, flag] : {std::tuple{"DataPathPort", 4789u, "--data-path-port"}}) {
    if (!has(key)) continue;
    uint64_t v = j[key].get<uint64_t>();
    if (v != 0 && v != dflt) {
      return invalid_argument(std::string(key) + " " + std::to_string(v) + " is not supported by shoal yet: only " +
                              std::to_string(dflt) + " (the default); init without " + flag);
    }
  }
  return ok_status();
}

// DefaultAddrPool and SubnetSize (--default-addr-pool, --default-addr-pool-
// mask-length): the pools overlay subnets are drawn from. Subnets are /16 to
// /24 (allocator/network_ipam.h); pools must not overlap.
Status read_address_pool(const json& j, InitRequest& ir) {
  if (j.contains("SubnetSize") && !j["SubnetSize"].is_null() && j["SubnetSize"].get<uint64_t>() != 0) {
    uint64_t size = j["SubnetSize"].get<uint64_t>();
    if (size < 16 || size > 24) {
      return invalid_argument("SubnetSize " + std::to_string(size) +
                              ": --default-addr-pool-mask-length must be from 16 to 24 (shoal gives each overlay "
                              "network whole /24 blocks)");
    }
    ir.subnet_size = static_cast<uint32_t>(size);
  }
  if (j.contains("DefaultAddrPool") && j["DefaultAddrPool"].is_array() && !j["DefaultAddrPool"].empty()) {
    if (j["DefaultAddrPool"].size() > 16) return invalid_argument("DefaultAddrPool: at most 16 pools");
    std::vector<ipv4::Cidr> seen;
    ir.default_addr_pool.clear();
    for (const auto& p : j["DefaultAddrPool"]) {
      auto c = ipv4::parse_cidr(p.get<std::string>());
      if (!c.ok()) return invalid_argument("--default-addr-pool: " + c.status().message());
      SHOAL_RETURN_IF_ERROR(allocator::check_usable(*c, "--default-addr-pool"));
      if (c->prefix > static_cast<int>(ir.subnet_size)) {
        return invalid_argument("--default-addr-pool " + ipv4::format(*c) + " is smaller than the /" +
                                std::to_string(ir.subnet_size) + " subnets drawn from it; give a larger pool or a "
                                "longer --default-addr-pool-mask-length");
      }
      for (const auto& o : seen) {
        if (ipv4::overlaps(o, *c)) {
          return invalid_argument("--default-addr-pool " + ipv4::format(*c) + " overlaps " + ipv4::format(o));
        }
      }
      seen.push_back(*c);
      ir.default_addr_pool.push_back(ipv4::format(*c));
    }
  }
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
  auto tokens = control_.join_tokens();  // kept apart from the object, sealed at rest
  if (!tokens.ok()) return error_response(tokens.status().with_context("reading the swarm's join tokens"));
  json j = to_api(*c);
  j["JoinTokens"] = {{"Worker", tokens->worker}, {"Manager", tokens->manager}};
  return json_response(200, j);
}

http::Response Api::swarm_init(const http::Request& req) {
  InitRequest ir;
  bool force_new_cluster = false;  // quorum-loss recovery on a manager of a swarm (docs/cluster.md)
  if (req.body.find_first_not_of(" \t\r\n") != std::string::npos) {
    auto body = parse_json_body(req.body, "a SwarmInitRequest");
    if (!body.ok()) return error_response(body.status());
    if (!body->is_object()) return error_response(invalid_argument("the request body must be a JSON object (a SwarmInitRequest)"));
    // Keys as Go matches them: {"autoLockManagers": true} is not ignored.
    auto j = canonical_swarm_init_request(*body);
    if (!j.ok()) return error_response(j.status());
    try {
      ir.listen_addr = j->value("ListenAddr", ir.listen_addr);
      ir.advertise_addr = j->value("AdvertiseAddr", "");
      force_new_cluster = j->value("ForceNewCluster", false);
      if (Status st = refuse_unhonoured_init_fields(*j); !st.ok()) return error_response(st);
      if (Status st = read_address_pool(*j, ir); !st.ok()) return error_response(st);
      if (j->value("AutoLockManagers", false)) {
        return error_response(invalid_argument("autolock is not supported by shoal yet: init without --autolock"));
      }
      std::string availability = j->value("Availability", "");
      if (!availability.empty() && availability != "active") {
        return error_response(invalid_argument("Availability \"" + availability.substr(0, 32) +
                                               "\" is not supported by shoal yet at swarm init: init with availability "
                                               "active, then `node update --availability`"));
      }
      if (!j->value("DataPathAddr", "").empty()) {
        return error_response(invalid_argument("DataPathAddr is not supported by shoal yet: leave it empty"));
      }
      if (j->contains("Spec") && !(*j)["Spec"].is_null()) {
        auto spec = checked_swarm_spec((*j)["Spec"]);
        if (!spec.ok()) return error_response(spec.status());
        ClusterSpec probe;
        Status st = apply_swarm_spec(*spec, probe);
        if (!st.ok()) return error_response(st);
        ir.spec_json = spec->dump();  // canonical: the node applies it to the new cluster
      }
    } catch (const std::exception& e) {
      return error_response(invalid_argument("invalid SwarmInitRequest: " + json_error_text(e)));
    }
  }
  if (ir.listen_addr.empty()) ir.listen_addr = "0.0.0.0:2377";
  // --force-new-cluster on a node outside a swarm is a plain init (as Docker).
  if (force_new_cluster && control_.active()) {
    auto id = control_.force_new_cluster(ir);
    if (!id.ok()) return error_response(id.status());
    return json_response(200, *id);
  }
  if (control_.active()) return error_response(unavailable(kAlreadyInSwarm));
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
  if (!body->is_object()) return error_response(invalid_argument("the request body must be a JSON object (a swarm Spec)"));
  auto spec = checked_swarm_spec(*body);
  if (!spec.ok()) return error_response(spec.status());
  Cluster next = *cur;
  Status st = apply_swarm_spec(*spec, next.spec);
  if (!st.ok()) return error_response(st);
  if (next.spec.name != cur->spec.name) {
    return error_response(invalid_argument("renaming the swarm is not supported: its name stays \"" + cur->spec.name + "\""));
  }
  bool rotate_worker = truthy(req.query_param("rotateWorkerToken").value_or(""));
  bool rotate_manager = truthy(req.query_param("rotateManagerToken").value_or(""));
  next.updated_at = clock_.now();
  Batch b;
  b.put_if_version(next);
  Status cst = (*store)->commit(b);
  if (cst.code() == Code::kConflict) {
    return error_response(conflict("update out of sequence: the swarm was changed concurrently; inspect it again and retry"));
  }
  if (!cst.ok()) return error_response(cst);
  // The tokens live apart from the Cluster object: rotated once the update
  // (which bumps the swarm's version, as in Docker) is in.
  // A concurrent rotation (kConflict: its write came between our read and
  // write) is rotated over in turn, on what it stored.
  for (int attempt = 0; rotate_worker || rotate_manager; ++attempt) {
    auto tokens = control_.join_tokens();
    if (!tokens.ok()) return error_response(tokens.status().with_context("reading the join tokens to rotate them"));
    if (rotate_worker) tokens->worker = rotate_token(tokens->worker);
    if (rotate_manager) tokens->manager = rotate_token(tokens->manager);
    Status ts = control_.set_join_tokens(*tokens);
    if (ts.ok()) break;
    if (ts.code() != Code::kConflict || attempt == 4) return error_response(ts.with_context("storing the rotated join tokens"));
  }
  return empty_response(200);
}

http::Response Api::swarm_unlockkey() {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  return error_response(not_found("no unlock key is set: autolock is not enabled on this swarm"));
}

}  // namespace shoal::api
