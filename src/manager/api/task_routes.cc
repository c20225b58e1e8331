// /tasks: list (filters as the docker CLI sends them) and inspect.
#include <algorithm>
#include <set>

#include "manager/api/api.h"
#include "common/json_limits.h"
#include "manager/api/filters.h"

namespace shoal::api {

namespace {

// Docker's task name: "<service>.<slot>.<id>" (replicated) or
// "<service>.<node id>.<id>" (global).
std::string task_name(const Task& t, const std::string& service_name) {
  return service_name + "." + (t.slot ? std::to_string(t.slot) : t.node_id) + "." + t.id;
}

}  // namespace

http::Response Api::tasks_list(const http::Request& req) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto f = parse_filters(req.query_param("filters").value_or(""),
                         {"id", "name", "label", "service", "node", "desired-state", "_up-to-date", "runtime"});
  if (!f.ok()) return error_response(f.status());
  for (const auto& v : f->count("desired-state") ? f->at("desired-state") : std::vector<std::string>{}) {
    if (v != "running" && v != "shutdown" && v != "accepted") {
      return error_response(invalid_argument("invalid filter 'desired-state=" + shown_input(v) + "': use running, shutdown or accepted"));
    }
  }
  // Service and node filters name ids, names or prefixes: resolve them first
  // (an unknown one is a 404, as in Docker).
  std::set<std::string> services, nodes;
  if (f->count("service")) {
    for (const auto& v : f->at("service")) {
      auto s = (*store)->find_service(v);
      if (!s.ok()) return error_response(s.status());
      services.insert(s->id);
    }
  }
  if (f->count("node")) {
    auto all = (*store)->nodes();
    for (const auto& v : f->at("node")) {
      auto n = find_node(all, v);
      if (!n.ok()) return error_response(n.status());
      nodes.insert(n->id);
    }
  }
  bool up_to_date = f->count("_up-to-date") && !f->at("_up-to-date").empty();
  std::vector<const Task*> picked;
  // In listing order: the cached text, or (for a miss) the index of a copy.
  std::vector<std::shared_ptr<const std::string>> texts;
  std::vector<std::pair<size_t, Task>> misses;
  (*store)->view([&](const StoreSnapshot& snap) {
    auto consider = [&](const Task& t) {
      auto svc = snap.services.find(t.service_id);
      const std::string& sname = svc != snap.services.end() ? svc->second.spec.name : t.service_name;
      bool ok = (nodes.empty() || nodes.count(t.node_id)) &&
                any_of(*f, "id", [&](const std::string& v) { return has_prefix(t.id, v); }) &&
                any_of(*f, "name", [&](const std::string& v) { return has_prefix(task_name(t, sname), v); }) &&
                any_of(*f, "desired-state", [&](const std::string& v) {
                  if (v == "accepted") return t.desired_state == TaskState::kAccepted;
                  return v == task_state_name(t.desired_state);
                }) &&
                any_of(*f, "runtime", [&](const std::string& v) { return v == t.spec.runtime; }) &&
                labels_match_all(*f, "label", t.labels);
      if (ok && up_to_date) ok = svc != snap.services.end() && t.spec_version == svc->second.spec_version;
      if (ok) picked.push_back(&t);
    };
    if (!services.empty()) {
      for (const auto& sid : services) {
        auto it = snap.tasks_by_service.find(sid);
        if (it == snap.tasks_by_service.end()) continue;
        for (const auto& tid : it->second)
          if (auto t = snap.tasks.find(tid); t != snap.tasks.end()) consider(t->second);
      }
    } else {
      for (const auto& [_, t] : snap.tasks) consider(t);
    }
    std::sort(picked.begin(), picked.end(), [](const Task* a, const Task* b) {
      return a->created_at != b->created_at ? a->created_at < b->created_at : a->id < b->id;
    });
    // Under the lock only look up the cache and copy what it misses;
    // serialize outside, so a large listing never holds up the watch.
    texts.reserve(picked.size());
    for (const Task* t : picked) {
      texts.push_back(task_json_.find(t->id, t->version));
      if (!texts.back()) misses.emplace_back(texts.size() - 1, *t);
    }
  });
  for (auto& [i, t] : misses) {
    texts[i] = task_json_.put(t.id, t.version, to_api(t).dump(-1, ' ', false, json::error_handler_t::replace));
  }
  std::string body = "[";
  size_t size = 2;
  for (const auto& t : texts) size += t->size() + 1;
  body.reserve(size);
  for (size_t i = 0; i < texts.size(); ++i) {
    if (i) body += ',';
    body += *texts[i];
  }
  body += ']';
  return json_text_response(200, std::move(body));
}

http::Response Api::task_inspect(const std::string& ref) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  if (ref.empty()) return error_response(invalid_argument("task id must not be empty"));
  if (auto t = (*store)->task(ref)) return json_response(200, to_api(*t));
  std::vector<Task> matches;
  for (const auto& t : (*store)->tasks())
    if (has_prefix(t.id, ref)) matches.push_back(t);
  if (matches.size() == 1) return json_response(200, to_api(matches[0]));
  if (matches.size() > 1) {
    return error_response(invalid_argument("task " + shown_input(ref) + " is ambiguous (" + std::to_string(matches.size()) +
                                           " matches found); give more of its id"));
  }
  return error_response(not_found("task " + shown_input(ref) + " not found"));
}

}  // namespace shoal::api
