// shoal swarm init|join|join-token|leave|update, shoal version, shoal info.
#include <sys/utsname.h>

#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/template.h"
#include "cli/units.h"

namespace shoal::cli {

using nlohmann::json;

namespace {

// Prints docker's "To add a worker to this swarm..." block(s).
Status print_join_command(Context& ctx, const std::string& node_id, bool worker, bool manager) {
  SHOAL_ASSIGN_OR_RETURN(json node, ctx.api->get("/nodes/" + query_escape(node_id)));
  SHOAL_ASSIGN_OR_RETURN(json sw, ctx.api->get("/swarm"));
  const json& ms = at_path(node, {"ManagerStatus"});
  if (ms.is_null()) return ok_status();
  std::string addr = get_str(ms, "Addr");
  if (worker)
    *ctx.out << "To add a worker to this swarm, run the following command:\n\n    shoal swarm join --token "
             << get_str(sw["JoinTokens"], "Worker") << " " << addr << "\n\n";
  if (manager)
    *ctx.out << "To add a manager to this swarm, run the following command:\n\n    shoal swarm join --token "
             << get_str(sw["JoinTokens"], "Manager") << " " << addr << "\n\n";
  return ok_status();
}

int swarm_init(Context& ctx, const Args& args) {
  FlagSet fs("shoal swarm init", "[OPTIONS]", "Initialize a swarm");
  fs.add("advertise-addr", 0, "string", "Advertised address (format: <ip|interface>[:port])");
  fs.add("listen-addr", 0, "node-addr", "Listen address (format: <ip|interface>[:port])", "0.0.0.0:2377");
  fs.add("data-path-addr", 0, "string", "Address or interface to use for data path traffic");
  fs.add("data-path-port", 0, "uint", "Port number to use for data path traffic (1024 - 49151)");
  fs.add("default-addr-pool", 0, "ipNetSlice", "default address pool in CIDR format (default [])");
  fs.add("default-addr-pool-mask-length", 0, "uint", "default address pool subnet mask length", "24");
  fs.add("availability", 0, "string", "Availability of the node (\"active\"|\"pause\"|\"drain\")", "active");
  fs.add_bool("force-new-cluster", 0, "Force create a new cluster from current state");
  fs.add_bool("autolock", 0, "Enable manager autolocking (requiring an unlock key to start a stopped manager)");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_none()); rc >= 0) return rc;
  json pools = json::array();
  for (const auto& v : fs.list("default-addr-pool")) {
    std::stringstream ss(v);
    std::string p;
    while (std::getline(ss, p, ',')) pools.push_back(p);
  }
  json req = {
      {"ListenAddr", fs.str("listen-addr")},
      {"AdvertiseAddr", fs.str("advertise-addr")},
      {"DataPathAddr", fs.str("data-path-addr")},
      {"DataPathPort", fs.changed("data-path-port") ? std::stoul(fs.str("data-path-port")) : 0},
      {"ForceNewCluster", fs.boolean("force-new-cluster")},
      {"Spec",
       {{"Labels", nullptr},
        {"Orchestration", json::object()},
        {"Raft", {{"ElectionTick", 0}, {"HeartbeatTick", 0}}},
        {"Dispatcher", json::object()},
        {"CAConfig", json::object()},
        {"TaskDefaults", json::object()},
        {"EncryptionConfig", {{"AutoLockManagers", fs.boolean("autolock")}}}}},
      {"AutoLockManagers", fs.boolean("autolock")},
      {"Availability", fs.changed("availability") ? fs.str("availability") : ""},
      {"DefaultAddrPool", pools},
      {"SubnetSize", std::stoul(fs.str("default-addr-pool-mask-length"))},
  };
  auto r = ctx.api->post("/swarm/init", req);
  if (!r.ok()) return fail(ctx, r.status());
  std::string node_id = r->is_string() ? r->get<std::string>() : "";
  *ctx.out << "Swarm initialized: current node (" << node_id << ") is now a manager.\n\n";
  if (Status st = print_join_command(ctx, node_id, true, false); !st.ok()) return fail(ctx, st);
  *ctx.out << "To add a manager to this swarm, run 'shoal swarm join-token manager' and follow the instructions.\n\n";
  return 0;
}

