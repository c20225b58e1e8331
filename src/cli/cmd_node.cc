// shoal node ls|inspect|update|promote|demote|rm|ps.
#include <algorithm>
#include <functional>
#include <iostream>

#include "cli/commands.h"
#include "cli/service_ps.h"
#include "cli/template.h"
#include "cli/units.h"

namespace shoal::cli {

using nlohmann::json;

namespace {

const char* kNodeTableFormat =
    "table {{.ID}} {{if .Self}}*{{else}} {{ end }}\t{{.Hostname}}\t{{.Status}}\t{{.Availability}}\t"
    "{{.ManagerStatus}}\t{{.EngineVersion}}";

int node_ls(Context& ctx, const Args& args) {
  FlagSet fs("shoal node ls", "[OPTIONS]", "List nodes in the swarm");
  fs.set_aliases({"ls", "list"});
  fs.add("filter", 'f', "filter", "Filter output based on conditions provided");
  fs.add("format", 0, "string", "Pretty-print nodes using a Go template");
  fs.add_bool("quiet", 'q', "Only display IDs");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_none()); rc >= 0) return rc;
  if (Status st = check_filters(fs); !st.ok()) return fail(ctx, st);
  std::string q = "/nodes";
  add_filter_args(fs, &q, '?');
  auto nodes = ctx.api->get(q);
  if (!nodes.ok()) return fail(ctx, nodes.status());
  std::string self;
  if (auto info = ctx.api->get("/info"); info.ok()) self = get_str(at_path(*info, {"Swarm"}), "NodeID");
  std::vector<json> list(nodes->begin(), nodes->end());
  std::stable_sort(list.begin(), list.end(), [](const json& a, const json& b) {
    return natural_less(get_str(at_path(a, {"Description"}), "Hostname"),
                        get_str(at_path(b, {"Description"}), "Hostname"));
  });
  std::vector<json> rows;
  for (const auto& n : list) {
    std::string reach;
    const json& ms = at_path(n, {"ManagerStatus"});
    if (ms.is_object()) reach = ms.value("Leader", false) ? "Leader" : pretty_print(get_str(ms, "Reachability"));
    rows.push_back({{"ID", get_str(n, "ID")},
                    {"Self", get_str(n, "ID") == self},
                    {"Hostname", get_str(at_path(n, {"Description"}), "Hostname")},
                    {"Status", pretty_print(get_str(at_path(n, {"Status"}), "State"))},
                    {"Availability", pretty_print(get_str(at_path(n, {"Spec"}), "Availability"))},
                    {"ManagerStatus", reach},
                    {"TLSStatus", get_str(at_path(n, {"Description", "TLSInfo"}), "TrustRoot").empty() ? "Unknown" : "Ready"},
                    {"EngineVersion", get_str(at_path(n, {"Description", "Engine"}), "EngineVersion")}});
  }
  std::string format = fs.boolean("quiet") ? "{{.ID}}" : fs.str("format");
  json headers = {{"ID", "ID"},
                  {"Self", ""},
                  {"Hostname", "HOSTNAME"},
                  {"Status", "STATUS"},
                  {"Availability", "AVAILABILITY"},
                  {"ManagerStatus", "MANAGER STATUS"},
                  {"TLSStatus", "TLS STATUS"},
                  {"EngineVersion", "ENGINE VERSION"}};
  auto out = format_rows(format, kNodeTableFormat, rows, headers);
  if (!out.ok()) return fail(ctx, out.status());
  *ctx.out << *out;
  return 0;
}

// Go's time.Time.String() of a UTC RFC 3339 time, lower-cased as docker prints it:
// "2026-11-25T04:25:15.7327Z" -> "2026-11-25 04:25:15.7327 +0000 utc".
std::string go_time_string(std::string t) {
  if (t.size() < 20 || t.back() != 'Z') return t;
  t.pop_back();
  t[10] = ' ';
  if (t.find('.') != std::string::npos) {
    while (t.back() == '0') t.pop_back();
    if (t.back() == '.') t.pop_back();
  }
  return t + " +0000 utc";
}

