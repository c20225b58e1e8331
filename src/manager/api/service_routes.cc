// /services*: create, list (with status counts), inspect, update, delete, logs.
#include <fstream>

#include "common/ids.h"
#include "manager/api/api.h"
#include "manager/api/validation.h"

namespace shoal::api {

namespace {

bool matches(const std::map<std::string, std::vector<std::string>>& f, const Service& s) {
  for (const auto& [key, values] : f) {
    bool any = false;
    for (const auto& v : values) {
      if (key == "id") any |= s.id.rfind(v, 0) == 0;
      else if (key == "name") any |= s.spec.name.rfind(v, 0) == 0;
      else if (key == "mode") any |= (v == "global") == (s.spec.mode == ServiceModeKind::kGlobal);
      else if (key == "label") {
        auto eq = v.find('=');
        auto it = s.spec.labels.find(v.substr(0, eq));
        any |= it != s.spec.labels.end() && (eq == std::string::npos || it->second == v.substr(eq + 1));
      } else {
        any = true;
      }
    }
    if (!any) return false;
  }
  return true;
}

}  // namespace

http::Response Api::services_create(const http::Request& req) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto spec = parse_service_spec(req.body);
  if (!spec.ok()) return error_response(spec.status());
  if ((*store)->find_service(spec->name).ok()) {
    return error_response(already_exists("name conflicts with an existing object: service " + spec->name +
                                         " already exists; choose another name or remove it first"));
  }
  Service s;
  s.id = new_object_id();
  s.created_at = s.updated_at = clock_.now();
  s.spec = std::move(spec).value();
  s.spec_version = 1;
  Batch b;
  b.create(s);
  Status st = (*store)->commit(b);
  if (st.code() == Code::kAlreadyExists) {
    return error_response(already_exists("name conflicts with an existing object: service " + s.spec.name +
                                         " already exists; choose another name or remove it first"));
  }
  if (!st.ok()) return error_response(st);
  return json_response(201, {{"ID", s.id}, {"Warnings", nullptr}});
}

http::Response Api::services_list(const http::Request& req) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto filters = parse_filters(req.query_param("filters").value_or(""));
  if (!filters.ok()) return error_response(filters.status());
  std::string status = req.query_param("status").value_or("");
  bool with_status = status == "1" || status == "true";
  json out = json::array();
  (*store)->view([&](const StoreSnapshot& snap) {
    size_t eligible_nodes = 0;
    for (const auto& [_, n] : snap.nodes)
      eligible_nodes += n.state == NodeState::kReady && n.spec.availability == NodeAvailability::kActive;
    std::vector<const Service*> list;
    for (const auto& [_, s] : snap.services)
      if (matches(*filters, s)) list.push_back(&s);
    std::sort(list.begin(), list.end(), [](auto* a, auto* b) { return a->created_at < b->created_at; });
    for (const Service* s : list) {
      json j = api_json(json(*s));
      if (with_status) {
        uint64_t running = 0, completed = 0;
        if (auto it = snap.tasks_by_service.find(s->id); it != snap.tasks_by_service.end()) {
          for (const auto& tid : it->second) {
            const Task& t = snap.tasks.at(tid);
            if (t.desired_state > TaskState::kRunning) continue;
            running += t.status.state == TaskState::kRunning;
            completed += t.status.state == TaskState::kComplete;
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

http::Response Api::service_inspect(const std::string& ref) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto s = (*store)->find_service(ref);
  if (!s.ok()) return error_response(s.status());
  return json_response(200, api_json(json(*s)));
}

http::Response Api::service_update(const std::string& ref, const http::Request& req) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto cur = (*store)->find_service(ref);
  if (!cur.ok()) return error_response(cur.status());
  auto version_text = req.query_param("version");
  if (!version_text) return error_response(invalid_argument("the version query parameter is required: inspect the service and pass its Version.Index"));
  uint64_t version = 0;
  try {
    version = std::stoull(*version_text);
  } catch (...) {
    return error_response(invalid_argument("invalid version \"" + *version_text + "\": an integer is required"));
  }
  Service next = *cur;
  if (req.query_param("rollback").value_or("") == "previous") {
    if (!cur->previous_spec) return error_response(failed_precondition("service " + cur->spec.name + " has no previous spec to roll back to"));
    next.spec = *cur->previous_spec;
  } else {
    auto spec = parse_service_spec(req.body);
    if (!spec.ok()) return error_response(spec.status());
    next.spec = std::move(spec).value();
  }
  if (next.spec.name != cur->spec.name) {
    return error_response(invalid_argument("renaming services is not supported (Docker refuses it too): create a new service instead"));
  }
  if ((next.spec.mode == ServiceModeKind::kGlobal) != (cur->spec.mode == ServiceModeKind::kGlobal)) {
    return error_response(invalid_argument("service mode change is not allowed: remove the service and create it again"));
  }
  if (version != cur->version) {
    return error_response(conflict("update out of sequence: service " + cur->spec.name + " was changed since version " +
                                   std::to_string(version) + " (it is now at " + std::to_string(cur->version) +
                                   "); inspect it again and retry"));
  }
  next.version = version;
  next.previous_spec = cur->spec;
  next.updated_at = clock_.now();
  if (json(next.spec.task_template) != json(cur->spec.task_template)) {
    next.spec_version = cur->spec_version + 1;
    next.update_status.reset();  // a new rollout; the orchestrator reports its progress
  }
  Batch b;
  b.put_if_version(next);
  Status st = (*store)->commit(b);
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
  Batch b;
  b.remove(Kind::kService, s->id);
  Status st = (*store)->commit(b);
  if (!st.ok()) return error_response(st);
  http::Response r;
  r.status = 200;
  return r;
}

}  // namespace shoal::api