int swarm_join(Context& ctx, const Args& args) {
  FlagSet fs("shoal swarm join", "[OPTIONS] HOST:PORT", "Join a swarm as a node and/or manager");
  fs.add("token", 0, "string", "Token for entry into the swarm");
  fs.add("advertise-addr", 0, "string", "Advertised address (format: <ip|interface>[:port])");
  fs.add("listen-addr", 0, "node-addr", "Listen address (format: <ip|interface>[:port])", "0.0.0.0:2377");
  fs.add("data-path-addr", 0, "string", "Address or interface to use for data path traffic");
  fs.add("availability", 0, "string", "Availability of the node (\"active\"|\"pause\"|\"drain\")", "active");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_exact(1)); rc >= 0) return rc;
  json req = {{"ListenAddr", fs.str("listen-addr")},
              {"AdvertiseAddr", fs.str("advertise-addr")},
              {"DataPathAddr", fs.str("data-path-addr")},
              {"RemoteAddrs", json::array({fs.args()[0]})},
              {"JoinToken", fs.str("token")},
              {"Availability", fs.changed("availability") ? fs.str("availability") : ""}};
  auto r = ctx.api->post("/swarm/join", req);
  if (!r.ok()) return fail(ctx, r.status());
  auto info = ctx.api->get("/info");
  if (info.ok() && at_path(*info, {"Swarm", "ControlAvailable"}) == json(true))
    *ctx.out << "This node joined a swarm as a manager.\n";
  else
    *ctx.out << "This node joined a swarm as a worker.\n";
  return 0;
}

int swarm_join_token(Context& ctx, const Args& args) {
  FlagSet fs("shoal swarm join-token", "[OPTIONS] (worker|manager)", "Manage join tokens");
  fs.add_bool("quiet", 'q', "Only display token");
  fs.add_bool("rotate", 0, "Rotate join token");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_exact(1)); rc >= 0) return rc;
  std::string role = fs.args()[0];
  bool worker = role == "worker", manager = role == "manager";
  if (!worker && !manager) return fail(ctx, invalid_argument("unknown role " + role));
  if (fs.boolean("rotate")) {
    auto sw = ctx.api->get("/swarm");
    if (!sw.ok()) return fail(ctx, sw.status());
    std::string q = "/swarm/update?version=" + std::to_string((*sw)["Version"]["Index"].get<uint64_t>()) +
                    (worker ? "&rotateWorkerToken=true" : "&rotateManagerToken=true");
    auto r = ctx.api->post(q, (*sw)["Spec"]);
    if (!r.ok()) return fail(ctx, r.status());
    if (!fs.boolean("quiet"))
      *ctx.out << "Successfully rotated " << role << " join token.\n\n";
  }
  if (fs.boolean("quiet")) {
    auto sw = ctx.api->get("/swarm");
    if (!sw.ok()) return fail(ctx, sw.status());
    *ctx.out << get_str((*sw)["JoinTokens"], worker ? "Worker" : "Manager") << "\n";
    return 0;
  }
  auto info = ctx.api->get("/info");
  if (!info.ok()) return fail(ctx, info.status());
  std::string node_id = get_str(at_path(*info, {"Swarm"}), "NodeID");
  if (Status st = print_join_command(ctx, node_id, worker, manager); !st.ok()) return fail(ctx, st);
  return 0;
}