std::string pretty_node(const json& n) {
  std::string o;
  auto line = [&](const std::string& k, const std::string& v) { o += k + v + "\n"; };
  line("ID:\t\t\t", get_str(n, "ID"));
  const json& spec = at_path(n, {"Spec"});
  if (spec.contains("Name") && !get_str(spec, "Name").empty()) line("Name:\t\t\t", get_str(spec, "Name"));
  if (spec.contains("Labels") && spec["Labels"].is_object() && !spec["Labels"].empty()) {
    o += "Labels:\n";
    for (auto it = spec["Labels"].begin(); it != spec["Labels"].end(); ++it)
      o += " - " + it.key() + "=" + go_print(it.value()) + "\n";
  }
  line("Hostname:              \t", get_str(at_path(n, {"Description"}), "Hostname"));
  line("Joined at:             \t", go_time_string(get_str(n, "CreatedAt")));
  o += "Status:\n";
  line(" State:\t\t\t", pretty_print(get_str(at_path(n, {"Status"}), "State")));
  if (auto m = get_str(at_path(n, {"Status"}), "Message"); !m.empty()) line(" Message:              \t", m);
  line(" Availability:         \t", pretty_print(get_str(spec, "Availability")));
  line(" Address:\t\t", get_str(at_path(n, {"Status"}), "Addr"));
  const json& ms = at_path(n, {"ManagerStatus"});
  if (ms.is_object()) {
    o += "Manager Status:\n";
    line(" Address:\t\t", get_str(ms, "Addr"));
    line(" Raft Status:\t\t", pretty_print(get_str(ms, "Reachability")));
    line(" Leader:\t\t", ms.value("Leader", false) ? "Yes" : "No");
  }
  o += "Platform:\n";
  line(" Operating System:\t", get_str(at_path(n, {"Description", "Platform"}), "OS"));
  line(" Architecture:\t\t", get_str(at_path(n, {"Description", "Platform"}), "Architecture"));
  o += "Resources:\n";
  const json& res = at_path(n, {"Description", "Resources"});
  double cpus = res.is_object() ? res.value("NanoCPUs", 0.0) / 1e9 : 0;
  line(" CPUs:\t\t\t", go_print(json(cpus)));
  line(" Memory:\t\t", bytes_size(res.is_object() ? res.value("MemoryBytes", 0.0) : 0));
  line("Engine Version:\t\t", get_str(at_path(n, {"Description", "Engine"}), "EngineVersion"));
  return o;
}

int node_inspect(Context& ctx, const Args& args) {
  FlagSet fs("shoal node inspect", "[OPTIONS] self|NODE [NODE...]", "Display detailed information on one or more nodes");
  fs.add("format", 'f', "string", "Format the output using the given Go template");
  fs.add_bool("pretty", 0, "Print the information in a human friendly format");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_min(1)); rc >= 0) return rc;
  std::vector<std::string> bodies;
  for (std::string id : fs.args()) {
    if (id == "self") {
      auto info = ctx.api->get("/info");
      if (!info.ok()) return fail(ctx, info.status());
      id = get_str(at_path(*info, {"Swarm"}), "NodeID");
    }
    auto r = ctx.api->send("GET", "/nodes/" + query_escape(id), "", "");
    if (!r.ok()) return fail(ctx, r.status());
    bodies.push_back(*r);
  }
  if (fs.boolean("pretty")) {
    for (size_t i = 0; i < bodies.size(); ++i) {
      if (i) *ctx.out << "\n\n";
      *ctx.out << pretty_node(json::parse(bodies[i], nullptr, false));
    }
    return 0;
  }
  return print_inspect(ctx, bodies, fs.str("format"), "Node");
}

