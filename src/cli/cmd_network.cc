// shoal network create|ls|inspect|rm|prune: swarm-scoped overlay networks,
// with docker's flags, output and messages.
#include <iostream>
#include <map>

#include "cli/commands.h"
#include "cli/template.h"

namespace shoal::cli {

using nlohmann::json;

namespace {

const char* kNetworkTableFormat = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

Result<std::map<std::string, std::string>> key_values(const std::vector<std::string>& items, const char* what) {
  std::map<std::string, std::string> out;
  for (const auto& kv : items) {
    auto eq = kv.find('=');
    if (eq == 0) return invalid_argument(std::string("invalid ") + what + " " + kv + ": the key is empty");
    if (eq == std::string::npos) out[kv] = "";
    else out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

// docker's rule: --subnet, --ip-range and --gateway pair up by position;
// a range or gateway needs the subnet given with it.
Result<json> ipam_config(const FlagSet& fs) {
  auto subnets = fs.list("subnet"), ranges = fs.list("ip-range"), gateways = fs.list("gateway");
  if (ranges.size() > subnets.size() || gateways.size() > subnets.size()) {
    return invalid_argument("every ip-range or gateway must have a corresponding subnet");
  }
  json config = json::array();
  for (size_t i = 0; i < subnets.size(); ++i) {
    json c = {{"Subnet", subnets[i]}};
    if (i < ranges.size()) c["IPRange"] = ranges[i];
    if (i < gateways.size()) c["Gateway"] = gateways[i];
    config.push_back(c);
  }
  return config;
}

int network_create(Context& ctx, const Args& args) {
  FlagSet fs("shoal network create", "[OPTIONS] NETWORK", "Create a network");
  fs.add_bool("attachable", 0, "Enable manual container attachment");
  fs.add("driver", 'd', "string", "Driver to manage the Network", "overlay");
  fs.add("gateway", 0, "strings", "IPv4 Gateway for the master subnet");
  fs.add_bool("ingress", 0, "Create swarm routing-mesh network");
  fs.add_bool("internal", 0, "Restrict external access to the network");
  fs.add("ip-range", 0, "strings", "Allocate container ip from a sub-range");
  fs.add("label", 0, "list", "Set metadata on a network");
  fs.add("opt", 'o', "map", "Set driver specific options");
  fs.add("scope", 0, "string", "Control the network's scope");
  fs.add("subnet", 0, "strings", "Subnet in CIDR format that represents a network segment");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_exact(1)); rc >= 0) return rc;
  auto labels = key_values(fs.list("label"), "label");
  if (!labels.ok()) return fail(ctx, labels.status());
  auto opts = key_values(fs.list("opt"), "option");
  if (!opts.ok()) return fail(ctx, opts.status());
  auto config = ipam_config(fs);
  if (!config.ok()) return fail(ctx, config.status());
  json body = {{"Name", fs.args()[0]},
               {"CheckDuplicate", true},
               {"Driver", fs.str("driver")},
               {"Scope", fs.str("scope")},
               {"Internal", fs.boolean("internal")},
               {"Attachable", fs.boolean("attachable")},
               {"Ingress", fs.boolean("ingress")},
               {"IPAM", {{"Driver", "default"}, {"Config", *config}, {"Options", json::object()}}},
               {"Options", *opts},
               {"Labels", *labels}};
  auto r = ctx.api->post("/networks/create", body);
  if (!r.ok()) return fail(ctx, r.status());
  *ctx.out << get_str(*r, "Id") << "\n";
  return 0;
}

int network_ls(Context& ctx, const Args& args) {
  FlagSet fs("shoal network ls", "[OPTIONS]", "List networks");
  fs.set_aliases({"ls", "list"});
  fs.add("filter", 'f', "filter", "Provide filter values (e.g. 'driver=overlay')");
  fs.add("format", 0, "string", "Pretty-print networks using a Go template");
  fs.add_bool("no-trunc", 0, "Do not truncate the output");
  fs.add_bool("quiet", 'q', "Only display network IDs");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_none()); rc >= 0) return rc;
  if (Status st = check_filters(fs); !st.ok()) return fail(ctx, st);
  std::string q = "/networks";
  add_filter_args(fs, &q, '?');
  auto nets = ctx.api->get(q);
  if (!nets.ok()) return fail(ctx, nets.status());
  bool trunc = !fs.boolean("no-trunc");
  std::vector<json> rows;
  for (const auto& n : *nets) {
    std::string labels;
    if (n.contains("Labels") && n["Labels"].is_object()) {
      for (auto it = n["Labels"].begin(); it != n["Labels"].end(); ++it)
        labels += (labels.empty() ? "" : ",") + it.key() + "=" + it->get<std::string>();
    }
    std::string id = get_str(n, "Id");
    rows.push_back({{"ID", trunc ? truncate_id(id) : id},
                    {"Name", get_str(n, "Name")},
                    {"Driver", get_str(n, "Driver")},
                    {"Scope", get_str(n, "Scope")},
                    {"IPv6", n.value("EnableIPv6", false) ? "true" : "false"},
                    {"Internal", n.value("Internal", false) ? "true" : "false"},
                    {"Labels", labels},
                    {"CreatedAt", get_str(n, "Created")}});
  }
  std::string format = fs.boolean("quiet") ? "{{.ID}}" : fs.str("format");
  json headers = {{"ID", "NETWORK ID"}, {"Name", "NAME"},         {"Driver", "DRIVER"},  {"Scope", "SCOPE"},
                  {"IPv6", "IPV6"},     {"Internal", "INTERNAL"}, {"Labels", "LABELS"}, {"CreatedAt", "CREATED AT"}};
  auto out = format_rows(format, kNetworkTableFormat, rows, headers);
  if (!out.ok()) return fail(ctx, out.status());
  *ctx.out << *out;
  return 0;
}

