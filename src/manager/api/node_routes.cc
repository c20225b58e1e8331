// /nodes: list (filters id, name, role, membership, label, node.label),
// inspect, update (availability, role, labels, name), delete.
#include <algorithm>

#include "manager/api/api.h"
#include "common/json_limits.h"
#include "manager/api/filters.h"
#include "model/spec_schema.h"

namespace shoal::api {

Result<Node> find_node(const std::vector<Node>& nodes, const std::string& ref) {
  if (ref.empty()) return invalid_argument("node name or id must not be empty");
  for (const auto& n : nodes)
    if (n.id == ref) return n;
  // Then names (spec name or hostname), then unique id prefixes.
  std::vector<const Node*> matches;
  for (const auto& n : nodes)
    if (n.spec.name == ref || n.description.hostname == ref) matches.push_back(&n);
  if (matches.empty()) {
    for (const auto& n : nodes)
      if (has_prefix(n.id, ref)) matches.push_back(&n);
  }
  if (matches.size() == 1) return *matches[0];
  if (matches.size() > 1) {
    return invalid_argument("node " + shown_input(ref) + " is ambiguous (" + std::to_string(matches.size()) +
                            " matches found); give its full id");
  }
  return not_found("node " + shown_input(ref) + " not found");
}

namespace {
// The managers' ManagerStatus from the live state where the node knows it.
void apply_live_manager_status(SwarmControl& control, std::vector<Node>& nodes) {
  auto live = control.live_manager_statuses(nodes);
  for (auto& n : nodes) {
    if (auto it = live.find(n.id); it != live.end()) n.manager_status = it->second;
  }
}
}  // namespace

http::Response Api::nodes_list(const http::Request& req) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto f = parse_filters(req.query_param("filters").value_or(""),
                         {"id", "name", "role", "membership", "label", "node.label"});
  if (!f.ok()) return error_response(f.status());
  for (const auto& v : f->count("role") ? f->at("role") : std::vector<std::string>{}) {
    if (v != "manager" && v != "worker") return error_response(invalid_argument("invalid filter 'role=" + shown_input(v) + "': use manager or worker"));
  }
  for (const auto& v : f->count("membership") ? f->at("membership") : std::vector<std::string>{}) {
    if (v != "accepted" && v != "pending") {
      return error_response(invalid_argument("invalid filter 'membership=" + shown_input(v) + "': use accepted or pending"));
    }
  }
  auto nodes = (*store)->nodes();
  std::sort(nodes.begin(), nodes.end(), [](const Node& a, const Node& b) {
    return a.created_at != b.created_at ? a.created_at < b.created_at : a.id < b.id;
  });
  apply_live_manager_status(control_, nodes);
  json out = json::array();
  for (const auto& n : nodes) {
    bool ok = any_of(*f, "id", [&](const std::string& v) { return has_prefix(n.id, v); }) &&
              any_of(*f, "name", [&](const std::string& v) {
                return has_prefix(n.spec.name, v) || has_prefix(n.description.hostname, v);
              }) &&
              any_of(*f, "role", [&](const std::string& v) { return v == node_role_name(n.spec.role); }) &&
              any_of(*f, "membership", [&](const std::string& v) { return v == "accepted"; }) &&
              labels_match_all(*f, "label", n.spec.labels) && labels_match_all(*f, "node.label", n.spec.labels);
    if (ok) out.push_back(to_api(n));
  }
  return json_response(200, out);
}

http::Response Api::node_inspect(const std::string& ref) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto n = find_node((*store)->nodes(), ref);
  if (!n.ok()) return error_response(n.status());
  std::vector<Node> one = {*n};
  apply_live_manager_status(control_, one);
  return json_response(200, to_api(one[0]));
}