// GET the node, let `mutate` change its spec, POST it back.
Status update_node(Context& ctx, const std::string& id, const std::function<Status(json&)>& mutate) {
  SHOAL_ASSIGN_OR_RETURN(json node, ctx.api->get("/nodes/" + query_escape(id)));
  json spec = node["Spec"];
  SHOAL_RETURN_IF_ERROR(mutate(spec));
  uint64_t version = at_path(node, {"Version", "Index"}).is_number() ? node["Version"]["Index"].get<uint64_t>() : 0;
  auto r = ctx.api->post("/nodes/" + query_escape(get_str(node, "ID")) + "/update?version=" + std::to_string(version),
                         spec);
  return r.status();
}

int node_update(Context& ctx, const Args& args) {
  FlagSet fs("shoal node update", "[OPTIONS] NODE", "Update a node");
  fs.add("availability", 0, "string", "Availability of the node (\"active\"|\"pause\"|\"drain\")");
  fs.add("label-add", 0, "list", "Add or update a node label (key=value)");
  fs.add("label-rm", 0, "list", "Remove a node label if exists");
  fs.add("role", 0, "string", "Role of the node (\"worker\"|\"manager\")");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_exact(1)); rc >= 0) return rc;
  Status st = update_node(ctx, fs.args()[0], [&](json& spec) -> Status {
    if (fs.changed("availability")) {
      std::string a = fs.str("availability");
      if (a != "active" && a != "pause" && a != "drain")
        return invalid_argument("invalid availability: " + a);  // docker's wording is similar
      spec["Availability"] = a;
    }
    if (fs.changed("role")) {
      std::string r = fs.str("role");
      if (r != "worker" && r != "manager") return invalid_argument("invalid role " + r + ", only worker and manager are supported");
      spec["Role"] = r;
    }
    if (!spec.contains("Labels") || !spec["Labels"].is_object()) spec["Labels"] = json::object();
    for (const auto& l : fs.list("label-add")) {
      auto eq = l.find('=');
      spec["Labels"][l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
    }
    for (const auto& l : fs.list("label-rm")) spec["Labels"].erase(l.substr(0, l.find('=')));
    return ok_status();
  });
  if (!st.ok()) return fail(ctx, st);
  *ctx.out << fs.args()[0] << "\n";
  return 0;
}

int node_role_change(Context& ctx, const Args& args, bool promote) {
  std::string name = promote ? "promote" : "demote";
  FlagSet fs("shoal node " + name, "NODE [NODE...]",
             promote ? "Promote one or more nodes to manager in the swarm" : "Demote one or more nodes from manager in the swarm");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_min(1)); rc >= 0) return rc;
  for (const auto& id : fs.args()) {
    bool already = false;
    Status st = update_node(ctx, id, [&](json& spec) -> Status {
      std::string want = promote ? "manager" : "worker";
      if (get_str(spec, "Role") == want) already = true;
      spec["Role"] = want;
      return ok_status();
    });
    if (!st.ok()) return fail(ctx, st);
    if (already)
      *ctx.out << "Node " << id << " is already a " << (promote ? "manager" : "worker") << ".\n";
    else if (promote)
      *ctx.out << "Node " << id << " promoted to a manager in the swarm.\n";
    else
      *ctx.out << "Manager " << id << " demoted in the swarm.\n";
  }
  return 0;
}

int node_promote(Context& ctx, const Args& args) { return node_role_change(ctx, args, true); }
int node_demote(Context& ctx, const Args& args) { return node_role_change(ctx, args, false); }

int node_rm(Context& ctx, const Args& args) {
  FlagSet fs("shoal node rm", "[OPTIONS] NODE [NODE...]", "Remove one or more nodes from the swarm");
  fs.set_aliases({"rm", "remove"});
  fs.add_bool("force", 'f', "Force remove a node from the swarm");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_min(1)); rc >= 0) return rc;
  const bool force = fs.boolean("force");
  return for_each_ref(ctx, fs.args(), [&](const std::string& id) {
    return ctx.api->del("/nodes/" + query_escape(id) + (force ? "?force=1" : ""));
  });
}

