// /networks: create, list, inspect, remove and prune swarm-scoped overlay
// networks (Docker's NetworkResource shapes). Subnets and VXLAN ids come
// from allocator/network_ipam.h; the store's reservations make a name, a VNI
// and address space impossible to share, whichever manager creates them.
#include <algorithm>
#include <functional>
#include <set>

#include "common/ids.h"
#include "common/json_limits.h"
#include "manager/allocator/allocator.h"
#include "manager/allocator/network_ipam.h"
#include "manager/api/api.h"
#include "manager/api/filters.h"
#include "manager/api/validation.h"

namespace shoal::api {

namespace {

constexpr size_t kMaxNetworkName = 128;
// One subnet per network: the allocator and the datapath use one (Docker
// allows several; a second one would be stored and never used).
constexpr size_t kMaxIpamConfigs = 1;
constexpr char kMtuOption[] = "com.docker.network.driver.mtu";

Status validate_network_name(const std::string& name) {
  if (name.empty()) return invalid_argument("the network needs a name (Name)");
  // Docker's pre-defined networks: `--network host` must never mean an overlay.
  for (const char* reserved : {"host", "bridge", "none", "default"}) {
    if (name == reserved) {
      return Status(Code::kPermissionDenied, name + " is a pre-defined network and cannot be created; choose another name");
    }
  }
  bool ok = name.size() <= kMaxNetworkName && std::isalnum(static_cast<unsigned char>(name[0]));
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-');
  if (!ok) {
    return invalid_argument("invalid network name " + quote_input(name) +
                            ": use letters, digits, '_', '.' and '-', starting with a letter or digit, at most " +
                            std::to_string(kMaxNetworkName) + " characters");
  }
  return ok_status();
}

constexpr size_t kMaxMapEntries = 64;     // labels or options of one network
constexpr size_t kMaxMapKey = 256;
constexpr size_t kMaxMapValue = 4096;

Result<std::map<std::string, std::string>> string_map(const json& j, const char* key) {
  std::map<std::string, std::string> out;
  if (!j.contains(key) || j[key].is_null()) return out;
  if (!j[key].is_object()) return invalid_argument(std::string("invalid ") + key + ": must be an object of strings");
  if (j[key].size() > kMaxMapEntries) {
    return invalid_argument(std::string(key) + ": at most " + std::to_string(kMaxMapEntries) + " entries");
  }
  for (auto it = j[key].begin(); it != j[key].end(); ++it) {
    if (!it->is_string()) return invalid_argument(std::string("invalid ") + key + " " + quote_input(it.key()) + ": must be a string");
    if (it.key().size() > kMaxMapKey || it->get_ref<const std::string&>().size() > kMaxMapValue) {
      return invalid_argument(std::string(key) + " " + quote_input(it.key()) + ": keys are at most " +
                              std::to_string(kMaxMapKey) + " bytes, values " + std::to_string(kMaxMapValue));
    }
    out[it.key()] = it->get<std::string>();
  }
  return out;
}

// A string member of `j`: absent or null is empty; another type is refused.
Result<std::string> string_field(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return std::string();
  if (!j[key].is_string()) return invalid_argument("invalid " + where + key + ": must be a string");
  return j[key].get<std::string>();
}

// Dot-separated DNS labels of at most 63 characters, 253 in all.
bool is_dns_name(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    std::string_view label(name.data() + start, (dot == std::string::npos ? name.size() : dot) - start);
    if (label.empty() || label.size() > 63 || !is_dns_label(label)) return false;
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

bool flag(const json& j, const char* key) { return j.contains(key) && j[key].is_boolean() && j[key].get<bool>(); }

Status check_bool(const json& j, const char* key) {
  if (j.contains(key) && !j[key].is_null() && !j[key].is_boolean()) {
    return invalid_argument(std::string("invalid ") + key + ": must be true or false");
  }
  return ok_status();
}

// Driver options shoal implements; anything else is refused, never stored
// and ignored. The MTU is that of every device of the network on each node.
Status check_driver_options(const std::map<std::string, std::string>& opts, uint32_t* requested_vni) {
  for (const auto& [k, v] : opts) {
    if (k == kMtuOption) {
      int mtu = 0;
      bool num = !v.empty() && v.size() < 6 && v.find_first_not_of("0123456789") == std::string::npos;
      if (num) mtu = std::stoi(v);
      if (!num || mtu < 1280 || mtu > 9000) {
        return invalid_argument("invalid option " + std::string(kMtuOption) + "=" + quote_input(v) +
                                ": the MTU must be a number from 1280 to 9000");
      }
    } else if (k == kVxlanIdOption) {
      bool num = !v.empty() && v.size() < 9 && v.find_first_not_of("0123456789") == std::string::npos;
      unsigned long vni = num ? std::stoul(v) : 0;
      if (!num || vni < allocator::kFirstVni || vni > allocator::kLastVni) {
        return invalid_argument("invalid option " + std::string(kVxlanIdOption) + "=" + quote_input(v) +
                                ": give one VXLAN id from 4096 to 16777215");
      }
      *requested_vni = static_cast<uint32_t>(vni);
    } else if (k == "encrypted") {
      return invalid_argument("option encrypted: encrypted overlay networks (IPsec) are not supported yet; "
                              "create the network without --opt encrypted");
    } else {
      return invalid_argument("option " + quote_input(k) + " is not supported; overlay networks take " +
                              std::string(kMtuOption) + " and " + kVxlanIdOption);
    }
  }
  return ok_status();
}

// The NetworkCreateRequest body as a NetworkSpec; every field shoal does not
// implement is refused with what to do instead.
Result<NetworkSpec> parse_network_create(const json& j, uint32_t* requested_vni) {
  if (!j.is_object()) return invalid_argument("the request body must be a JSON object (NetworkCreateRequest)");
  NetworkSpec spec;
  SHOAL_ASSIGN_OR_RETURN(spec.name, string_field(j, "Name", ""));
  SHOAL_RETURN_IF_ERROR(validate_network_name(spec.name));
  for (const char* k : {"CheckDuplicate", "Internal", "Attachable", "Ingress", "EnableIPv6", "ConfigOnly"})
    SHOAL_RETURN_IF_ERROR(check_bool(j, k));
  SHOAL_ASSIGN_OR_RETURN(std::string driver, string_field(j, "Driver", ""));
  if (driver.empty() || driver == "bridge") {
    return invalid_argument("network driver " + quote_input(driver.empty() ? "bridge" : driver) +
                            ": shoal's networks are swarm-scoped overlay networks; use --driver overlay");
  }
  if (driver != "overlay") {
    return invalid_argument("network driver " + quote_input(driver) + " is not supported; use --driver overlay");
  }
  SHOAL_ASSIGN_OR_RETURN(std::string scope, string_field(j, "Scope", ""));
  if (!scope.empty() && scope != "swarm") {
    return invalid_argument("scope " + quote_input(scope) + ": overlay networks are swarm-scoped; use --scope swarm or leave it out");
  }
  if (flag(j, "EnableIPv6")) return invalid_argument("IPv6 overlay networks are not supported yet; leave out --ipv6");
  if (flag(j, "ConfigOnly")) return invalid_argument("--config-only networks are not supported; give the settings to network create");
  if (j.contains("ConfigFrom") && !j["ConfigFrom"].is_null()) {
    if (!j["ConfigFrom"].is_object()) return invalid_argument("invalid ConfigFrom: must be an object");
    SHOAL_ASSIGN_OR_RETURN(std::string from, string_field(j["ConfigFrom"], "Network", "ConfigFrom."));
    if (!from.empty()) return invalid_argument("--config-from is not supported; give the settings to network create");
  }
  spec.internal = flag(j, "Internal");
  spec.attachable = flag(j, "Attachable");
  spec.ingress = flag(j, "Ingress");
  if (spec.ingress && spec.internal) return invalid_argument("an ingress network cannot be internal");
  SHOAL_ASSIGN_OR_RETURN(spec.labels, string_map(j, "Labels"));
  SHOAL_ASSIGN_OR_RETURN(spec.driver_opts, string_map(j, "Options"));
  SHOAL_RETURN_IF_ERROR(check_driver_options(spec.driver_opts, requested_vni));
  spec.driver_opts.erase(kVxlanIdOption);  // shown from the allocated VNI
  if (j.contains("IPAM") && !j["IPAM"].is_null()) {
    const json& ipam = j["IPAM"];
    if (!ipam.is_object()) return invalid_argument("invalid IPAM: must be an object");
    SHOAL_ASSIGN_OR_RETURN(std::string d, string_field(ipam, "Driver", "IPAM."));
    if (!d.empty() && d != "default") {
      return invalid_argument("IPAM driver " + quote_input(d) + " is not supported; leave out --ipam-driver");
    }
    SHOAL_ASSIGN_OR_RETURN(auto ipam_opts, string_map(ipam, "Options"));
    if (!ipam_opts.empty()) return invalid_argument("IPAM options (--ipam-opt) are not supported; leave them out");
    if (ipam.contains("Config") && !ipam["Config"].is_null()) {
      if (!ipam["Config"].is_array()) return invalid_argument("invalid IPAM.Config: must be a list");
      if (ipam["Config"].size() > kMaxIpamConfigs) {
        return invalid_argument("IPAM.Config: shoal's overlay networks have one subnet; give one --subnet");
      }
      for (const json& c : ipam["Config"]) {
        if (!c.is_object()) return invalid_argument("invalid IPAM.Config entry: must be an object");
        IpamConfig cfg;
        for (auto [key, field] : {std::pair{"Subnet", &cfg.subnet}, {"IPRange", &cfg.ip_range}, {"Gateway", &cfg.gateway}}) {
          SHOAL_ASSIGN_OR_RETURN(*field, string_field(c, key, "IPAM.Config."));
        }
        SHOAL_ASSIGN_OR_RETURN(auto aux, string_map(c, "AuxiliaryAddresses"));
        if (!aux.empty()) return invalid_argument("--aux-address is not supported yet; leave it out");
        spec.ipam.push_back(std::move(cfg));
      }
    }
  }
  return spec;
}

bool network_matches(const Filters& f, const Network& n) {
  return any_of(f, "id", [&](const std::string& v) { return has_prefix(n.id, v); }) &&
         any_of(f, "name", [&](const std::string& v) { return n.spec.name.find(v) != std::string::npos; }) &&
         any_of(f, "driver", [&](const std::string& v) { return v == n.spec.driver; }) &&
         any_of(f, "scope", [&](const std::string& v) { return v == "swarm"; }) &&
         any_of(f, "type", [&](const std::string& v) { return v == (n.spec.ingress ? "builtin" : "custom"); }) &&
         labels_match_all(f, "label", n.spec.labels);
}

// The services whose task template attaches `network_id`.
std::vector<std::string> services_using(const StoreSnapshot& snap, const std::string& network_id) {
  std::vector<std::string> out;
  for (const auto& [_, s] : snap.services) {
    for (const auto& a : s.spec.task_template.networks) {
      if (a.target == network_id) out.push_back(s.spec.name);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Live tasks (not yet shut down) still holding an address on the network:
// their service is gone but their containers have not stopped yet. `on_down`:
// how many of them are on a node that is down (they count until the node
// reports them stopped, is removed, or has been down for the orphan timeout:
// orchestrator/replicated.h).
size_t live_tasks_on(const StoreSnapshot& snap, const std::string& network_id, size_t* on_down) {
  size_t n = 0;
  for (const auto& [_, t] : snap.tasks) {
    if (is_terminal(t.status.state)) continue;
    bool on = false;
    for (const auto& a : t.spec.networks) on = on || a.target == network_id;
    for (const auto& a : t.networks) on = on || a.network_id == network_id;  // ingress attachments too
    n += on;
    auto node = snap.nodes.find(t.node_id);
    *on_down += on && node != snap.nodes.end() && node->second.state == NodeState::kDown;
  }
  return n;
}

Status in_use(const StoreSnapshot& snap, const Network& n) {
  auto users = services_using(snap, n.id);
  if (n.spec.ingress) {  // its users are the services publishing through the routing mesh
    for (const auto& [_, s] : snap.services)
      if (allocator::publishes_ingress(s.spec)) users.push_back(s.spec.name);
  }
  if (!users.empty()) {
    std::string list;
    for (const auto& u : users) list += (list.empty() ? "" : ", ") + u;
    return failed_precondition("network " + n.spec.name + " is in use by service" + (users.size() > 1 ? "s " : " ") +
                               list + "; remove the service or detach it (service update --network-rm " +
                               n.spec.name + ") first");
  }
  size_t on_down = 0;
  if (size_t live = live_tasks_on(snap, n.id, &on_down)) {
    if (on_down) {
      return failed_precondition("network " + n.spec.name + " is still in use by " + std::to_string(live) +
                                 " task(s) that have not stopped, " + std::to_string(on_down) +
                                 " of them on nodes that are down: they keep their addresses until their node "
                                 "reports them stopped or is removed (node rm), or 24 hours after it went down");
    }
    return failed_precondition("network " + n.spec.name + " is still in use by " + std::to_string(live) +
                               " task(s) that are shutting down; retry in a few seconds");
  }
  return ok_status();
}

}  // namespace

// `network rm` and a service create or update that attaches the network
// must not both succeed (a service left on a missing network). Both decide
// on the cache, so each ties its write to the network object's version
// (Store's Batch::require, and remove with a version):
// - commit_with_networks: the service's commit requires every network its
//   spec attaches (and the ingress network when it publishes through the
//   routing mesh): it commits only while they exist, and rewrites them, so
//   their versions move;
// - remove_unused_network: the delete compares the version the network had
//   in the snapshot where no user was found.
// Whichever commits second fails: a network removed first makes the
// service's commit kNotFound (said as resolve_networks says it); a service
// that attached it first makes the delete's compare fail, and the rm checks
// again on fresh state, where it finds the service (in use). Two services
// attaching one network at once only retry inside the store.
Status remove_unused_network(Store& store, const std::string& id, const std::function<void()>& after_check) {
  for (int attempt = 0;; ++attempt) {
    Status busy = ok_status();
    uint64_t seen = 0;
    store.view([&](const StoreSnapshot& snap) {
      auto it = snap.networks.find(id);
      if (it == snap.networks.end()) {
        busy = not_found("network " + id + " not found");
        return;
      }
      seen = it->second.version;  // the version the check below is made on
      busy = in_use(snap, it->second);
    });
    SHOAL_RETURN_IF_ERROR(busy);
    if (after_check) after_check();
    Batch b;
    b.remove(Kind::kNetwork, id, seen);
    Status st = store.commit(b);
    if ((st.code() != Code::kConflict && st.code() != Code::kNotFound) || attempt >= 4) return st;
    // Changed since the check (attached by a service, or removed): check
    // again on what committed.
    SHOAL_RETURN_IF_ERROR(store.sync());
  }
}

Status resolve_networks(const Store& store, ServiceSpec& spec) {
  std::set<std::string> seen;
  bool any_open = false;  // a network with a way out (not --internal)
  for (auto& a : spec.task_template.networks) {
    if (a.target.empty()) return invalid_argument("TaskTemplate.Networks: an entry has no Target; name the network");
    auto n = store.find_network(a.target);
    if (!n.ok()) {
      if (n.status().code() == Code::kNotFound) {
        return not_found("network " + shown_input(a.target) + " not found; create it with network create --driver overlay");
      }
      return n.status();
    }
    if (n->spec.ingress) {
      return invalid_argument("service cannot be explicitly attached to the ingress network " + n->spec.name +
                              ": publish a port (--publish) to use the routing mesh");
    }
    if (!seen.insert(n->id).second) {
      return invalid_argument("network " + n->spec.name + " is attached twice; give each network once");
    }
    for (const auto& alias : a.aliases) {
      if (!is_dns_name(alias)) {
        return invalid_argument("invalid alias " + quote_input(alias) + " on network " + n->spec.name +
                                ": an alias must be a DNS name (labels of letters, digits, '-' and '_', joined by '.')");
      }
    }
    a.target = n->id;
    any_open = any_open || !n->spec.internal;
  }
  // A host-mode port is reached through the node's gateway bridge, which
  // would also be a way out of --internal networks: refused, as Docker's
  // internal networks have none.
  bool host_port = false;
  for (const auto& p : spec.endpoint_spec.ports) host_port = host_port || p.publish_mode == "host";
  if (host_port && !spec.task_template.networks.empty() && !any_open) {
    return invalid_argument("a host-mode port cannot be published by a service attached only to internal networks "
                            "(they have no way in or out): attach it to a network that is not --internal too, or "
                            "publish through the routing mesh");
  }
  return ok_status();
}

Status commit_with_networks(Store& store, const ServiceSpec& spec,
                            const std::vector<NetworkAttachmentConfig>& asked,
                            const std::function<void(Batch&)>& write) {
  Batch b;
  write(b);
  for (const auto& a : spec.task_template.networks) b.require(Kind::kNetwork, a.target);
  if (allocator::publishes_ingress(spec)) {
    for (const auto& n : store.networks())
      if (n.spec.ingress) b.require(Kind::kNetwork, n.id);
  }
  Status st = store.commit(b);
  if (st.code() != Code::kNotFound) return st;
  // A network removed since resolve_networks found it: said as it says it.
  (void)store.sync();
  ServiceSpec again = spec;
  again.task_template.networks = asked;
  Status why = resolve_networks(store, again);
  return why.ok() ? st : why;  // else gone is the service (an update), or the ingress network
}

http::Response Api::networks_create(const http::Request& req) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto body = parse_json_body(req.body, "network create request");
  if (!body.ok()) return error_response(body.status());
  uint32_t requested_vni = 0;
  auto spec = parse_network_create(*body, &requested_vni);
  if (!spec.ok()) return error_response(spec.status());
  Store& st = **store;
  auto cluster = st.cluster();
  if (!cluster) return error_response(unavailable("the swarm's cluster object is not loaded yet; retry"));
  // Planned on the cache; on a race with another create the store's
  // reservations fail the commit, and the plan is made again on fresh state.
  for (int attempt = 0;; ++attempt) {
    auto existing = st.networks();
    for (const auto& n : existing) {
      if (n.spec.name == spec->name) {
        return error_response(already_exists("network with name " + spec->name + " already exists (" + n.id +
                                             "); choose another name or remove it first"));
      }
      if (spec->ingress && n.spec.ingress) {
        return error_response(already_exists("the swarm already has an ingress network (" + n.spec.name +
                                             "); remove it first to create another"));
      }
    }
    auto ipam = allocator::plan_subnets(*spec, existing, cluster->default_addr_pool, cluster->subnet_size);
    if (!ipam.ok()) return error_response(ipam.status());
    Network n;
    n.id = new_object_id();
    n.created_at = n.updated_at = clock_.now();
    n.spec = *spec;
    n.ipam = std::move(ipam).value();
    if (requested_vni) {
      for (const auto& o : existing) {
        if (o.vni == requested_vni) {
          return error_response(already_exists("VXLAN id " + std::to_string(requested_vni) + " is used by network " +
                                               o.spec.name + "; choose another or leave the option out"));
        }
      }
      n.vni = requested_vni;
    } else {
      auto vni = allocator::plan_vni(existing);
      if (!vni.ok()) return error_response(vni.status());
      n.vni = *vni;
    }
    Batch b;
    b.create(n);
    Status cst = st.commit(b);
    if (cst.code() == Code::kAlreadyExists && attempt < 3) {
      // Someone else took the name, VNI or subnet first: plan again on what
      // they made (a name or a requested subnet then fails with its reason).
      (void)st.sync();
      if (!spec->ipam.empty() || requested_vni) return error_response(cst);
      continue;
    }
    if (!cst.ok()) return error_response(cst);
    return json_response(201, {{"Id", n.id}, {"Warning", ""}});
  }
}

http::Response Api::networks_list(const http::Request& req) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto f = parse_filters(req.query_param("filters").value_or(""), {"dangling", "driver", "id", "label", "name", "scope", "type"});
  if (!f.ok()) return error_response(f.status());
  for (const auto& v : f->count("type") ? f->at("type") : std::vector<std::string>{}) {
    if (v != "custom" && v != "builtin") {
      return error_response(invalid_argument("invalid filter 'type=" + shown_input(v) + "': use custom or builtin"));
    }
  }
  std::optional<bool> dangling;
  for (const auto& v : f->count("dangling") ? f->at("dangling") : std::vector<std::string>{}) {
    if (v != "true" && v != "false" && v != "1" && v != "0") {
      return error_response(invalid_argument("invalid filter 'dangling=" + shown_input(v) + "': use true or false"));
    }
    dangling = v == "true" || v == "1";
  }
  json out = json::array();
  (*store)->view([&](const StoreSnapshot& snap) {
    std::vector<const Network*> list;
    for (const auto& [_, n] : snap.networks) {
      if (!network_matches(*f, n)) continue;
      if (dangling && (*dangling == !services_using(snap, n.id).empty())) continue;
      list.push_back(&n);
    }
    std::sort(list.begin(), list.end(), [](auto* a, auto* b) { return a->spec.name < b->spec.name; });
    for (const Network* n : list) out.push_back(to_api(*n));
  });
  return json_response(200, out);
}

http::Response Api::network_inspect(const std::string& ref, const http::Request& req) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  std::string scope = req.query_param("scope").value_or("");
  if (!scope.empty() && scope != "swarm") {
    return error_response(not_found("network " + shown_input(ref) + " not found in scope " + shown_input(scope) +
                                    " (shoal's networks are swarm-scoped)"));
  }
  if (truthy(req.query_param("verbose").value_or(""))) {
    return error_response(invalid_argument("network inspect --verbose is not supported yet; inspect without it"));
  }
  auto n = (*store)->find_network(ref);
  if (!n.ok()) return error_response(n.status());
  return json_response(200, to_api(*n));
}

http::Response Api::network_connect(const std::string& ref) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto n = (*store)->find_network(ref);
  if (!n.ok()) return error_response(n.status());
  return error_response(Status(Code::kPermissionDenied, "network " + n->spec.name + " is a swarm network: containers join it "
                                          "through their service (service update --network-add or --network-rm)"));
}

http::Response Api::network_delete(const std::string& ref) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto n = (*store)->find_network(ref);
  if (!n.ok()) return error_response(n.status());
  Status cst = remove_unused_network(**store, n->id);
  if (cst.code() == Code::kNotFound) return error_response(not_found("network " + shown_input(ref) + " not found"));
  if (!cst.ok()) return error_response(cst);
  return empty_response(204);
}