// docker swarm update, for the settings shoal applies (others are not
// flags here: an unknown flag is the parser's error, and the API refuses
// spec fields it would not apply).
int swarm_update(Context& ctx, const Args& args) {
  FlagSet fs("shoal swarm update", "[OPTIONS]", "Update the swarm");
  fs.add("dispatcher-heartbeat", 0, "duration", "Dispatcher heartbeat period (ns|us|ms|s|m|h)", "5s");
  fs.add("task-history-limit", 0, "int", "Task history retention limit", "5");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_none()); rc >= 0) return rc;
  auto sw = ctx.api->get("/swarm");
  if (!sw.ok()) return fail(ctx, sw.status());
  json spec = (*sw)["Spec"];
  if (fs.changed("dispatcher-heartbeat")) {
    auto ns = parse_duration_ns(fs.str("dispatcher-heartbeat"));
    if (!ns.ok()) {
      return fail(ctx, invalid_argument("invalid argument \"" + fs.str("dispatcher-heartbeat") +
                                        "\" for \"--dispatcher-heartbeat\" flag: " + ns.status().message()));
    }
    spec["Dispatcher"]["HeartbeatPeriod"] = *ns;
  }
  if (fs.changed("task-history-limit")) {
    const std::string v = fs.str("task-history-limit");
    const bool digits = !v.empty() && v.size() <= 18 && v.find_first_not_of("0123456789", v[0] == '-' ? 1 : 0) == std::string::npos &&
                        v != "-";
    if (!digits) {
      return fail(ctx, invalid_argument("invalid argument \"" + v + "\" for \"--task-history-limit\" flag: "
                                        "strconv.ParseInt: parsing \"" + v + "\": invalid syntax"));
    }
    spec["Orchestration"]["TaskHistoryRetentionLimit"] = std::stoll(v);
  }
  auto r = ctx.api->post("/swarm/update?version=" + std::to_string((*sw)["Version"]["Index"].get<uint64_t>()), spec);
  if (!r.ok()) return fail(ctx, r.status());
  *ctx.out << "Swarm updated.\n";
  return 0;
}

int swarm_leave(Context& ctx, const Args& args) {
  FlagSet fs("shoal swarm leave", "[OPTIONS]", "Leave the swarm");
  fs.add_bool("force", 'f', "Force this node to leave the swarm, ignoring warnings");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_none()); rc >= 0) return rc;
  auto r = ctx.api->post(std::string("/swarm/leave") + (fs.boolean("force") ? "?force=1" : ""));
  if (!r.ok()) return fail(ctx, r.status());
  *ctx.out << "Node left the swarm.\n";
  return 0;
}

}  // namespace

int cmd_swarm(Context& ctx, const Args& args) {
  static const std::vector<SubCommand> subs = {
      {"init", nullptr, "Initialize a swarm", swarm_init},
      {"join", nullptr, "Join a swarm as a node and/or manager", swarm_join},
      {"join-token", nullptr, "Manage join tokens", swarm_join_token},
      {"leave", nullptr, "Leave the swarm", swarm_leave},
      {"update", nullptr, "Update the swarm", swarm_update},
  };
  return dispatch(ctx, "shoal swarm", "Manage Swarm", subs, args);
}

int cmd_version(Context& ctx, const Args& args) {
  FlagSet fs("shoal version", "[OPTIONS]", "Show the shoal version information");
  fs.add("format", 'f', "string", "Format the output using the given Go template");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_none()); rc >= 0) return rc;
  // The client's own architecture, in Go's names as docker prints it.
  struct utsname u;
  std::string arch = uname(&u) == 0 ? u.machine : "unknown";
  if (arch == "x86_64") arch = "amd64";
  else if (arch == "aarch64") arch = "arm64";
  else if (arch == "i386" || arch == "i686") arch = "386";
  else if (arch.rfind("armv", 0) == 0) arch = "arm";
  if (fs.changed("format")) {  // over {Client, Server}, as docker's: {{.Server.Version}}
    auto t = Template::parse(fs.str("format"));
    if (!t.ok()) return fail(ctx, t.status());
    auto sv = ctx.api->get("/version");
    if (!sv.ok()) return fail(ctx, sv.status());
    json data = {{"Client", {{"Version", "0.1.0"}, {"ApiVersion", "1.41"}, {"Os", "linux"}, {"Arch", arch}}},
                 {"Server", *sv}};
    auto out = t->execute(data);
    if (!out.ok()) return fail(ctx, out.status());
    *ctx.out << *out << "\n";
    return 0;
  }
  *ctx.out << "Client:\n"
           << " Version:           0.1.0\n"
           << " API version:       1.41\n"
           << " OS/Arch:           linux/" << arch << "\n\n";
  auto v = ctx.api->get("/version");
  if (!v.ok()) return fail(ctx, v.status());
  const json& j = *v;
  *ctx.out << "Server: shoal\n"
           << " Engine:\n"
           << "  Version:          " << get_str(j, "Version") << "\n"
           << "  API version:      " << get_str(j, "ApiVersion") << " (minimum version "
           << get_str(j, "MinAPIVersion") << ")\n"
           << "  Git commit:       " << get_str(j, "GitCommit") << "\n"
           << "  Built:            " << get_str(j, "BuildTime") << "\n"
           << "  OS/Arch:          " << get_str(j, "Os") << "/" << get_str(j, "Arch") << "\n"
           << "  Kernel version:   " << get_str(j, "KernelVersion") << "\n";
  return 0;
}

