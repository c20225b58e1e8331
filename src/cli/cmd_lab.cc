// `shoal lab ...`: a multi-node swarm on this host (src/lab, docs/lab.md).
// Unlike the other commands it drives the kernel and the nodes' sockets
// itself, not one daemon's API.
#include <ostream>

#include "cli/commands.h"
#include "lab/lab.h"

namespace shoal::cli {

namespace {

const char* kDirHelp = "Lab directory (default $SHOAL_LAB_DIR or /run/shoal-lab)";

std::string lab_dir(const FlagSet& fs) { return fs.changed("dir") ? fs.str("dir") : lab::default_lab_dir(); }

Result<int> count_flag(const FlagSet& fs, const std::string& name) {
  std::string v = fs.str(name);
  try {
    size_t pos = 0;
    int n = std::stoi(v, &pos);
    if (pos == v.size()) return n;
  } catch (...) {
  }
  return invalid_argument("invalid argument \"" + v + "\" for \"--" + name + "\" flag: not a number");
}

int lab_up(Context& ctx, const Args& args) {
  FlagSet fs("shoal lab up", "[OPTIONS]", "Start a lab: a swarm of managers and workers, each node in its own network namespace");
  fs.add("managers", 'm', "int", "Number of manager nodes (m1..mM)", "3");
  fs.add("workers", 'w', "int", "Number of worker nodes (w1..wW)", "2");
  fs.add("dir", 0, "string", kDirHelp);
  fs.add("subnet", 0, "string", "The lab's /24 (default: the first of 198.18.0.0/15 the host does not route)");
  fs.add("shoald", 0, "string", "shoald binary the nodes run (default: beside shoal, else $PATH)");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_none()); rc >= 0) return rc;
  lab::UpOptions o;
  o.dir = lab_dir(fs);
  auto m = count_flag(fs, "managers");
  if (!m.ok()) return fail(ctx, m.status());
  auto w = count_flag(fs, "workers");
  if (!w.ok()) return fail(ctx, w.status());
  o.managers = *m;
  o.workers = *w;
  o.subnet = fs.str("subnet");
  o.shoald = fs.str("shoald");
  Status st = lab::up(o, *ctx.out);
  return st.ok() ? 0 : fail(ctx, st);
}

int lab_down(Context& ctx, const Args& args) {
  FlagSet fs("shoal lab down", "[OPTIONS]", "Remove the lab: every process, namespace, link, mount and file it made");
  fs.add("dir", 0, "string", kDirHelp);
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_none()); rc >= 0) return rc;
  Status st = lab::down(lab_dir(fs), *ctx.out);
  return st.ok() ? 0 : fail(ctx, st);
}

int lab_ls(Context& ctx, const Args& args) {
  FlagSet fs("shoal lab ls", "[OPTIONS]", "List the lab's nodes");
  fs.add("dir", 0, "string", kDirHelp);
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_none()); rc >= 0) return rc;
  Status st = lab::list(lab_dir(fs), *ctx.out);
  return st.ok() ? 0 : fail(ctx, st);
}

int lab_env(Context& ctx, const Args& args) {
  FlagSet fs("shoal lab env", "[OPTIONS] NODE", "Print the DOCKER_HOST and SHOAL_HOST that reach a node");
  fs.add("dir", 0, "string", kDirHelp);
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_exact(1)); rc >= 0) return rc;
  Status st = lab::env(lab_dir(fs), fs.args()[0], *ctx.out);
  return st.ok() ? 0 : fail(ctx, st);
}

int lab_exec(Context& ctx, const Args& args) {
  FlagSet fs("shoal lab exec", "[OPTIONS] NODE -- COMMAND [ARG...]", "Run a command in a node's network namespace");
  fs.add("dir", 0, "string", kDirHelp);
  fs.set_interspersed(false);
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_min(2)); rc >= 0) return rc;
  Args cmd(fs.args().begin() + 1, fs.args().end());
  if (!cmd.empty() && cmd[0] == "--") cmd.erase(cmd.begin());
  ctx.out->flush();
  auto rc = lab::exec(lab_dir(fs), fs.args()[0], cmd);
  if (!rc.ok()) return fail(ctx, rc.status());
  return *rc;
}

template <lab::Fault F>
int lab_fault(Context& ctx, const Args& args) {
  static const char* kNames[] = {"kill", "stop", "start", "pause", "resume", "partition", "heal"};
  static const char* kHelp[] = {"Kill a node's shoald and etcd (SIGKILL)",
                                "Stop a node's shoald (SIGTERM) and wait for it to exit",
                                "Start a node's shoald again, on the same data dir",
                                "Freeze a node's shoald and etcd (SIGSTOP)",
                                "Thaw a node's shoald and etcd (SIGCONT)",
                                "Cut a node off the lab network (its link down)",
                                "Reconnect a partitioned node (its link up)"};
  int i = static_cast<int>(F);
  FlagSet fs(std::string("shoal lab ") + kNames[i], "[OPTIONS] NODE", kHelp[i]);
  fs.add("dir", 0, "string", kDirHelp);
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_exact(1)); rc >= 0) return rc;
  Status st = lab::fault(lab_dir(fs), fs.args()[0], F, *ctx.out);
  return st.ok() ? 0 : fail(ctx, st);
}

}  // namespace

int cmd_lab(Context& ctx, const Args& args) {
  using lab::Fault;
  return dispatch(ctx, "shoal lab", "Run a multi-node swarm on this host, one network namespace per node",
                  {{"up", nullptr, "Start a lab of managers and workers", lab_up},
                   {"down", nullptr, "Remove the lab and everything it made", lab_down},
                   {"ls", "list", "List the lab's nodes", lab_ls},
                   {"env", nullptr, "Print the environment that points shoal/docker at a node", lab_env},
                   {"exec", nullptr, "Run a command in a node's network namespace", lab_exec},
                   {"kill", nullptr, "Kill a node's shoald and etcd (SIGKILL)", lab_fault<Fault::kKill>},
                   {"stop", nullptr, "Stop a node's shoald (SIGTERM)", lab_fault<Fault::kStop>},
                   {"start", nullptr, "Start a stopped node's shoald", lab_fault<Fault::kStart>},
                   {"pause", nullptr, "Freeze a node (SIGSTOP)", lab_fault<Fault::kPause>},
                   {"resume", nullptr, "Thaw a paused node (SIGCONT)", lab_fault<Fault::kResume>},
                   {"partition", nullptr, "Cut a node off the lab network", lab_fault<Fault::kPartition>},
                   {"heal", nullptr, "Reconnect a partitioned node", lab_fault<Fault::kHeal>}},
                  args);
}

}  // namespace shoal::cli
