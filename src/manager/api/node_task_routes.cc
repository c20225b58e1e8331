// /nodes*, /tasks*, /containers* (this node's).
#include <csignal>
#include <set>

#include "manager/api/api.h"
#include "manager/api/validation.h"

namespace shoal::api {

Result<Node> Api::find_node(Store& store, const std::string& ref) {
  auto nodes = store.nodes();
  for (const auto& n : nodes)
    if (n.id == ref) return n;
  std::vector<Node> matches;
  for (const auto& n : nodes)
    if (n.description.hostname == ref || n.spec.name == ref || n.id.rfind(ref, 0) == 0) matches.push_back(n);
  if (matches.size() == 1) return matches[0];
  if (matches.size() > 1) return invalid_argument("node " + ref + " is ambiguous (" + std::to_string(matches.size()) + " matches found)");
  return not_found("node " + ref + " not found");
}

http::Response Api::nodes_list(const http::Request& req) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto filters = parse_filters(req.query_param("filters").value_or(""));
  if (!filters.ok()) return error_response(filters.status());
  json out = json::array();
  auto nodes = (*store)->nodes();
  std::sort(nodes.begin(), nodes.end(), [](const Node& a, const Node& b) { return a.created_at < b.created_at; });
  for (const auto& n : nodes) {
    bool ok = true;
    for (const auto& [key, values] : *filters) {
      bool any = false;
      for (const auto& v : values) {
        if (key == "id") any |= n.id.rfind(v, 0) == 0;
        else if (key == "name") any |= n.description.hostname == v || n.spec.name == v;
        else if (key == "role") any |= v == node_role_name(n.spec.role);
        else if (key == "membership") any |= v == "accepted";
        else any = true;
      }
      ok &= any;
    }
    if (ok) out.push_back(api_json(json(n)));
  }
  return json_response(200, out);
}

http::Response Api::node_inspect(const std::string& ref) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto n = find_node(**store, ref);
  if (!n.ok()) return error_response(n.status());
  return json_response(200, api_json(json(*n)));
}

http::Response Api::node_update(const std::string& ref, const http::Request& req) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto n = find_node(**store, ref);
  if (!n.ok()) return error_response(n.status());
  auto version = req.query_param("version");
  if (!version) return error_response(invalid_argument("the version query parameter is required"));
  json spec;
  try {
    spec = json::parse(req.body);
  } catch (const std::exception& e) {
    return error_response(invalid_argument(std::string("invalid JSON in the request body: ") + e.what()));
  }
  Node next = *n;
  std::string role = spec.value("Role", node_role_name(n->spec.role));
  std::string avail = spec.value("Availability", node_availability_name(n->spec.availability));
  if (role != "worker" && role != "manager") return error_response(invalid_argument("invalid Role \"" + role + "\": use worker or manager"));
  if (avail != "active" && avail != "pause" && avail != "drain") {
    return error_response(invalid_argument("invalid Availability \"" + avail + "\": use active, pause or drain"));
  }
  if (role == "worker" && n->spec.role == NodeRole::kManager) {
    return error_response(failed_precondition("demoting the last manager would leave the swarm without managers; add another manager first"));
  }
  next.spec.role = role == "manager" ? NodeRole::kManager : NodeRole::kWorker;
  next.spec.availability = avail == "drain" ? NodeAvailability::kDrain : avail == "pause" ? NodeAvailability::kPause : NodeAvailability::kActive;
  next.spec.labels = spec.value("Labels", Labels{});
  next.spec.name = spec.value("Name", "");
  try {
    if (std::stoull(*version) != n->version) {
      return error_response(conflict("update out of sequence: node " + n->id + " changed since version " + *version + "; inspect it again and retry"));
    }
  } catch (...) {
    return error_response(invalid_argument("invalid version \"" + *version + "\""));
  }
  Batch b;
  b.put_if_version(next);
  Status st = (*store)->commit(b);
  if (!st.ok()) return error_response(st);
  http::Response r;
  r.status = 200;
  return r;
}