int cmd_info(Context& ctx, const Args& args) {
  FlagSet fs("shoal info", "[OPTIONS]", "Display system-wide information");
  fs.add("format", 'f', "string", "Format the output using the given Go template");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_none()); rc >= 0) return rc;
  auto text = ctx.api->send("GET", "/info", "", "");
  if (!text.ok()) return fail(ctx, text.status());
  if (fs.changed("format")) return print_inspect(ctx, {*text}, fs.str("format"));
  json j = json::parse(*text, nullptr, false);
  if (!j.is_object()) return fail(ctx, internal_error("invalid JSON from daemon for /info"));
  auto num = [&](const json& v) { return v.is_number() ? std::to_string(v.get<int64_t>()) : std::string("0"); };
  std::ostream& o = *ctx.out;
  o << "Server:\n"
    << " Containers: " << num(j["Containers"]) << "\n"
    << "  Running: " << num(j["ContainersRunning"]) << "\n"
    << "  Paused: " << num(j["ContainersPaused"]) << "\n"
    << "  Stopped: " << num(j["ContainersStopped"]) << "\n"
    << " Images: " << num(j["Images"]) << "\n"
    << " Server Version: " << get_str(j, "ServerVersion") << "\n";
  const json& sw = j["Swarm"];
  std::string state = get_str(sw, "LocalNodeState");
  o << " Swarm: " << state << "\n";
  if (state == "active") {
    o << "  NodeID: " << get_str(sw, "NodeID") << "\n";
    bool mgr = sw.value("ControlAvailable", false);
    o << "  Is Manager: " << (mgr ? "true" : "false") << "\n";
    if (mgr) {
      const json& cl = at_path(sw, {"Cluster"});
      o << "  ClusterID: " << get_str(cl, "ID") << "\n"
        << "  Managers: " << num(sw["Managers"]) << "\n"
        << "  Nodes: " << num(sw["Nodes"]) << "\n";
    }
    o << "  Node Address: " << get_str(sw, "NodeAddr") << "\n";
    if (sw.contains("RemoteManagers") && sw["RemoteManagers"].is_array()) {
      o << "  Manager Addresses:\n";
      for (const auto& m : sw["RemoteManagers"]) o << "   " << get_str(m, "Addr") << "\n";
    }
  }
  o << " Kernel Version: " << get_str(j, "KernelVersion") << "\n"
    << " Operating System: " << get_str(j, "OperatingSystem") << "\n"
    << " OSType: " << get_str(j, "OSType") << "\n"
    << " Architecture: " << get_str(j, "Architecture") << "\n"
    << " CPUs: " << num(j["NCPU"]) << "\n"
    << " Total Memory: " << bytes_size(j.value("MemTotal", 0.0)) << "\n"
    << " Name: " << get_str(j, "Name") << "\n"
    << " ID: " << get_str(j, "ID") << "\n"
    << " Docker Root Dir: " << get_str(j, "DockerRootDir") << "\n";
  return 0;
}

}  // namespace shoal::cli
