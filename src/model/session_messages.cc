#include "model/session_messages.h"

namespace shoal::session {

void to_json(json& j, const RegisterRequest& v) {
  Node n;
  n.description = v.description;
  j = {{"NodeID", v.node_id}, {"Addr", v.addr}, {"Description", to_stored(n).value("Description", json::object())}};
}
void from_json(const json& j, RegisterRequest& v) {
  v.node_id = j.value("NodeID", "");
  v.addr = j.value("Addr", "");
  json nj = to_stored(Node{});
  if (j.contains("Description")) nj["Description"] = j["Description"];
  v.description = from_stored<Node>(nj).description;
}
void to_json(json& j, const RegisterResponse& v) {
  j = {{"SessionID", v.session_id}, {"HeartbeatPeriod", v.heartbeat_period.count()}, {"Managers", v.managers}};
}
void from_json(const json& j, RegisterResponse& v) {
  v.session_id = j.value("SessionID", "");
  v.heartbeat_period = Nanos(j.value("HeartbeatPeriod", int64_t{5000000000}));
  if (j.contains("Managers") && j["Managers"].is_array()) v.managers = j["Managers"].get<std::vector<std::string>>();
}
void to_json(json& j, const AssignmentSet& v) {
  // Tasks in their stored form: the agent needs the internal fields (the
  // service's name for container names).
  json tasks = json::array();
  for (const auto& t : v.tasks) tasks.push_back(to_stored(t));
  j = {{"Generation", v.generation}, {"Full", v.full}, {"Tasks", std::move(tasks)}, {"Removed", v.removed}};
  if (!v.registry_auth.empty()) j["RegistryAuth"] = v.registry_auth;
  if (v.network_view) j["NetworkView"] = *v.network_view;
}
void from_json(const json& j, AssignmentSet& v) {
  v.generation = j.value("Generation", uint64_t{0});
  v.full = j.value("Full", true);
  v.tasks.clear();
  for (const auto& t : j.value("Tasks", json::array())) v.tasks.push_back(from_stored<Task>(t));
  v.removed = j.value("Removed", std::vector<std::string>{});
  v.registry_auth = j.value("RegistryAuth", std::map<std::string, std::string>{});
  v.network_view.reset();
  if (j.contains("NetworkView") && j["NetworkView"].is_object()) v.network_view = j["NetworkView"].get<NetworkView>();
  for (auto& t : v.tasks) {
    auto ra = v.registry_auth.find(t.service_id);
    t.registry_auth = ra == v.registry_auth.end() ? std::string() : ra->second;
  }
}
void to_json(json& j, const StatusBatch& v) {
  j = {{"SessionID", v.session_id}, {"Updates", json::array()}};
  for (const auto& u : v.updates) {
    j["Updates"].push_back({{"TaskID", u.task_id}, {"Status", u.status}});
  }
}
void from_json(const json& j, StatusBatch& v) {
  v.session_id = j.value("SessionID", "");
  v.updates.clear();
  for (const auto& u : j.value("Updates", json::array())) {
    v.updates.push_back({u.value("TaskID", ""), u.value("Status", json::object()).get<TaskStatus>()});
  }
}

}  // namespace shoal::session
