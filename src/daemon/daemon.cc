#include "daemon/daemon.h"

#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <thread>

#include "agent/agent.h"
#include "agent/runtime/image_store.h"
#include "agent/runtime/runc_runtime.h"
#include "agent/runtime_executor.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/time.h"
#include "daemon/images_routes.h"
#include "daemon/manager_role.h"
#include "http/server.h"
#include "manager/api/api.h"
#include "manager/ca/root_ca.h"
#include "model/session_messages.h"

namespace shoal::daemon {

namespace {

constexpr char kNotInSwarm[] =
    "This node is not part of a swarm";
constexpr char kAlreadyInSwarm[] =
    "This node is already part of a swarm. Use \"docker swarm leave\" to leave this swarm and "
    "join another one.";
constexpr char kLeaveLastManager[] =
    "You are attempting to leave the swarm on a node that is participating as a manager. "
    "Removing the last manager erases all current state of the swarm. Use `--force` to ignore "
    "this message.";

std::string hostname() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

NodeDescription describe_node() {
  NodeDescription d;
  d.hostname = hostname();
  struct utsname u;
  if (uname(&u) == 0) {
    d.architecture = u.machine;
    d.os = u.sysname;  // "Linux" -> "linux", as Docker shows it (Go's GOOS)
    for (auto& ch : d.os) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  d.nano_cpus = static_cast<int64_t>(std::thread::hardware_concurrency()) * 1000000000LL;
  struct sysinfo si;
  if (sysinfo(&si) == 0) d.memory_bytes = static_cast<int64_t>(si.totalram) * si.mem_unit;
  d.engine_version = "20.10.24-shoal";
  return d;
}

}  // namespace

Daemon::Daemon(DaemonOptions options) : options_(std::move(options)) {}

Daemon::~Daemon() { stop(); }

Status Daemon::start() {
  images_ = std::make_unique<runtime::ImageStore>(options_.data_root);
  SHOAL_RETURN_IF_ERROR(images_->open().with_context("opening the image store"));
  runtime::RuncRuntimeOptions ro;
  ro.root = options_.data_root;
  runtime_ = std::make_unique<runtime::RuncRuntime>(ro, *images_);
  api_ = std::make_unique<api::Api>(*this, this, clock_);
  http::ServerOptions sso;
  sso.listen = {session_endpoint()};
  session_server_ = std::make_unique<http::Server>(sso, [this](http::Exchange ex) { serve_session(std::move(ex)); });
  SHOAL_RETURN_IF_ERROR(session_server_->start().with_context("opening the agent session listener"));

  auto loaded = load_swarm_state(options_.data_root);
  if (!loaded.ok()) return loaded.status();
  if (*loaded) {
    std::lock_guard lk(mu_);
    Status st = start_roles(**loaded);
    if (!st.ok()) return st.with_context("rejoining the swarm recorded in " + options_.data_root);
    state_ = **loaded;
  }
  http::ServerOptions so;
  so.listen = options_.hosts;
  so.worker_threads = 16;
  server_ = std::make_unique<http::Server>(so, [this](http::Exchange ex) { serve(std::move(ex)); });
  SHOAL_RETURN_IF_ERROR(server_->start());
  LOG_INFO("shoald", "serving the Docker Engine API v1.41 on " << options_.hosts[0]);
  return ok_status();
}

void Daemon::stop() {
  {
    std::lock_guard lk(mu_);
    stop_roles();
  }
  if (server_) server_->stop();
  server_.reset();
  if (session_server_) session_server_->stop();
  session_server_.reset();
}

std::string Daemon::session_endpoint() const { return "unix://" + options_.data_root + "/dispatcher.sock"; }

Status Daemon::start_roles(const SwarmState& state) {
  if (state.role == "manager") {
    ManagerOptions mo;
    mo.data_root = options_.data_root;
    mo.node_id = state.node_id;
    mo.etcd_client_port = state.etcd_client_port;
    mo.etcd_peer_port = state.etcd_peer_port;
    manager_ = std::make_unique<ManagerRole>(clock_, mo);
    Status st = manager_->start();
    if (!st.ok()) {
      manager_.reset();
      return st;
    }
  }
  executor_ = std::make_unique<agent::RuntimeExecutor>(*runtime_, state.node_id);
  agent::AgentOptions ao;
  // The agent talks to the dispatcher over the same protocol it will use
  // across the network; on a single node that is this daemon's own session
  // listener.
  ao.dispatcher = session_endpoint();
  ao.node_id = state.node_id;
  ao.addr = state.advertise_addr;
  ao.description = describe_node();
  agent_ = std::make_unique<agent::Agent>(*executor_, clock_, ao);
  agent_->start();
  return ok_status();
}

void Daemon::stop_roles() {
  // The dispatcher first: it answers the agent's pending long poll, so the
  // agent stops at once instead of waiting for the poll to time out.
  if (manager_) manager_->dispatcher().stop();
  if (agent_) agent_->stop();
  agent_.reset();
  executor_.reset();
  if (manager_) manager_->stop();
  manager_.reset();
}

Result<std::string> Daemon::init(const api::InitRequest& req) {
  std::lock_guard lk(mu_);
  if (state_) return unavailable(kAlreadyInSwarm);
  SwarmState state;
  state.node_id = new_object_id();
  std::string addr = req.advertise_addr.empty() ? (options_.advertise_addr.empty() ? "127.0.0.1" : options_.advertise_addr)
                                                : req.advertise_addr;
  if (addr.find(':') == std::string::npos) addr += ":2377";
  state.advertise_addr = addr;
  state.etcd_client_port = options_.etcd_client_port;
  state.etcd_peer_port = options_.etcd_peer_port;

  ManagerOptions mo{options_.data_root, state.node_id, state.etcd_client_port, state.etcd_peer_port};
  auto manager = std::make_unique<ManagerRole>(clock_, mo);
  auto fail = [&](const Status& st) {
    manager->destroy();
    return st;
  };
  Status st = manager->start();
  if (!st.ok()) return fail(st);
  if (manager->store().cluster()) {
    return fail(failed_precondition("etcd data already holds a swarm; remove " + options_.data_root +
                                    "/etcd or use shoal swarm leave --force"));
  }
  auto ca = ca::create_root_ca();
  if (!ca.ok()) return fail(ca.status());
  auto wt = ca::new_join_token(ca->cert_pem);
  auto mt = ca::new_join_token(ca->cert_pem);
  if (!wt.ok() || !mt.ok()) return fail(internal_error("creating join tokens failed"));

  auto now = clock_.now();
  Cluster c;
  c.id = new_object_id();
  c.created_at = c.updated_at = now;
  c.root_ca_cert = ca->cert_pem;
  c.root_ca_key = ca->key_pem;
  c.join_tokens = {*wt, *mt};
  if (!req.default_addr_pool.empty()) c.default_addr_pool = req.default_addr_pool;
  if (req.subnet_size) c.subnet_size = req.subnet_size;
  if (req.data_path_port) c.data_path_port = req.data_path_port;
  Node n;
  n.id = state.node_id;
  n.created_at = n.updated_at = now;
  n.spec.role = NodeRole::kManager;
  n.spec.availability = NodeAvailability::kActive;
  n.description = describe_node();
  n.state = NodeState::kReady;
  n.addr = addr.substr(0, addr.rfind(':'));
  n.manager_status = ManagerStatus{true, "reachable", addr};
  Batch b;
  b.create(c);
  b.create(n);
  st = manager->store().commit(b);
  if (!st.ok()) return fail(st.with_context("creating the swarm"));
  st = save_swarm_state(options_.data_root, state);
  if (!st.ok()) return fail(st);
  manager->stop();
  st = start_roles(state);
  if (!st.ok()) {
    remove_swarm_state(options_.data_root);
    return st;
  }
  state_ = state;
  LOG_INFO("shoald", "swarm initialized; this node (" << state.node_id << ") is its manager");
  return state.node_id;
}

Status Daemon::leave(bool force) {
  std::lock_guard lk(mu_);
  if (!state_) return unavailable(kNotInSwarm);
  if (state_->role == "manager" && !force) return failed_precondition(kLeaveLastManager);
  std::vector<std::string> tasks = executor_ ? executor_->known_tasks() : std::vector<std::string>{};
  if (manager_) manager_->dispatcher().stop();
  if (agent_) agent_->stop();
  agent_.reset();
  // Stop every task container in parallel, each with its own grace period.
  std::vector<std::thread> stoppers;
  for (const auto& t : tasks) {
    stoppers.emplace_back([this, t] {
      Status s = executor_->remove(t);
      if (!s.ok()) LOG_WARN("shoald", "removing the container of task " << t << ": " << s.message());
    });
  }
  for (auto& th : stoppers) th.join();
  executor_.reset();
  if (manager_) manager_->destroy();
  manager_.reset();
  Status st = remove_swarm_state(options_.data_root);
  state_.reset();
  LOG_INFO("shoald", "left the swarm");
  return st;
}

bool Daemon::active() const {
  std::lock_guard lk(mu_);
  return state_.has_value();
}

std::string Daemon::node_id() const {
  std::lock_guard lk(mu_);
  return state_ ? state_->node_id : "";
}

Store* Daemon::store() {
  std::lock_guard lk(mu_);
  return manager_ ? &manager_->store() : nullptr;
}

api::LocalInfo Daemon::local_info() const {
  api::LocalInfo info;
  NodeDescription d = describe_node();
  info.hostname = d.hostname;
  info.ncpu = static_cast<int>(std::thread::hardware_concurrency());
  info.mem_total = d.memory_bytes;
  struct utsname u;
  if (uname(&u) == 0) info.kernel_version = u.release;
  info.operating_system = "Debian GNU/Linux";
  {
    std::lock_guard lk(mu_);
    if (state_) info.addr = state_->advertise_addr.substr(0, state_->advertise_addr.rfind(':'));
  }
  auto cs = runtime_->list();
  if (cs.ok()) {
    info.containers = static_cast<int>(cs->size());
    for (const auto& c : *cs) info.containers_running += c.status == runtime::ContainerStatus::kRunning;
  }
  auto imgs = images_->list();
  if (imgs.ok()) info.images = static_cast<int>(imgs->size());
  return info;
}

void Daemon::serve(http::Exchange ex) {
  if (serve_image_routes(*images_, ex)) return;
  api_->serve(std::move(ex));
}

void Daemon::serve_session(http::Exchange ex) {
  dispatcher::Dispatcher* d = nullptr;
  {
    std::lock_guard lk(mu_);
    if (manager_) d = &manager_->dispatcher();
  }
  http::Response r;
  r.headers["Content-Type"] = "application/json";
  if (ex.request.path.rfind(session::kPrefix, 0) != 0) {
    r.status = 404;
    r.body = R"({"message":"this is the agent session listener; the Docker API is on the daemon's -H socket"})";
  } else if (!d) {
    r.status = 503;
    r.body = R"({"message":"this node is not a swarm manager"})";
  } else {
    d->serve(std::move(ex));
    return;
  }
  ex.respond(r);
}

}  // namespace shoal::daemon

namespace shoal::daemon {

std::vector<api::ContainerSummary> Daemon::list(bool all) {
  std::vector<api::ContainerSummary> out;
  auto cs = runtime_->list();
  if (!cs.ok()) return out;
  auto now = std::chrono::system_clock::now();
  for (const auto& c : *cs) {
    bool running = c.status == runtime::ContainerStatus::kRunning;
    if (!all && !running) continue;
    api::ContainerSummary s;
    s.id = c.id;
    s.names = {"/" + c.name};
    s.image = c.image;
    for (const auto& a : c.command) s.command += (s.command.empty() ? "" : " ") + a;  // as Docker shows it
    s.created = std::chrono::duration_cast<std::chrono::seconds>(c.created_at.time_since_epoch()).count();
    s.labels = c.labels;
    if (running) {
      s.state = "running";
      s.status = "Up " + human_duration(now - c.started_at);
    } else if (c.status == runtime::ContainerStatus::kExited) {
      s.state = "exited";
      s.status = "Exited (" + std::to_string(c.exit_code) + ") " + human_duration(now - c.finished_at) + " ago";
    } else {
      s.state = "created";
      s.status = "Created";
    }
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.created > b.created; });
  return out;
}

Status Daemon::kill(const std::string& ref, int signal) {
  auto cs = runtime_->list();
  if (!cs.ok()) return cs.status();
  std::vector<std::string> matches;
  for (const auto& c : *cs) {
    if (c.id == ref || c.name == ref || c.name == "/" + ref) return runtime_->kill(c.id, signal);
    if (c.id.rfind(ref, 0) == 0) matches.push_back(c.id);
  }
  if (matches.size() == 1) {
    auto st = runtime_->state(matches[0]);
    if (st.ok() && st->status != runtime::ContainerStatus::kRunning) {
      return failed_precondition("Container " + matches[0].substr(0, 12) + " is not running");
    }
    return runtime_->kill(matches[0], signal);
  }
  if (matches.size() > 1) return invalid_argument("container id prefix " + ref + " is ambiguous");
  return not_found("No such container: " + ref);
}

}  // namespace shoal::daemon