// docker node ps [NODE...] (default self): the tasks on the nodes, in
// service ps's table.
int node_ps(Context& ctx, const Args& args) {
  FlagSet fs("shoal node ps", "[OPTIONS] [NODE...]", "List tasks running on one or more nodes, defaults to current node");
  fs.add("filter", 'f', "filter", "Filter output based on conditions provided");
  fs.add("format", 0, "string", "Pretty-print tasks using a Go template");
  fs.add_bool("no-resolve", 0, "Do not map IDs to Names");
  fs.add_bool("no-trunc", 0, "Do not truncate output");
  fs.add_bool("quiet", 'q', "Only display task IDs");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (Status st = check_filters(fs); !st.ok()) return fail(ctx, st);
  std::vector<std::pair<std::string, std::string>> kv;
  for (const auto& f : fs.list("filter")) kv.emplace_back(f.substr(0, f.find('=')), f.substr(f.find('=') + 1));
  json filters = filters_json(kv);
  std::vector<std::string> refs = fs.args();
  if (refs.empty()) refs.push_back("self");
  for (std::string ref : refs) {
    if (ref == "self") {
      auto info = ctx.api->get("/info");
      if (!info.ok()) return fail(ctx, info.status());
      ref = get_str(at_path(*info, {"Swarm"}), "NodeID");
      if (ref.empty()) return fail(ctx, failed_precondition("this node is not part of a swarm"));
    }
    auto n = ctx.api->get("/nodes/" + query_escape(ref));  // 404 for an unknown node, as docker
    if (!n.ok()) return fail(ctx, n.status());
    filters["node"][get_str(*n, "ID")] = true;
  }
  auto tasks = ctx.api->get("/tasks?filters=" + query_escape(filters.dump()));
  if (!tasks.ok()) return fail(ctx, tasks.status());
  std::map<std::string, std::string> service_names, node_names;
  if (!fs.boolean("no-resolve")) {
    if (auto ss = ctx.api->get("/services"); ss.ok())
      for (const auto& s : *ss) service_names[get_str(s, "ID")] = get_str(at_path(s, {"Spec"}), "Name");
    if (auto ns = ctx.api->get("/nodes"); ns.ok())
      for (const auto& x : *ns) node_names[get_str(x, "ID")] = get_str(at_path(x, {"Description"}), "Hostname");
  }
  std::string format = fs.boolean("quiet") ? "{{.ID}}" : fs.str("format");
  bool table = format.empty() || format.rfind("table", 0) == 0;
  auto rows = build_task_rows(*tasks, service_names, node_names, !fs.boolean("no-trunc"), table,
                              std::chrono::system_clock::now());
  auto out = format_rows(format, kTaskTableFormat, rows, task_headers());
  if (!out.ok()) return fail(ctx, out.status());
  *ctx.out << *out;
  return 0;
}

}  // namespace

int cmd_node(Context& ctx, const Args& args) {
  static const std::vector<SubCommand> subs = {
      {"demote", nullptr, "Demote one or more nodes from manager in the swarm", node_demote},
      {"inspect", nullptr, "Display detailed information on one or more nodes", node_inspect},
      {"ls", "list", "List nodes in the swarm", node_ls},
      {"promote", nullptr, "Promote one or more nodes to manager in the swarm", node_promote},
      {"ps", nullptr, "List tasks running on one or more nodes, defaults to current node", node_ps},
      {"rm", "remove", "Remove one or more nodes from the swarm", node_rm},
      {"update", nullptr, "Update a node", node_update},
  };
  return dispatch(ctx, "shoal node", "Manage Swarm nodes", subs, args);
}

}  // namespace shoal::cli
