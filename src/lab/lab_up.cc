// `shoal lab up`: the lab's network (a bridge in its own namespace, one
// namespace and veth per node), a shoald per node, the swarm.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <optional>
#include <ostream>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "lab/lab.h"
#include "lab/lab_internal.h"
#include "lab/subnet.h"
#include "os/proc.h"
#include "os/process.h"

namespace shoal::lab {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string bridge_addr(const LabState& s) {
  auto p = parse_prefix(s.subnet);
  return format_addr(p->addr + 1);
}

// The shoald beside this program (a build dir or an install), else $PATH's.
Result<std::string> find_shoald(const std::string& wanted) {
  if (!wanted.empty()) {
    std::string p = os::find_in_path(wanted);
    if (p.empty()) return invalid_argument("shoald binary " + wanted + " not found or not executable");
    return p;
  }
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec && access((self.parent_path() / "shoald").c_str(), X_OK) == 0) return (self.parent_path() / "shoald").string();
  std::string p = os::find_in_path("shoald");
  if (p.empty()) return not_found("no shoald found beside " + self.string() + " or on $PATH: pass --shoald PATH");
  return p;
}

// The example images for the lab's registry (see UpOptions::images_dir).
std::string images_dir(const std::string& wanted) {
  if (!wanted.empty()) return wanted;
  if (const char* e = std::getenv("SHOAL_IMAGES_DIR"); e && *e) return e;
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return (self.parent_path().parent_path() / "images" / "out").string();
}

Result<std::string> free_subnet(const std::string& wanted) {
  SHOAL_ASSIGN_OR_RETURN(std::string routes, ip_output({"-j", "-4", "route", "show", "table", "all"}));
  SHOAL_ASSIGN_OR_RETURN(std::string addrs, ip_output({"-j", "-4", "addr", "show"}));
  SHOAL_ASSIGN_OR_RETURN(std::vector<Prefix> taken, host_prefixes(routes, addrs));
  SHOAL_ASSIGN_OR_RETURN(Prefix p, pick_subnet(taken, wanted));
  return format_prefix(p);
}

// `ip -b -`: one iproute2 process for many commands (each line one command).
Status ip_batch(const std::string& netns, const std::vector<std::string>& lines) {
  std::string script;
  for (const auto& l : lines) script += l + "\n";
  std::vector<std::string> argv = {"ip"};
  if (!netns.empty()) argv.insert(argv.end(), {"-n", netns});
  argv.insert(argv.end(), {"-b", "-"});
  auto r = os::run_capture(argv, script);
  if (!r.ok()) return Status(r.status().code(), "setting up the lab network (ip -b):\n" + script + r.status().message());
  return ok_status();
}

// The bridge namespace with br0 at .1, then each node's namespace with eth0,
// whose peer is attached to br0. Nothing is created in the host's namespace
// (veths are created in the bridge namespace, their peers moved straight
// into the node's).
Status build_network(const LabState& s) {
  std::vector<std::string> add = {"netns add " + s.bridge_netns};
  for (const auto& n : s.nodes) add.push_back("netns add " + n.netns);
  SHOAL_RETURN_IF_ERROR(ip_batch("", add));
  std::vector<std::string> br = {"link set lo up", "link add br0 type bridge",
                                 "addr add " + bridge_addr(s) + "/24 dev br0", "link set br0 up"};
  for (const auto& n : s.nodes) {
    br.push_back("link add " + n.veth + " type veth peer name eth0 netns " + n.netns);
    br.push_back("link set " + n.veth + " master br0 up");
  }
  SHOAL_RETURN_IF_ERROR(ip_batch(s.bridge_netns, br));
  for (const auto& n : s.nodes) {
    SHOAL_RETURN_IF_ERROR(ip_batch(n.netns, {"link set lo up", "addr add " + n.address + "/24 dev eth0",
                                             "link set eth0 up"}));
  }
  return ok_status();
}