http::Response Api::networks_prune(const http::Request& req) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto f = parse_filters(req.query_param("filters").value_or(""), {"label", "label!", "until"});
  if (!f.ok()) return error_response(f.status());
  if (f->count("until")) {
    return error_response(invalid_argument("the until filter of network prune is not supported yet; use label filters"));
  }
  std::vector<Network> unused;
  (*store)->view([&](const StoreSnapshot& snap) {
    for (const auto& [_, n] : snap.networks) {
      if (n.spec.ingress || !in_use(snap, n).ok() || !labels_match_all(*f, "label", n.spec.labels)) continue;
      bool excluded = false;
      for (const auto& l : f->count("label!") ? f->at("label!") : std::vector<std::string>{})
        excluded = excluded || label_matches(n.spec.labels, l);
      if (!excluded) unused.push_back(n);
    }
  });
  json deleted = json::array();
  for (const auto& n : unused) {
    Status cst = remove_unused_network(**store, n.id);
    // In use by now (a service attached it meanwhile), or removed by someone else.
    if (cst.code() == Code::kFailedPrecondition || cst.code() == Code::kNotFound) continue;
    if (!cst.ok()) {
      // What was removed before the failure is said too, as a 5xx would hide it.
      std::string done;
      for (const auto& d : deleted) done += (done.empty() ? "" : ", ") + d.get<std::string>();
      return error_response(cst.with_context("removing network " + n.spec.name +
                                             (done.empty() ? "" : " (removed before it: " + done + ")")));
    }
    deleted.push_back(n.spec.name);
  }
  return json_response(200, {{"NetworksDeleted", deleted}});
}

}  // namespace shoal::api