int network_inspect(Context& ctx, const Args& args) {
  FlagSet fs("shoal network inspect", "[OPTIONS] NETWORK [NETWORK...]", "Display detailed information on one or more networks");
  fs.add("format", 'f', "string", "Format the output using the given Go template");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_min(1)); rc >= 0) return rc;
  std::vector<std::string> bodies;
  for (const auto& ref : fs.args()) {
    auto r = ctx.api->send("GET", "/networks/" + query_escape(ref), "", "");
    if (!r.ok()) return fail(ctx, r.status());
    bodies.push_back(*r);
  }
  return print_inspect(ctx, bodies, fs.str("format"));
}

int network_rm(Context& ctx, const Args& args) {
  FlagSet fs("shoal network rm", "NETWORK [NETWORK...]", "Remove one or more networks");
  fs.set_aliases({"rm", "remove"});
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_min(1)); rc >= 0) return rc;
  return for_each_ref(ctx, fs.args(), [&](const std::string& ref) { return ctx.api->del("/networks/" + query_escape(ref)); });
}

int network_prune(Context& ctx, const Args& args) {
  FlagSet fs("shoal network prune", "[OPTIONS]", "Remove all unused networks");
  fs.add("filter", 0, "filter", "Provide filter values (e.g. 'label=<key>=<value>')");
  fs.add_bool("force", 'f', "Do not prompt for confirmation");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_none()); rc >= 0) return rc;
  if (Status st = check_filters(fs); !st.ok()) return fail(ctx, st);
  if (!fs.boolean("force")) {
    *ctx.out << "WARNING! This will remove all custom networks not used by at least one service.\n"
                "Are you sure you want to continue? [y/N] "
             << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "Y") return 0;
  }
  std::string q = "/networks/prune";
  add_filter_args(fs, &q, '?');
  auto r = ctx.api->post(q);
  if (!r.ok()) return fail(ctx, r.status());
  const json& deleted = at_path(*r, {"NetworksDeleted"});
  if (deleted.is_array() && !deleted.empty()) {
    *ctx.out << "Deleted Networks:\n";
    for (const auto& n : deleted) *ctx.out << n.get<std::string>() << "\n";
  }
  return 0;
}

}  // namespace

int cmd_network(Context& ctx, const Args& args) {
  static const std::vector<SubCommand> subs = {
      {"create", nullptr, "Create a network", network_create},
      {"inspect", nullptr, "Display detailed information on one or more networks", network_inspect},
      {"ls", "list", "List networks", network_ls},
      {"prune", nullptr, "Remove all unused networks", network_prune},
      {"rm", "remove", "Remove one or more networks", network_rm},
  };
  return dispatch(ctx, "shoal network", "Manage networks", subs, args);
}

}  // namespace shoal::cli