Status check_free(const std::string& dir, const LabState& s, bool* created) {
  std::error_code ec;
  if (fs::exists(state_file(dir), ec)) {
    return already_exists("a lab already exists at " + dir + " (" + state_file(dir) +
                          "): use it, remove it with `shoal lab down`, or pick another --dir");
  }
  if (netns_exists(s.bridge_netns)) {
    return already_exists("the network namespace " + s.bridge_netns + " exists, but " + state_file(dir) +
                          " does not: a lab of this dir was not removed; delete its namespaces (ip netns list | grep shoal-" +
                          s.id + ") and retry");
  }
  *created = !fs::exists(dir, ec);
  if (*created) {
    fs::create_directories(dir, ec);
    if (ec) return internal_error("creating the lab dir " + dir + ": " + ec.message());
    fs::permissions(dir, fs::perms::owner_all, ec);
  } else if (Status t = check_lab_dir_trusted(dir); !t.ok()) {
    return t;
  } else if (!fs::is_directory(dir, ec) || !fs::is_empty(dir, ec)) {
    return failed_precondition("the lab dir " + dir + " exists and is not an empty directory: pick another --dir");
  }
  return ok_status();
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

Status check_lab_dir_trusted(const std::string& dir) {
  struct stat st {};
  if (lstat(dir.c_str(), &st) != 0) return failed_precondition("the lab dir " + dir + " cannot be examined: " + strerror(errno));
  if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) {
    return failed_precondition("the lab dir " + dir + " is not a directory (a symlink or a file): pick another --dir");
  }
  if (st.st_uid != geteuid()) {
    return failed_precondition("the lab dir " + dir + " is owned by uid " + std::to_string(st.st_uid) + ", not by uid " +
                               std::to_string(geteuid()) + " (root): another user could change the lab under it; "
                               "remove it or pick another --dir");
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return failed_precondition("the lab dir " + dir + " is writable by group or others (mode " + mode +
                               "): another user could change the lab under it; chmod go-w it or pick another --dir");
  }
  return ok_status();
}

std::string normal_dir(const std::string& dir) {
  std::string d = fs::absolute(dir).lexically_normal().string();
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  return d;
}

std::string default_lab_dir() {
  const char* d = std::getenv("SHOAL_LAB_DIR");
  return d && *d ? d : "/run/shoal-lab";
}

// One node's join: its outcome and what `lab up` prints about it.
struct JoinOutcome {
  Status status = ok_status();
  int http_status = 0;
  std::string said;
};

JoinOutcome join_one(NodeState& n, const NodeState& first, const json& tokens) {
  JoinOutcome o;
  json req = {{"ListenAddr", "0.0.0.0:2377"},
              {"AdvertiseAddr", n.address},
              {"RemoteAddrs", {first.address + ":2377"}},
              {"JoinToken", tokens.value(n.role == Role::kManager ? "Manager" : "Worker", "")}};
  auto r = api(n, "POST", "/swarm/join", req.dump(), &o.http_status);
  std::string as = role_name(n.role);
  if (!r.ok() && o.http_status == 501 && n.role == Role::kManager) {
    // A shoald that cannot run a joined manager (docs/cluster.md): the node
    // joins as a worker, and says so.
    o.said += n.name + ": cannot join as a manager (" + r.status().message() + "); joining it as a worker\n";
    req["JoinToken"] = tokens.value("Worker", "");
    r = api(n, "POST", "/swarm/join", req.dump(), &o.http_status);
    as = "worker";
  }
  o.status = r.status();
  if (r.ok()) {
    n.swarm = as == role_name(n.role) ? "joined" : "joined(" + as + ")";
    o.said += n.name + " joined the swarm as a " + as + "\n";
  }
  return o;
}

// Managers join one after another (each adds an etcd member: one membership
// change at a time); workers join meanwhile, all at once.
Status join_nodes(LabState& lab, std::ostream& out) {
  NodeState* first = &lab.nodes[0];
  SHOAL_ASSIGN_OR_RETURN(std::string swarm, api(*first, "GET", "/swarm"));
  json tokens;
  try {
    tokens = json::parse(swarm).at("JoinTokens");
  } catch (const std::exception& e) {
    return internal_error(first->name + ": GET /swarm has no JoinTokens: " + e.what());
  }
  std::vector<JoinOutcome> outcomes(lab.nodes.size());
  std::vector<std::thread> workers;
  for (size_t i = 1; i < lab.nodes.size(); ++i) {
    if (lab.nodes[i].role == Role::kWorker) {
      workers.emplace_back([&, i] { outcomes[i] = join_one(lab.nodes[i], *first, tokens); });
    }
  }
  for (size_t i = 1; i < lab.nodes.size(); ++i) {
    if (lab.nodes[i].role == Role::kManager) outcomes[i] = join_one(lab.nodes[i], *first, tokens);
  }
  for (auto& t : workers) t.join();
  std::vector<std::string> unjoined;
  std::string why;
  Status failed = ok_status();
  for (size_t i = 1; i < lab.nodes.size(); ++i) {
    NodeState& n = lab.nodes[i];
    const JoinOutcome& o = outcomes[i];
    out << o.said;
    if (o.status.ok()) continue;
    if (o.http_status == 501) {
      n.swarm = "not joined";
      unjoined.push_back(n.name);
      why = o.status.message();
    } else if (failed.ok()) {
      failed = o.status.with_context("joining " + n.name + " to the swarm");
    }
  }
  if (!unjoined.empty()) {
    std::string names;
    for (const auto& u : unjoined) names += (names.empty() ? "" : " ") + u;
    out << "NOT JOINED: " << names << " run their own shoald but are not part of the swarm (" << why << ").\n";
  }
  return failed;
}

