// SwarmNode's side of the network: `swarm join`, a manager's swarm listener
// (joins and other nodes' sessions over TLS) and the agent's transport.
#include <arpa/inet.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <variant>
#include <set>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/log.h"
#include "http/server.h"
#include "manager/api/errors.h"
#include "manager/ca/key_files.h"
#include "manager/ca/node_certs.h"
#include "manager/leader/leader_probe.h"
#include "model/session_messages.h"
#include "node/join.h"
#include "node/swarm_node.h"

namespace shoal::node {

using nlohmann::json;

namespace {

constexpr char kJoinState[] = "/join.json";

http::Response error_reply(int status, const std::string& message) {
  http::Response r;
  r.status = status;
  r.headers["Content-Type"] = "application/json";
  r.body = json{{"message", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

// The IPs of the swarm's managers (ManagerStatus.Addr of their Nodes), for
// the swarm listener's ServerOptions::trusted_source: kept up to date from
// `store`'s watch events (each carries its Node), seeded from the cache at
// construction, so the I/O thread that asks only looks up a few managers
// (it used to copy every Node once a second). Must be destroyed before
// `store` (the listener that holds it is, swarm_roles.h). Thread-safe.
class ManagerIps {
 public:
  explicit ManagerIps(Store& store) : store_(store) {
    subscription_ = store_.subscribe([this](const StoreEvent& e) {
      if (e.kind != Kind::kNode) return;
      const Node* n = std::get_if<Node>(&e.object);
      if (n) set(e.id, e.type == StoreEvent::Type::kDelete ? nullptr : n);
    });
    store_.view([&](const StoreSnapshot& snap) {  // after subscribing: nothing missed
      for (const auto& [id, n] : snap.nodes) set(id, &n);
    });
  }
  ~ManagerIps() { store_.unsubscribe(subscription_); }
  ManagerIps(const ManagerIps&) = delete;
  ManagerIps& operator=(const ManagerIps&) = delete;

  bool contains(const std::string& ip) {
    std::lock_guard lk(mu_);
    for (const auto& [_, m] : ips_)
      if (m == ip) return true;
    return false;
  }

 private:
  // "10.0.0.2", "[fd00::0001]" -> inet_ntop's form, as the server names peers.
  static std::string canonical_ip(std::string host) {
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    unsigned char buf[sizeof(in6_addr)];
    char out[INET6_ADDRSTRLEN];
    const int af = host.find(':') == std::string::npos ? AF_INET : AF_INET6;
    if (inet_pton(af, host.c_str(), buf) != 1 || !inet_ntop(af, buf, out, sizeof out)) return host;
    return out;
  }
  // Node `id` as it is now (null: deleted).
  void set(const std::string& id, const Node* n) {
    std::lock_guard lk(mu_);
    if (n && n->manager_status && !n->manager_status->addr.empty()) {
      const std::string& a = n->manager_status->addr;
      ips_[id] = canonical_ip(a.substr(0, a.rfind(':')));
    } else {
      ips_.erase(id);
    }
  }
  Store& store_;
  uint64_t subscription_ = 0;
  std::mutex mu_;
  std::map<std::string, std::string> ips_;  // guarded by mu_: manager node id -> its IP
};

}  // namespace

size_t swarm_connection_cap(uint64_t nofile) {
  constexpr uint64_t kMinHeadroom = 1024, kMinCap = 16;
  uint64_t headroom = std::max(nofile / 4, kMinHeadroom);
  uint64_t cap = nofile > headroom + kMinCap ? nofile - headroom : kMinCap;
  return static_cast<size_t>(std::min<uint64_t>(cap, http::kSessionMaxConnections));
}

Status SwarmNode::save_join_state(const Membership& m) const {
  if (parts_.certs_dir.empty()) return ok_status();
  SHOAL_RETURN_IF_ERROR(ca::ensure_private_dir(parts_.certs_dir));
  json j = {{"ListenAddr", m.listen_addr}, {"Managers", m.managers}};
  return write_file_atomic(parts_.certs_dir + kJoinState, j.dump(), 0600).with_context("recording the swarm listener");
}

void SwarmNode::load_join_state(Membership& m) const {
  if (parts_.certs_dir.empty()) return;
  auto text = ca::read_private_file(parts_.certs_dir + kJoinState, /*secret=*/false);
  if (!text.ok()) return;  // a membership from before join.json: the defaults below
  try {
    json j = json::parse(*text);
    m.listen_addr = j.value("ListenAddr", "");
    m.managers = j.value("Managers", std::vector<std::string>{});
  } catch (const std::exception& e) {
    LOG_WARN("node", parts_.certs_dir << kJoinState << " is unreadable (" << e.what() << "); using defaults");
  }
}

void SwarmNode::remove_swarm_tls() const {
  if (parts_.certs_dir.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(parts_.certs_dir, ec);
  if (ec) LOG_WARN("node", "removing " << parts_.certs_dir << ": " << ec.message());
}

Result<std::unique_ptr<http::Server>> SwarmNode::open_swarm_listener(Manager& manager, const Membership& m,
                                                                     const std::optional<SwarmBootstrap>& bootstrap) {
  if (parts_.certs_dir.empty()) return std::unique_ptr<http::Server>();
  NodeTls tls;
  if (bootstrap) {  // swarm init: the new CA signs this manager's certificate
    auto cluster = manager.store().cluster();
    auto issued = issue_manager_tls(bootstrap->credentials->root_ca, m.node_id, cluster ? cluster->id : "");
    if (!issued.ok()) return issued.status().with_context("issuing this manager's certificate");
    SHOAL_RETURN_IF_ERROR(write_node_tls(parts_.certs_dir, *issued));
    tls = std::move(*issued);
  } else {
    SHOAL_ASSIGN_OR_RETURN(tls, read_node_tls(parts_.certs_dir));
  }
  http::ServerOptions so;
  std::string listen = m.listen_addr.empty() ? "0.0.0.0:" + std::to_string(kDefaultSwarmPort) : m.listen_addr;
  so.listen = {"tls://" + with_swarm_port(listen)};
  struct rlimit rl {};
  uint64_t nofile = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? static_cast<uint64_t>(rl.rlim_cur) : 1024;
  so.max_connections = swarm_connection_cap(nofile);
  so.tls = {tls.cert_pem, tls.key_pem, tls.ca_pem};
  // The leader probe (leader_probe.h) on the I/O thread: answered however
  // busy the workers are. Cheap and non-blocking: a path compare, then the
  // peer certificate and manager() (mu_ is never held across slow work).
  so.inline_handler = [this](const http::Request& r) -> std::optional<http::Response> {
    if (r.path != leader::kProbePath) return std::nullopt;
    if (r.method != "GET") return error_reply(405, "the leader probe is GET " + std::string(leader::kProbePath));
    const http::PeerCertificate& pc = r.peer_cert;
    if (!pc.verified || pc.organizational_unit != ca::kManagerRole) {
      return error_reply(403, "the leader probe is for this swarm's managers (a manager node certificate)");
    }
    if (!this->manager()) return error_reply(503, "this node is not a swarm manager (any more)");
    return http::Response{200, {{"Content-Type", "application/json"}}, "{}\n"};
  };
  // Managers' connections past the cap on unverified ones in all: strangers
  // holding every unverified slot must not keep the probe from reconnecting.
  so.trusted_source = [ips = std::make_shared<ManagerIps>(manager.store())](const std::string& ip) {
    return ips->contains(ip);
  };
  auto server = std::make_unique<http::Server>(so, [this](http::Exchange ex) { serve_swarm(std::move(ex)); });
  Status st = server->start();
  if (!st.ok()) {
    return st.with_context("opening the swarm listener (joins and node sessions, TLS) on " + listen +
                           ": free the port or give another --listen-addr");
  }
  LOG_INFO("node", "swarm listener (TLS) on " << listen);
  return server;
}

Status SwarmNode::agent_transport(const Membership& m, agent::AgentOptions& ao) const {
  if (m.role == "manager" || m.managers.empty()) {
    ao.dispatcher = parts_.dispatcher_endpoint;  // this manager's own dispatcher
    return ok_status();
  }
  auto tls = read_node_tls(parts_.certs_dir);
  if (!tls.ok()) return tls.status();
  ao.dispatcher = "https://" + m.managers.front();
  ao.tls = manager_client_tls(*tls);
  ao.managers = m.managers;
  // The register answer's list of managers, kept for restarts.
  ao.on_managers = [this, recorded = m](const std::vector<std::string>& managers) mutable {
    recorded.managers = managers;
    Status st = save_join_state(recorded);
    if (!st.ok()) LOG_WARN("node", "recording the managers: " << st.message());
  };
  return ok_status();
}

void SwarmNode::serve_swarm(http::Exchange ex) {
  const std::string& path = ex.request.path;
  std::shared_ptr<Manager> m = manager();  // held while the request is served
  if (!m) {
    ex.respond(error_reply(503, "this node is not a swarm manager (any more): join through another manager"));
    return;
  }
  if (path.rfind(kCaPrefix, 0) == 0) {
    CaServiceParts parts;
    parts.root_ca_cert = [&] {
      auto c = m->store().cluster();
      return c ? c->root_ca_cert : std::string();
    };
    parts.root_ca = [&]() -> Result<ca::RootCA> {
      SHOAL_ASSIGN_OR_RETURN(std::string key, root_ca_key());
      return ca::RootCA{parts.root_ca_cert(), key};
    };
    parts.join_tokens = [&] {
      int64_t rev = m->store().revision();  // before the load: a rotation after it moves the revision
      return token_cache_.get(parts.cluster_id(), rev, [this] { return join_tokens(); });
    };
    parts.cluster_id = [&] {
      auto c = m->store().cluster();
      return c ? c->id : std::string();
    };
    parts.managers = [&] {
      std::vector<std::string> out;
      for (const auto& n : m->store().nodes()) {
        if (n.manager_status && !n.manager_status->addr.empty()) out.push_back(n.manager_status->addr);
      }
      return out;
    };
    parts.admit_manager = [&](const ManagerAdmission& a) { return admit_manager(*m, a); };
    parts.promote_manager = [&](const ManagerAdmission& a, const std::string& csr) {
      return promote_manager(*m, a, csr);  // role_change.cc
    };
    serve_ca(parts, std::move(ex));
    return;
  }
  if (path.rfind(session::kPrefix, 0) == 0) {
    const http::PeerCertificate& pc = ex.request.peer_cert;
    if (!pc.verified || pc.common_name.empty() ||
        (pc.organizational_unit != ca::kWorkerRole && pc.organizational_unit != ca::kManagerRole)) {
      ex.respond(error_reply(403, "agent sessions need this swarm's node certificate: join the swarm first"));
      return;
    }
    std::string node = pc.common_name;
    m->dispatcher().serve(std::move(ex), node);
    return;
  }
  ex.respond(error_reply(404, "this is the swarm listener (joins and node sessions); the Docker API is on the "
                              "daemon's -H socket"));
}

Status SwarmNode::join(const api::JoinRequest& req) {
  if (parts_.certs_dir.empty()) return unimplemented("this node has no place for swarm certificates: it cannot join");
  if (Status st = begin_start(); !st.ok()) return st;
  JoinParams jp;
  jp.remote_addrs = req.remote_addrs;
  jp.token = req.join_token;
  std::string adv = !req.advertise_addr.empty() ? req.advertise_addr : parts_.default_advertise_addr;
  jp.advertise_addr = adv.empty() ? "" : with_swarm_port(adv);
  auto joined = join_swarm(jp);
  if (!joined.ok()) return finish_start(joined.status());
  Membership m;
  m.node_id = joined->node_id;
  m.role = joined->role;
  m.advertise_addr = jp.advertise_addr;
  m.listen_addr = req.listen_addr;
  m.managers = joined->managers;
  if (m.role == "manager") m.listen_addr = req.listen_addr;
  Status st = write_node_tls(parts_.certs_dir, joined->tls).with_context("storing this node's certificate");
  if (st.ok() && joined->manager) {
    st = parts_.install_manager_grant
             ? parts_.install_manager_grant(m, *joined->manager).with_context("storing this manager's etcd material")
             : unimplemented("this node cannot run a manager's etcd member: join with the worker token");
  }
  if (st.ok()) st = save_join_state(m);
  // Recorded before the roles start (a crash meanwhile restarts as this
  // worker), and forgotten again if they do not.
  if (st.ok() && parts_.persist) st = parts_.persist(m);
  auto roles = st.ok() ? start_roles(m, std::nullopt) : Result<std::shared_ptr<Roles>>(st);
  if (!roles.ok()) {
    if (parts_.persist) (void)parts_.persist(std::nullopt);
    remove_swarm_tls();
    return finish_start(roles.status());
  }
  SHOAL_RETURN_IF_ERROR(adopt_roles(m, std::move(*roles)));
  LOG_INFO("node", "joined the swarm as " << m.role << " " << m.node_id << " (managers: " << m.managers.front() << ")");
  return ok_status();
}

}  // namespace shoal::node