http::Response Api::node_update(const std::string& ref, const http::Request& req) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto nodes = (*store)->nodes();
  auto n = find_node(nodes, ref);
  if (!n.ok()) return error_response(n.status());
  auto version = req.query_param("version");
  if (!version) return error_response(invalid_argument("the version query parameter is required: inspect the node and pass its Version.Index"));
  uint64_t v = 0;
  try {
    v = std::stoull(*version);
  } catch (...) {
    return error_response(invalid_argument("invalid version \"" + *version + "\": an integer is required"));
  }
  auto body = parse_json_body(req.body, "a NodeSpec");
  if (!body.ok()) return error_response(body.status());
  if (!body->is_object()) return error_response(invalid_argument("the request body must be a JSON object (a NodeSpec)"));
  // Keys match without regard to case, as Go decodes them: {"availability":"drain"} is Availability.
  auto canonical = canonical_node_spec(*body);
  if (!canonical.ok()) return error_response(canonical.status().with_context("invalid NodeSpec"));
  const json& spec = *canonical;
  std::string role, avail, name;
  Labels labels;
  try {
    role = spec.contains("Role") && !spec["Role"].is_null() ? spec["Role"].get<std::string>() : node_role_name(n->spec.role);
    avail = spec.contains("Availability") && !spec["Availability"].is_null() ? spec["Availability"].get<std::string>()
                                                                             : node_availability_name(n->spec.availability);
    if (spec.contains("Labels") && !spec["Labels"].is_null()) labels = spec["Labels"].get<Labels>();
    if (spec.contains("Name") && !spec["Name"].is_null()) name = spec["Name"].get<std::string>();
  } catch (const std::exception& e) {
    return error_response(invalid_argument("invalid NodeSpec: " + json_error_text(e)));
  }
  if (role != "worker" && role != "manager") {
    return error_response(invalid_argument("invalid Role \"" + shown_input(role) + "\": use worker or manager"));
  }
  if (avail != "active" && avail != "pause" && avail != "drain") {
    return error_response(invalid_argument("invalid Availability \"" + shown_input(avail) + "\": use active, pause or drain"));
  }
  if (v != n->version) {
    return error_response(conflict("update out of sequence: node " + n->id + " was changed since version " + *version +
                                   " (it is now at " + std::to_string(n->version) + "); inspect it again and retry"));
  }
  if (role == "worker" && n->spec.role == NodeRole::kManager) {
    size_t managers = std::count_if(nodes.begin(), nodes.end(), [](const Node& x) { return x.spec.role == NodeRole::kManager; });
    if (managers <= 1) {
      return error_response(failed_precondition("attempting to demote the last manager of the swarm: promote another node first"));
    }
  }
  Node next = *n;
  next.spec.role = role == "manager" ? NodeRole::kManager : NodeRole::kWorker;
  next.spec.availability = avail == "drain"   ? NodeAvailability::kDrain
                           : avail == "pause" ? NodeAvailability::kPause
                                              : NodeAvailability::kActive;
  next.spec.labels = std::move(labels);
  next.spec.name = name;
  next.updated_at = clock_.now();
  Status st = ok_status();
  // `node demote` again of a node stored as a worker with nothing else
  // changed re-drives a demote its shoald did not finish (it died after the
  // role was stored, or before its etcd member was removed).
  const bool redemote = next.spec.role == NodeRole::kWorker && n->spec.role == NodeRole::kWorker &&
                        next.spec.availability == n->spec.availability && next.spec.labels == n->spec.labels &&
                        next.spec.name == n->spec.name;
  if (next.spec.role != n->spec.role || redemote) {
    // Promote/demote: the node checks the membership rules (one change at a
    // time, quorum) and stores it; the node then starts or stops its manager
    // role. A host that cannot act on it stores nothing (501).
    st = control_.change_role(**store, *n, next);
  } else {
    Batch b;
    b.put_if_version(next);
    st = (*store)->commit(b);
  }
  if (st.code() == Code::kConflict) {
    return error_response(conflict("update out of sequence: node " + n->id + " was changed concurrently; inspect it again and retry"));
  }
  if (!st.ok()) return error_response(st);
  return empty_response(200);
}

http::Response Api::node_delete(const std::string& ref, const http::Request& req) {
  auto store = manager_store();
  if (!store.ok()) return error_response(store.status());
  auto n = find_node((*store)->nodes(), ref);
  if (!n.ok()) return error_response(n.status());
  bool force = truthy(req.query_param("force").value_or(""));
  if (n->spec.role == NodeRole::kManager) {
    return error_response(failed_precondition("node " + n->id + " is a cluster manager and is a member of the raft cluster. "
                                              "It must be demoted to worker before removal"));
  }
  if (!force && n->state != NodeState::kDown) {
    return error_response(failed_precondition("node " + n->id + " is not down and can't be removed: stop it first, or "
                                              "use --force"));
  }
  Batch b;
  b.remove(Kind::kNode, n->id);
  // Its certificate stays valid: the dispatcher refuses its sessions until it
  // would have expired (pruned from the list after that).
  if (auto c = (*store)->cluster()) {
    Time now = clock_.now();
    Time until = now + std::max<Nanos>(c->spec.node_cert_expiry, std::chrono::hours(24 * 90));
    b.update_cluster(c->id, [&](Cluster& cl) {
      std::erase_if(cl.removed_nodes, [&](const auto& kv) { return kv.second <= now; });
      cl.removed_nodes[n->id] = until;
      return true;
    });
  }
  Status st = (*store)->commit(b);
  if (!st.ok()) return error_response(st);
  return empty_response(200);
}

}  // namespace shoal::api