Status up(const UpOptions& o, std::ostream& out) {
  auto t0 = std::chrono::steady_clock::now();
  if (geteuid() != 0) return Status(Code::kPermissionDenied, "shoal lab needs root (it creates network namespaces)");
  LabState s;
  s.dir = normal_dir(o.dir);
  s.id = lab_id(s.dir);
  s.bridge_netns = "shoal-" + s.id + "-br";
  SHOAL_ASSIGN_OR_RETURN(s.shoald, find_shoald(o.shoald));
  SHOAL_ASSIGN_OR_RETURN(s.subnet, free_subnet(o.subnet));
  SHOAL_ASSIGN_OR_RETURN(s.nodes, plan_nodes(s.dir, s.id, s.subnet, o.managers, o.workers));
  SHOAL_RETURN_IF_ERROR(check_free(s.dir, s, &s.created_dir));
  std::optional<DirLock> lock;
  {
    SHOAL_ASSIGN_OR_RETURN(DirLock l, DirLock::acquire(s.dir));
    lock.emplace(std::move(l));
  }
  if (fs::exists(state_file(s.dir))) return already_exists("another `shoal lab up` just made a lab at " + s.dir);
  // Recorded before anything is made: `down` finds it all after any crash.
  SHOAL_RETURN_IF_ERROR(save_lab(s));
  auto undo = [&](const Status& st) {
    std::ostringstream ignored;
    lock.reset();  // down takes it
    (void)down(s.dir, ignored);
    return st;
  };
  if (Status st = build_network(s); !st.ok()) return undo(st);
  std::vector<NodeState*> all;
  for (auto& n : s.nodes) {
    Status st = start_shoald(s, n);
    if (st.ok()) st = save_lab(s);
    if (!st.ok()) return undo(st.with_context("starting the shoald of " + n.name));
    all.push_back(&n);
  }
  if (Status st = wait_answering(all, std::chrono::seconds(30)); !st.ok()) return undo(st);
  double answering = seconds_since(t0);
  out << std::fixed << std::setprecision(2) << "lab " << s.dir << ": " << s.nodes.size() << " nodes on " << s.subnet
      << ", every shoald answering after " << answering << " s" << std::endl;
  // The registry after the nodes: they need it only to pull.
  if (Status st = start_registry(s, images_dir(o.images_dir), out); !st.ok()) return undo(st);
  NodeState& first = s.nodes[0];
  json init = {{"ListenAddr", "0.0.0.0:2377"}, {"AdvertiseAddr", first.address}};
  auto r = api(first, "POST", "/swarm/init", init.dump());
  if (!r.ok()) return r.status().with_context("swarm init on " + first.name + " (the lab is up; `shoal lab down` removes it)");
  first.swarm = "init";  // it ran swarm init (who leads later is node ls's to say)
  SHOAL_RETURN_IF_ERROR(save_lab(s));
  out << first.name << " initialized the swarm (" << seconds_since(t0) << " s)" << std::endl;
  Status joined = join_nodes(s, out);
  SHOAL_RETURN_IF_ERROR(save_lab(s));
  if (!joined.ok()) return joined.with_context("the lab is up; `shoal lab down` removes it");
  out << "lab up in " << seconds_since(t0) << " s. `shoal lab ls` lists the nodes; `eval $(shoal lab env m1)` "
      << "points shoal and docker at m1; `shoal lab down` removes it all.\n";
  return ok_status();
}

}  // namespace shoal::lab
