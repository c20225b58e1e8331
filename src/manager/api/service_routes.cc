// /services: create, list (with status counts), inspect, update, delete, logs.
#include <algorithm>
#include <functional>

#include "common/ids.h"
#include "common/json_limits.h"
#include "manager/api/api.h"
#include "manager/api/published_ports.h"
#include "manager/api/filters.h"
#include "manager/api/registry_auth.h"
#include "manager/api/validation.h"

namespace shoal::api {

namespace {

std::string name_conflict(const std::string& name) {
  return "rejecting service: name conflicts with an existing object: service " + name +
         " already exists; choose another name or remove it first";
}

bool service_matches(const Filters& f, const Service& s) {
  return any_of(f, "id", [&](const std::string& v) { return has_prefix(s.id, v); }) &&
         any_of(f, "name", [&](const std::string& v) { return has_prefix(s.spec.name, v); }) &&
         any_of(f, "mode", [&](const std::string& v) { return (v == "global") == (s.spec.mode == ServiceModeKind::kGlobal); }) &&
         labels_match_all(f, "label", s.spec.labels);
}

Result<uint64_t> parse_version(const std::optional<std::string>& text, const std::string& what) {
  if (!text) return invalid_argument("the version query parameter is required: inspect the " + what + " and pass its Version.Index");
  if (text->empty() || text->find_first_not_of("0123456789") != std::string::npos) {
    return invalid_argument("invalid version \"" + *text + "\": an integer is required");
  }
  try {
    return static_cast<uint64_t>(std::stoull(*text));
  } catch (...) {
    return invalid_argument("invalid version \"" + *text + "\": an integer is required");
  }
}

// Tasks of `s` that ran to completion and are not replaced (restart
// condition none or on-failure keeps them); with condition any a completed
// task is replaced, so the walk over the service's tasks is skipped.
uint64_t completed_tasks(const StoreSnapshot& snap, const Service& s) {
  if (s.spec.task_template.restart_policy.condition == "any") return 0;
  auto it = snap.tasks_by_service.find(s.id);
  if (it == snap.tasks_by_service.end()) return 0;
  uint64_t n = 0;
  for (const auto& tid : it->second) {
    auto t = snap.tasks.find(tid);
    n += t != snap.tasks.end() && t->second.status.state == TaskState::kComplete &&
         t->second.desired_state == TaskState::kRunning;
  }
  return n;
}

// GET /services/{id}?insertDefaults=true: Docker's defaults (swarmkit's
// api/defaults) added where the spec leaves them out.
void with_defaults(json& spec) {
  static const json kUpdate = {{"Parallelism", 1}, {"FailureAction", "pause"}, {"Monitor", 5000000000LL},
                               {"MaxFailureRatio", 0}, {"Order", "stop-first"}};
  static const json kDefaults = {
      {"Labels", json::object()},
      {"TaskTemplate",
       {{"ContainerSpec", {{"StopGracePeriod", 10000000000LL}, {"DNSConfig", json::object()}, {"Isolation", "default"}}},
        {"Resources", {{"Limits", json::object()}, {"Reservations", json::object()}}},
        {"RestartPolicy", {{"Condition", "any"}, {"Delay", 5000000000LL}, {"MaxAttempts", 0}}},
        {"Placement", json::object()},
        {"ForceUpdate", 0},
        {"Runtime", "container"}}},
      {"UpdateConfig", kUpdate},
      {"RollbackConfig", kUpdate},
      {"EndpointSpec", {{"Mode", "vip"}}}};
  std::function<void(json&, const json&)> merge = [&](json& j, const json& d) {
    for (auto it = d.begin(); it != d.end(); ++it) {
      auto e = j.find(it.key());
      if (e == j.end()) j[it.key()] = *it;
      else if (e->is_object() && it->is_object()) merge(*e, *it);
    }
  };
  merge(spec, kDefaults);
}

}  // namespace

Status Api::seal_registry_auth(const std::optional<RegistryAuthHeader>& auth, Service& s) {
  if (!auth) return ok_status();
  if (auth->value.empty()) {
    s.registry_auth_sealed.clear();
    return ok_status();
  }
  SHOAL_ASSIGN_OR_RETURN(std::string bound, bind_registry_auth(auth->value, s.spec.task_template.container_spec.image));
  auto sealed = control_.seal_registry_auth(bound, registry_auth_context(s.id));
  if (!sealed.ok()) return sealed.status().with_context("keeping the --with-registry-auth credentials");
  s.registry_auth_sealed = std::move(sealed).value();
  return ok_status();
}

http::Response Api::services_create(const http::Request& req) {
  auto auth = read_registry_auth(req);
  if (!auth.ok()) return error_response(auth.status());
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto spec = parse_service_spec(req.body);
  if (!spec.ok()) return error_response(spec.status());
  Store& st = **store;
  if (spec->name.empty()) {
    spec->name = generate_service_name([&](const std::string& n) { return st.find_service(n).ok(); });
  }
  Status valid = validate_service_spec(*spec);
  const std::vector<NetworkAttachmentConfig> asked = spec->task_template.networks;
  if (valid.ok()) valid = resolve_networks(st, *spec);
  if (!valid.ok()) return error_response(valid);
  for (const auto& s : st.services()) {
    if (s.spec.name == spec->name) return error_response(already_exists(name_conflict(spec->name)));
  }
  // Stored as sent: no UpdateConfig or RollbackConfig is added (Docker's
  // defaults apply when absent; GET ?insertDefaults=true shows them).
  Service s;
  s.id = new_object_id();
  s.created_at = s.updated_at = clock_.now();
  s.spec = std::move(spec).value();
  s.spec_version = 1;
  if (Status sealed = seal_registry_auth(*auth, s); !sealed.ok()) return error_response(sealed);
  if (Status ports = assign_published_ports(st, nullptr, s); !ports.ok()) return error_response(ports);
  // Tied to its networks: a concurrent `network rm` of one fails, or this does.
  Status cst = commit_with_networks(st, s.spec, asked, [&](Batch& b) { b.create(s); });
  if (cst.code() == Code::kAlreadyExists) return error_response(already_exists(name_conflict(s.spec.name)));
  if (!cst.ok()) return error_response(cst);
  return json_response(201, {{"ID", s.id}, {"Warnings", nullptr}});
}

http::Response Api::services_list(const http::Request& req) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto f = parse_filters(req.query_param("filters").value_or(""), {"id", "label", "mode", "name"});
  if (!f.ok()) return error_response(f.status());
  for (const auto& v : f->count("mode") ? f->at("mode") : std::vector<std::string>{}) {
    if (v != "replicated" && v != "global") {
      return error_response(invalid_argument("invalid filter 'mode=" + shown_input(v) + "': use replicated or global"));
    }
  }
  bool with_status = truthy(req.query_param("status").value_or(""));
  json out = json::array();
  (*store)->view([&](const StoreSnapshot& snap) {
    // Docker counts tasks on nodes that are not down; the desired count of a
    // global service is the number of nodes that can take its tasks.
    size_t eligible_nodes = 0;
    std::vector<const std::string*> down_nodes;
    for (const auto& [id, n] : snap.nodes) {
      eligible_nodes += n.state != NodeState::kDown && n.spec.availability == NodeAvailability::kActive;
      if (n.state == NodeState::kDown) down_nodes.push_back(&id);
    }
    std::vector<const Service*> list;
    for (const auto& [_, s] : snap.services)
      if (service_matches(*f, s)) list.push_back(&s);
    std::sort(list.begin(), list.end(), [](auto* a, auto* b) {
      return a->created_at != b->created_at ? a->created_at < b->created_at : a->id < b->id;
    });
    for (const Service* s : list) {
      json j = to_api(*s);
      if (with_status) {
        // Running tasks from the store's count, less those on down nodes
        // (few, if any: no walk over every task of the service).
        uint64_t running = 0;
        uint64_t completed = completed_tasks(snap, *s);
        if (auto it = snap.running_by_service.find(s->id); it != snap.running_by_service.end()) running = it->second;
        for (const std::string* node : down_nodes) {
          auto on = snap.tasks_by_node.find(*node);
          if (on == snap.tasks_by_node.end()) continue;
          for (const auto& tid : on->second) {
            auto t = snap.tasks.find(tid);
            if (t != snap.tasks.end() && t->second.service_id == s->id && t->second.status.state == TaskState::kRunning)
              --running;
          }
        }
        uint64_t desired = s->spec.mode == ServiceModeKind::kGlobal ? eligible_nodes : s->spec.replicas;
        j["ServiceStatus"] = {{"RunningTasks", running}, {"DesiredTasks", desired}, {"CompletedTasks", completed}};
      }
      out.push_back(std::move(j));
    }
  });
  return json_response(200, out);
}