http::Response Api::tasks_list(const http::Request& req) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto filters = parse_filters(req.query_param("filters").value_or(""));
  if (!filters.ok()) return error_response(filters.status());
  // Resolve service names to ids first.
  std::set<std::string> services;
  bool by_service = filters->count("service");
  if (by_service) {
    for (const auto& v : (*filters)["service"]) {
      auto s = (*store)->find_service(v);
      if (s.ok()) services.insert(s->id);
    }
  }
  json out = json::array();
  (*store)->view([&](const StoreSnapshot& snap) {
    auto consider = [&](const Task& t) {
      for (const auto& [key, values] : *filters) {
        if (key == "service") continue;
        bool any = false;
        for (const auto& v : values) {
          if (key == "id") any |= t.id.rfind(v, 0) == 0;
          else if (key == "node") {
            auto nit = snap.nodes.find(t.node_id);
            any |= t.node_id == v || (nit != snap.nodes.end() && nit->second.description.hostname == v);
          } else if (key == "desired-state") any |= v == task_state_name(t.desired_state) ||
                                                     (v == "accepted" && t.desired_state == TaskState::kRunning);
          else if (key == "name") any |= (t.service_name + "." + std::to_string(t.slot)) == v || t.service_name == v;
          else if (key == "label") any |= t.labels.count(v.substr(0, v.find('=')));
          else any = true;
        }
        if (!any) return;
      }
      out.push_back(api_json(json(t)));
    };
    if (by_service) {
      for (const auto& sid : services) {
        auto it = snap.tasks_by_service.find(sid);
        if (it == snap.tasks_by_service.end()) continue;
        for (const auto& tid : it->second) consider(snap.tasks.at(tid));
      }
    } else {
      for (const auto& [_, t] : snap.tasks) consider(t);
    }
  });
  return json_response(200, out);
}

http::Response Api::task_inspect(const std::string& ref) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  if (auto t = (*store)->task(ref)) return json_response(200, api_json(json(*t)));
  std::vector<Task> matches;
  for (const auto& t : (*store)->tasks())
    if (t.id.rfind(ref, 0) == 0) matches.push_back(t);
  if (matches.size() == 1) return json_response(200, api_json(json(matches[0])));
  return error_response(not_found("task " + ref + " not found"));
}

http::Response Api::containers_list(const http::Request& req) {
  if (!containers_) return json_response(200, json::array());
  std::string all = req.query_param("all").value_or("");
  json out = json::array();
  for (const auto& c : containers_->list(all == "1" || all == "true")) {
    out.push_back({{"Id", c.id}, {"Names", c.names}, {"Image", c.image}, {"ImageID", ""}, {"Command", c.command},
                   {"Created", c.created}, {"Ports", json::array()}, {"Labels", c.labels}, {"State", c.state},
                   {"Status", c.status}, {"HostConfig", {{"NetworkMode", "default"}}},
                   {"NetworkSettings", {{"Networks", json::object()}}}, {"Mounts", json::array()}});
  }
  return json_response(200, out);
}

http::Response Api::container_kill(const std::string& ref, const http::Request& req) {
  if (!containers_) return error_response(not_found("No such container: " + ref));
  std::string sig = req.query_param("signal").value_or("KILL");
  int num = 0;
  static const std::pair<const char*, int> kSigs[] = {{"KILL", SIGKILL}, {"TERM", SIGTERM}, {"INT", SIGINT},
                                                      {"HUP", SIGHUP},   {"QUIT", SIGQUIT}, {"USR1", SIGUSR1},
                                                      {"USR2", SIGUSR2}};
  std::string s = sig.rfind("SIG", 0) == 0 ? sig.substr(3) : sig;
  for (const auto& [n, v] : kSigs)
    if (s == n) num = v;
  if (!num && !s.empty() && s.find_first_not_of("0123456789") == std::string::npos) num = std::stoi(s);
  if (num <= 0 || num > 64) return error_response(invalid_argument("invalid signal: " + sig));
  Status st = containers_->kill(ref, num);
  if (!st.ok()) return error_response(st);
  http::Response r;
  r.status = 204;
  return r;
}

http::Response Api::service_logs(const std::string& ref, const http::Request& req) {
  return error_response(Status(Code::kFailedPrecondition,
                               "service logs are not available yet in shoal; read the node's task logs under "
                               "/var/lib/shoal/containers/<id>/container.log"));
}

}  // namespace shoal::api
