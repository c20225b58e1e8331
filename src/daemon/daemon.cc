#include "daemon/daemon.h"
#include "common/json_limits.h"

#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <thread>

#include "agent/agent.h"
#include "agent/image_puller.h"
#include "agent/registry_client.h"
#include "agent/runtime/image_store.h"
#include "agent/runtime/runc_runtime.h"
#include "agent/runtime_executor.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/time.h"
#include "daemon/exec_sessions.h"
#include "daemon/images_routes.h"
#include "daemon/manager_role.h"
#include "http/server.h"
#include "manager/api/api.h"

namespace shoal::daemon {

namespace {

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

Daemon::Daemon(DaemonOptions options)
    : options_(std::move(options)),
      etcd_client_port_(options_.etcd_client_port),
      etcd_peer_port_(options_.etcd_peer_port) {}

Daemon::~Daemon() { stop(); }

node::NodeParts Daemon::node_parts() {
  node::NodeParts p;
  p.clock = &clock_;
  p.open_storage = [this](const node::Membership& m,
                          const node::SwarmCredentials* fresh) -> Result<std::unique_ptr<node::ManagerStorage>> {
    if (fresh) {  // a new swarm: the options' ports, no leftover etcd data
      etcd_client_port_ = options_.etcd_client_port;
      etcd_peer_port_ = options_.etcd_peer_port;
    }
    ManagerOptions mo{options_.data_root, m.node_id, etcd_client_port_, etcd_peer_port_};
    mo.advertise_ip = m.advertise_addr.substr(0, m.advertise_addr.rfind(':'));  // the etcd peer URL's host
    if (mo.advertise_ip.size() > 2 && mo.advertise_ip.front() == '[') mo.advertise_ip = mo.advertise_ip.substr(1, mo.advertise_ip.size() - 2);
    mo.force_new_cluster = m.force_new_cluster;  // quorum-loss recovery (swarm init --force-new-cluster)
    if (fresh) mo.new_swarm_ca = &fresh->root_ca;  // swarm init: an etcd-only CA (not the root CA) issues the etcd certificates
    mo.voter_view = [this] { return node_ ? node_->voter_view() : std::nullopt; };  // demotes cut short
    mo.voter_removed = [this](const std::string& id) { if (node_) node_->stale_voter_removed(id); };
    auto role = std::make_unique<ManagerRole>(mo);
    if (fresh) role->destroy();
    Status st = role->start();
    if (!st.ok()) return st;
    return std::unique_ptr<node::ManagerStorage>(std::move(role));
  };
  p.install_manager_grant = [this](const node::Membership&, const node::ManagerGrant& g) {
    etcd_client_port_ = options_.etcd_client_port;  // a new member: the options' ports
    etcd_peer_port_ = options_.etcd_peer_port;
    return install_joined_manager(options_.data_root, g);
  };
  p.make_executor = [this](const node::Membership& m) -> std::unique_ptr<agent::Executor> {
    // The node's overlay networks: their namespaces under the data root, its
    // advertised address as the VXLAN tunnel endpoint.
    netnode::Options no;
    no.state_dir = options_.data_root + "/network";
    no.node_id = m.node_id;
    no.underlay_ip = m.advertise_addr.substr(0, m.advertise_addr.rfind(':'));
    // What this node serves itself stays out of the routing mesh.
    auto port_of = [](const std::string& addr) -> int {
      auto colon = addr.rfind(':');
      if (colon == std::string::npos) return 0;
      try {
        return std::stoi(addr.substr(colon + 1));
      } catch (...) {
        return 0;
      }
    };
    for (int port : {port_of(m.advertise_addr), etcd_client_port_, etcd_peer_port_, options_.etcd_client_port,
                     options_.etcd_peer_port}) {
      if (port > 0 && port < 65536) no.own_ports.emplace_back("tcp", static_cast<uint16_t>(port));
    }
    for (const auto& h : options_.hosts) {
      if (h.rfind("tcp://", 0) == 0 || h.rfind("tls://", 0) == 0) {
        int port = port_of(h);
        if (port > 0 && port < 65536) no.own_ports.emplace_back("tcp", static_cast<uint16_t>(port));
      }
    }
    auto network = netnode::NodeNetwork::create(no);
    if (!network.ok()) {
      LOG_WARN("daemon", "the node's network datapath did not start: " << network.status().message());
      return std::make_unique<agent::RuntimeExecutor>(*runtime_, m.node_id, puller_.get(), nullptr,
                                                      network.status().message());
    }
    return std::make_unique<agent::RuntimeExecutor>(*runtime_, m.node_id, puller_.get(), std::move(*network));
  };
  // The agent talks to the dispatcher over the same protocol it will use
  // across the network; on a single node that is this daemon's own session
  // listener.
  p.dispatcher_endpoint = session_endpoint();
  p.persist = [this](const std::optional<node::Membership>& m) {
    if (!m) return remove_swarm_state(options_.data_root);
    SwarmState st{m->node_id, m->role, m->advertise_addr, etcd_client_port_, etcd_peer_port_};
    return save_swarm_state(options_.data_root, st);
  };
  p.describe = describe_node;
  p.local_info = [this] { return local_info(); };
  p.default_advertise_addr = options_.advertise_addr;
  p.certs_dir = options_.data_root + "/swarm-tls";  // the node's swarm certificate (src/node/join.h)
  return p;
}

Status Daemon::start() {
  images_ = std::make_unique<runtime::ImageStore>(options_.data_root);
  SHOAL_RETURN_IF_ERROR(images_->open().with_context("opening the image store"));
  runtime::RuncRuntimeOptions ro;
  ro.root = options_.data_root;
  runtime_ = std::make_unique<runtime::RuncRuntime>(ro, *images_);
  execs_ = std::make_unique<ExecSessions>(*runtime_);
  agent::RegistryOptions rgo;
  rgo.insecure = options_.insecure_registries;
  rgo.certs_dir = options_.registry_certs_dir;
  rgo.max_json_bytes = images_->limits().max_json_bytes;
  rgo.max_blob_bytes = images_->limits().max_unpacked_bytes;
  rgo.max_layers = images_->limits().max_layers;
  registry_ = std::make_unique<agent::RegistryClient>(rgo);
  puller_ = std::make_unique<agent::ImagePuller>(*images_, *registry_);
  node_ = std::make_unique<node::SwarmNode>(node_parts());
  api_ = std::make_unique<api::Api>(*node_, this, clock_);
  http::ServerOptions sso;
  sso.listen = {session_endpoint()};
  sso.max_connections = http::kSessionMaxConnections;
  session_server_ = std::make_unique<http::Server>(sso, [this](http::Exchange ex) { node_->serve_session(std::move(ex)); });
  SHOAL_RETURN_IF_ERROR(session_server_->start().with_context("opening the agent session listener"));

  auto loaded = load_swarm_state(options_.data_root);
  if (!loaded.ok()) return loaded.status();
  if (*loaded) {
    const SwarmState& s = **loaded;
    etcd_client_port_ = s.etcd_client_port;
    etcd_peer_port_ = s.etcd_peer_port;
    Status st = node_->rejoin({s.node_id, s.role, s.advertise_addr});
    if (!st.ok()) return st.with_context("rejoining the swarm recorded in " + options_.data_root);
  }
  http::ServerOptions so;
  so.listen = options_.hosts;
  so.worker_threads = 16;
  // Image uploads may be larger than the default body limit (up to
  // ImageLimits::max_upload_bytes, docs/security.md).
  so.route_body_limit = [images = images_.get()](const std::string& method, const std::string& path) {
    return image_upload_body_limit(*images, method, path);
  };
  so.route_body_spool = [images = images_.get()](const std::string& method, const std::string& path) {
    return image_upload_spool_dir(*images, method, path);
  };
  server_ = std::make_unique<http::Server>(so, [this](http::Exchange ex) { serve(std::move(ex)); });
  SHOAL_RETURN_IF_ERROR(server_->start());
  for (const auto& h : options_.hosts) {
    LOG_INFO("shoald", "serving the Docker Engine API v1.41 on " << h);
    // As Docker warns: a TCP socket has no file permissions, so every local
    // user (and every container sharing the host's network) gets root.
    if (h.rfind("tcp://", 0) == 0) {
      LOG_WARN("shoald", "the API on " << h << " is open to every local user without authentication, "
                                            "which gives them root on this host; prefer the unix socket");
    }
  }
  return ok_status();
}

void Daemon::stop() {
  // The roles first: their dispatcher answers parked long polls and their
  // agent cancels its requests, so the servers below have nothing to wait for.
  if (node_) node_->stop();
  if (server_) server_->stop();
  server_.reset();
  if (session_server_) session_server_->stop();
  session_server_.reset();
  if (execs_) execs_->stop();
  // An init that was in flight may have finished meanwhile: stop() again
  // stops what it started (the node refuses to install it once stopped).
  if (node_) node_->stop();
}

std::string Daemon::session_endpoint() const { return "unix://" + options_.data_root + "/dispatcher.sock"; }

api::LocalInfo Daemon::local_info() const {
  api::LocalInfo info;
  NodeDescription d = describe_node();
  info.hostname = d.hostname;
  info.ncpu = static_cast<int>(std::thread::hardware_concurrency());
  info.mem_total = d.memory_bytes;
  struct utsname u;
  if (uname(&u) == 0) info.kernel_version = u.release;
  info.operating_system = "Debian GNU/Linux";
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
  if (serve_image_routes(*images_, ex, puller_.get())) return;
  api_->serve(std::move(ex));
}

}  // namespace shoal::daemon