http::Response Api::service_inspect(const std::string& ref, const http::Request& req) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto s = (*store)->find_service(ref);
  if (!s.ok()) return error_response(s.status());
  json j = to_api(*s);
  if (truthy(req.query_param("insertDefaults").value_or(""))) {
    with_defaults(j["Spec"]);
    if (j.contains("PreviousSpec")) with_defaults(j["PreviousSpec"]);
  }
  return json_response(200, j);
}

http::Response Api::service_update(const std::string& ref, const http::Request& req) {
  auto auth = read_registry_auth(req);
  if (!auth.ok()) return error_response(auth.status());
  std::string auth_from = req.query_param("registryAuthFrom").value_or("spec");
  if (auth_from != "spec" && auth_from != "previous-spec") {
    return error_response(invalid_argument("invalid registryAuthFrom \"" + shown_input(auth_from) +
                                           "\": use spec or previous-spec"));
  }
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto cur = (*store)->find_service(ref);
  if (!cur.ok()) return error_response(cur.status());
  auto version = parse_version(req.query_param("version"), "service");
  if (!version.ok()) return error_response(version.status());
  std::string rollback = req.query_param("rollback").value_or("");
  if (!rollback.empty() && rollback != "previous") {
    return error_response(invalid_argument("invalid rollback \"" + shown_input(rollback) + "\": the only value is previous"));
  }
  Service next = *cur;
  if (rollback == "previous") {
    if (!cur->previous_spec) {
      return error_response(failed_precondition("service " + cur->spec.name + " does not have a previous spec to roll back to"));
    }
    next.spec = *cur->previous_spec;
  } else {
    auto spec = parse_service_spec(req.body);
    if (!spec.ok()) return error_response(spec.status());
    next.spec = std::move(spec).value();
    if (next.spec.name.empty()) next.spec.name = cur->spec.name;
  }
  if (next.spec.name != cur->spec.name) {
    return error_response(invalid_argument("renaming services is not supported: service " + cur->spec.name +
                                           " keeps its name; create a new service to use \"" + next.spec.name + "\""));
  }
  if ((next.spec.mode == ServiceModeKind::kGlobal) != (cur->spec.mode == ServiceModeKind::kGlobal)) {
    return error_response(invalid_argument("service mode change is not allowed: remove the service and create it again"));
  }
  Status valid = validate_service_spec(next.spec);
  const std::vector<NetworkAttachmentConfig> asked = next.spec.task_template.networks;
  if (valid.ok()) valid = resolve_networks(**store, next.spec);
  if (!valid.ok()) return error_response(valid);
  if (*version != cur->version) {
    return error_response(conflict("update out of sequence: service " + cur->spec.name + " was changed since version " +
                                   std::to_string(*version) + " (it is now at " + std::to_string(cur->version) +
                                   "); inspect it again and retry"));
  }
  next.previous_spec = cur->spec;
  next.updated_at = clock_.now();
  // Without the header the stored credentials stay (next is a copy of cur),
  // whichever registryAuthFrom: shoal keeps one set per service.
  if (Status sealed = seal_registry_auth(*auth, next); !sealed.ok()) return error_response(sealed);
  if (Status ports = assign_published_ports(**store, &*cur, next); !ports.ok()) return error_response(ports);
  // Only a change of the task template (image, env, ..., ForceUpdate) or of
  // the host-mode ports (each task carries its own) rolls tasks; a change of
  // replicas, labels or update config does not.
  auto host_ports = [](const Service& s) {
    std::vector<PortConfig> out;
    for (const auto& p : s.endpoint_ports)
      if (p.publish_mode == "host") out.push_back(p);
    return out;
  };
  if (json(next.spec.task_template) != json(cur->spec.task_template) || host_ports(next) != host_ports(*cur)) {
    next.spec_version = cur->spec_version + 1;
    // A new rollout starts now; the orchestrator reports its progress. Setting
    // it here (not later) keeps clients that poll UpdateStatus from seeing a
    // stale "completed" and stopping early.
    UpdateStatus us;
    us.state = "updating";
    us.started_at = clock_.now();
    us.message = rollback.empty() ? "update in progress" : "manually requested rollback";
    next.update_status = us;
  }
  // Tied to its networks, as a create (network_routes.cc).
  Status st = commit_with_networks(**store, next.spec, asked, [&](Batch& b) { b.put_if_version(next); });
  if (st.code() == Code::kConflict) {
    return error_response(conflict("update out of sequence: service " + cur->spec.name +
                                   " was changed concurrently; inspect it again and retry"));
  }
  if (!st.ok()) return error_response(st);
  return json_response(200, {{"Warnings", nullptr}});
}

http::Response Api::service_delete(const std::string& ref) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto s = (*store)->find_service(ref);
  if (!s.ok()) return error_response(s.status());
  // The orchestrator shuts the service's tasks down when it sees it gone.
  Batch b;
  b.remove(Kind::kService, s->id);
  Status st = (*store)->commit(b);
  if (!st.ok()) return error_response(st);
  return empty_response(200);
}

http::Response Api::service_logs(const std::string& ref, const http::Request& req) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto s = (*store)->find_service(ref);
  if (!s.ok()) return error_response(s.status());
  return error_response(501, "service logs are not implemented in shoal yet; on the node running a task, read "
                             "/var/lib/shoal/containers/<container id>/container.log");
}

}  // namespace shoal::api
