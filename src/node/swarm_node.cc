#include "node/swarm_node.h"

#include <functional>
#include <thread>

#include "common/ids.h"
#include "common/log.h"
#include "http/server.h"
#include "manager/api/errors.h"
#include "manager/api/registry_auth.h"
#include "manager/ca/sealed.h"
#include "model/session_messages.h"
#include "manager/dispatcher/session_presence.h"
#include "node/manager_status.h"
#include "node/swarm_roles.h"

namespace shoal::node {

namespace {

constexpr char kLeaveLastManager[] =
    "You are attempting to leave the swarm on a node that is participating as a manager. "
    "Removing the last manager erases all current state of the swarm. Use `--force` to ignore "
    "this message.";
constexpr char kLeaving[] = "the node is leaving the swarm; try again when `swarm leave` has returned";
constexpr char kJoining[] = "the node is joining a swarm; try again when `swarm init` has returned";
constexpr char kShuttingDown[] = "shoald is shutting down";
constexpr char kChangingRole[] =
    "the node is changing its role (node promote/demote, or --force-new-cluster); try again in a few seconds";

Result<std::string> unseal_with(ManagerStorage& storage, const std::string& sealed, const std::string& context) {
  SHOAL_ASSIGN_OR_RETURN(std::string key, storage.data_key());
  return ca::unseal(key, sealed, context);
}

}  // namespace

Result<JoinTokens> ManagerStorage::join_tokens() {
  std::lock_guard lk(tokens_mu_);
  if (!tokens_) return not_found("this manager's storage holds no join tokens");
  return *tokens_;
}

Result<std::string> ManagerStorage::root_ca_key() {
  return not_found("this manager's storage keeps no root CA key: it cannot sign node certificates");
}

Result<ManagerGrant> ManagerStorage::admit_manager(const ManagerAdmission&) {
  return unimplemented("this manager's storage keeps no etcd membership: it cannot admit managers");
}

void ManagerStorage::abandon_manager(const std::string&) {}

Result<std::set<std::string>> ManagerStorage::voting_members() {
  return unimplemented("this manager's storage has no etcd membership");
}

Result<bool> ManagerStorage::has_learner() { return false; }

Result<std::string> ManagerStorage::data_key() {
  std::lock_guard lk(tokens_mu_);
  if (data_key_.empty()) data_key_ = ca::new_seal_key();
  return data_key_;
}

Status ManagerStorage::remove_member(const std::string&) { return ok_status(); }

Status ManagerStorage::set_join_tokens(const JoinTokens& tokens) {
  std::lock_guard lk(tokens_mu_);
  if (tokens.version != (tokens_ ? tokens_->version : 0)) {  // as the sealed etcd key's compare
    return conflict("the join tokens were changed concurrently (another rotation or swarm init): read them again and retry");
  }
  tokens_ = tokens;
  tokens_->version = tokens.version + 1;
  return ok_status();
}

SwarmNode::SwarmNode(NodeParts parts) : parts_(std::move(parts)) {}

SwarmNode::~SwarmNode() { stop(); }

Result<std::shared_ptr<SwarmNode::Roles>> SwarmNode::start_roles(const Membership& m,
                                                                  const std::optional<SwarmBootstrap>& bootstrap) {
  auto roles = std::make_shared<Roles>();
  if (m.role == "manager") {
    auto storage = parts_.open_storage(m, bootstrap ? &*bootstrap->credentials : nullptr);
    if (!storage.ok()) return storage.status();
    roles->storage = std::move(*storage);
    if (bootstrap) {  // the join tokens are not part of the Cluster object
      const SwarmCredentials& cr = *bootstrap->credentials;
      Status st = roles->storage->set_join_tokens({cr.worker_token, cr.manager_token});
      if (!st.ok()) {
        roles->stop(/*erase=*/true);
        return st.with_context("storing the join tokens");
      }
    }
    ManagerConfig mc = parts_.manager;
    mc.node_id = m.node_id;
    // The storage outlives the manager (Roles::stop stops the manager first).
    mc.dispatcher.unseal_registry_auth = [st = roles->storage.get()](const std::string& sealed,
                                                                     const std::string& service_id) {
      return unseal_with(*st, sealed, api::registry_auth_context(service_id));
    };
    if (!parts_.certs_dir.empty()) {  // the leader probe's TLS: this manager's node certificate
      mc.peer_tls = [dir = parts_.certs_dir]() -> std::optional<http::TlsOptions> {
        auto tls = read_node_tls(dir);
        if (!tls.ok()) return std::nullopt;
        return manager_client_tls(*tls);
      };
    }
    roles->manager = std::make_unique<Manager>(roles->storage->backend(), *parts_.clock, mc);
    Status st = roles->manager->start(bootstrap);
    if (st.ok()) {
      auto listener = open_swarm_listener(*roles->manager, m, bootstrap);
      if (listener.ok()) roles->listener = std::move(*listener);
      st = listener.status();
    }
    if (!st.ok()) {
      roles->stop(/*erase=*/bootstrap.has_value());
      return st;
    }
  }
  agent::AgentOptions ao = parts_.agent;
  if (Status st = agent_transport(m, ao); !st.ok()) {
    roles->stop(/*erase=*/false);
    return st;
  }
  roles->executor = parts_.make_executor(m);
  ao.role = m.role;
  ao.on_role = [this](const std::string& role) { on_role(role); };  // promote/demote: role_change.cc
  ao.node_id = m.node_id;
  ao.addr = m.advertise_addr;
  if (parts_.describe) ao.description = parts_.describe();
  roles->agent = std::make_unique<agent::Agent>(*roles->executor, *parts_.clock, ao);
  roles->agent->start();
  return roles;
}

Status SwarmNode::rejoin(const Membership& recorded) {
  if (Status st = begin_start(); !st.ok()) return st;
  Membership m = recorded;
  load_join_state(m);
  auto roles = start_roles(m, std::nullopt);
  if (!roles.ok()) return finish_start(roles.status());
  return adopt_roles(m, std::move(*roles));
}

Status SwarmNode::finish_start(Status failure) {
  std::lock_guard lk(mu_);
  if (phase_ != Phase::kStopped) phase_ = Phase::kInactive;
  return failure;
}

Status SwarmNode::adopt_roles(const Membership& m, std::shared_ptr<Roles> roles) {
  {
    std::lock_guard lk(mu_);
    if (phase_ != Phase::kStopped) {
      phase_ = Phase::kActive;
      membership_ = m;
      roles_ = std::move(roles);
      return ok_status();
    }
  }
  // shoald stopped meanwhile: stop what was started, outside mu_ (it waits
  // for etcd and the agent); the node rejoins on its next start.
  roles->stop(/*erase=*/false);
  return unavailable(kShuttingDown);
}

Status SwarmNode::begin_start() {
  std::lock_guard lk(mu_);
  if (phase_ != Phase::kInactive) return refusal_locked();
  phase_ = Phase::kStarting;
  return ok_status();
}

Status SwarmNode::refusal_locked() const {
  switch (phase_) {
    case Phase::kInactive: return unavailable(api::kNotInSwarm);
    case Phase::kStarting: return unavailable(kJoining);
    case Phase::kActive: return unavailable(api::kAlreadyInSwarm);
    case Phase::kChanging: return unavailable(kChangingRole);
    case Phase::kLeaving: return unavailable(kLeaving);
    case Phase::kStopped: return unavailable(kShuttingDown);
  }
  return internal_error("unknown node phase");
}

Result<std::string> SwarmNode::init(const api::InitRequest& req) {
  // The credentials exist before the storage opens: its root CA secures it
  // (shoald's etcd certificates).
  std::optional<SwarmCredentials> credentials = parts_.credentials;
  if (!credentials) {
    auto created = new_swarm_credentials();
    if (!created.ok()) return created.status();
    credentials = std::move(*created);
  }
  if (Status st = begin_start(); !st.ok()) return st;
  Membership m;
  m.node_id = new_object_id();
  m.advertise_addr = swarm_address(req, parts_.default_advertise_addr);
  m.listen_addr = req.listen_addr;
  SwarmBootstrap b;
  b.node_id = m.node_id;
  b.advertise_addr = m.advertise_addr;
  if (parts_.describe) b.description = parts_.describe();
  b.request = req;
  b.credentials = std::move(credentials);
  // The slow part (etcd start-up, the first writes) runs without the lock:
  // begin() made concurrent init/leave calls answer 503 meanwhile.
  auto roles = start_roles(m, b);
  Status st = roles.ok() ? save_join_state(m) : roles.status();
  if (st.ok() && parts_.persist) st = parts_.persist(m);
  if (roles.ok() && !st.ok()) (*roles)->stop(/*erase=*/true);
  if (!st.ok()) return finish_start(st);
  SHOAL_RETURN_IF_ERROR(adopt_roles(m, std::move(*roles)));
  LOG_INFO("node", "swarm initialized; this node (" << m.node_id << ") is its manager");
  return m.node_id;
}

Status SwarmNode::leave(bool force) {
  std::shared_ptr<Roles> roles;
  {
    std::lock_guard lk(mu_);
    if (phase_ == Phase::kActive && membership_->role == "manager" && !force) {
      return failed_precondition(kLeaveLastManager);
    }
    if (phase_ != Phase::kActive) return refusal_locked();
    phase_ = Phase::kLeaving;
    roles = std::move(roles_);
  }
  // Without the lock: containers stop with their grace periods meanwhile.
  // Requests in flight keep `roles` alive until they finish.
  Status st = ok_status();
  roles->stop(/*erase=*/true, [&] {
    if (parts_.persist) st = parts_.persist(std::nullopt);
    remove_swarm_tls();
  });
  token_cache_.invalidate();  // the old swarm's unsealed tokens leave memory with it
  std::lock_guard lk(mu_);
  if (phase_ != Phase::kStopped) phase_ = Phase::kInactive;
  membership_.reset();
  LOG_INFO("node", "left the swarm");
  return st;
}

void SwarmNode::stop() {
  std::shared_ptr<Roles> roles;
  {
    std::lock_guard lk(mu_);
    phase_ = Phase::kStopped;
    roles = std::move(roles_);
  }
  role_cv_.notify_all();  // role_loop ends
  if (roles) roles->stop(/*erase=*/false);
  // A role change in flight sees kStopped and stops what it started.
  if (role_thread_.joinable() && role_thread_.get_id() != std::this_thread::get_id()) role_thread_.join();
}

bool SwarmNode::active() const {
  std::lock_guard lk(mu_);
  return membership_.has_value();
}

std::string SwarmNode::node_id() const {
  std::lock_guard lk(mu_);
  return membership_ ? membership_->node_id : "";
}

std::shared_ptr<Store> SwarmNode::store() {
  std::lock_guard lk(mu_);
  if (!roles_ || !roles_->manager) return nullptr;
  return std::shared_ptr<Store>(roles_, &roles_->manager->store());
}

std::shared_ptr<Manager> SwarmNode::manager() {
  std::lock_guard lk(mu_);
  if (!roles_ || !roles_->manager) return nullptr;
  return std::shared_ptr<Manager>(roles_, roles_->manager.get());
}

api::LocalInfo SwarmNode::local_info() const {
  api::LocalInfo info = parts_.local_info ? parts_.local_info() : api::LocalInfo{};
  std::lock_guard lk(mu_);
  if (membership_) info.addr = membership_->advertise_addr.substr(0, membership_->advertise_addr.rfind(':'));
  return info;
}

Result<JoinTokens> SwarmNode::join_tokens() {
  std::shared_ptr<Roles> roles;
  {
    std::lock_guard lk(mu_);
    roles = roles_;  // held: leave cannot free the storage meanwhile
  }
  if (!roles || !roles->storage) return unavailable(api::kNotSwarmManager);
  return roles->storage->join_tokens();
}

Result<std::string> SwarmNode::seal_registry_auth(const std::string& plain, const std::string& context) {
  std::shared_ptr<Roles> roles;
  {
    std::lock_guard lk(mu_);
    roles = roles_;  // held: leave cannot free the storage meanwhile
  }
  if (!roles || !roles->storage) return unavailable(api::kNotSwarmManager);
  SHOAL_ASSIGN_OR_RETURN(std::string key, roles->storage->data_key());
  return ca::seal(key, plain, context);
}

Result<std::string> SwarmNode::root_ca_key() {
  std::shared_ptr<Roles> roles;
  {
    std::lock_guard lk(mu_);
    roles = roles_;  // held: leave cannot free the storage meanwhile
  }
  if (!roles || !roles->storage) return unavailable(api::kNotSwarmManager);
  return roles->storage->root_ca_key();
}

Status SwarmNode::set_join_tokens(const JoinTokens& tokens) {
  std::shared_ptr<Roles> roles;
  {
    std::lock_guard lk(mu_);
    roles = roles_;
  }
  if (!roles || !roles->storage) return unavailable(api::kNotSwarmManager);
  Status st = roles->storage->set_join_tokens(tokens);
  token_cache_.invalidate();  // the rotated-away tokens are not served from the cache
  return st;
}

Status check_new_manager(const Store& store, const std::string& node_id, Time now) {
  if (auto c = store.cluster(); c && node_removed(*c, node_id, now)) {
    return Status(Code::kPermissionDenied,
                  "node " + node_id + " was removed from the swarm: leave the swarm on it and join again");
  }
  if (store.node(node_id)) {
    return already_exists("node " + node_id + " is already a member of the swarm: leave the swarm on it and join again");
  }
  return ok_status();
}

Result<ManagerGrant> SwarmNode::admit_manager(Manager& manager, const ManagerAdmission& a) {
  std::shared_ptr<Roles> roles;
  {
    std::lock_guard lk(mu_);
    roles = roles_;  // held: leave cannot free the storage meanwhile
  }
  if (!roles || !roles->storage) return unavailable(api::kNotSwarmManager);
  // Checked before the etcd membership changes, so no learner is added for it.
  SHOAL_RETURN_IF_ERROR(check_new_manager(manager.store(), a.node_id, parts_.clock->now()));
  SHOAL_ASSIGN_OR_RETURN(ManagerGrant grant, roles->storage->admit_manager(a));
  // Its Node, a manager from the start (its agent's register then finds it
  // and keeps the role).
  Node n;
  n.id = a.node_id;
  n.created_at = n.updated_at = parts_.clock->now();
  n.spec.role = NodeRole::kManager;
  n.addr = a.ip;
  n.manager_status = ManagerStatus{false, "reachable", with_swarm_port(a.ip)};
  Batch b;
  b.create(n);
  Status st = manager.store().commit(b);
  if (!st.ok()) {
    roles->storage->abandon_manager(a.node_id);  // no learner stays behind for an admission that failed
    return st.with_context("recording manager " + a.node_id);
  }
  return grant;
}

std::map<std::string, ManagerStatus> SwarmNode::live_manager_statuses(const std::vector<Node>& nodes) {
  std::shared_ptr<Roles> roles;
  {
    std::lock_guard lk(mu_);
    roles = roles_;  // held: leave cannot free the storage meanwhile
  }
  if (!roles || !roles->storage || !roles->manager) return {};
  Backend& b = roles->storage->backend();
  ManagerLiveness l;
  auto leader = b.range(parts_.manager.elector.key, false);
  auto sessions = b.range(dispatcher::kSessionPrefix, true);
  if (!leader.ok() || !sessions.ok()) return {};  // etcd unreachable: the stored status
  if (!leader->kvs.empty()) l.leader_id = leader->kvs[0].value;
  for (const auto& kv : sessions->kvs) l.sessions.insert(kv.key.substr(std::string(dispatcher::kSessionPrefix).size()));
  if (auto v = roles->storage->voting_members(); v.ok()) l.voters = std::move(*v);
  return derive_manager_statuses(nodes, l);
}

void SwarmNode::serve_session(http::Exchange ex) {
  std::shared_ptr<Manager> m = manager();  // held while the dispatcher takes the request
  http::Response r;
  r.headers["Content-Type"] = "application/json";
  if (ex.request.path.rfind(session::kPrefix, 0) != 0) {
    r.status = 404;
    r.body = R"({"message":"this is the agent session listener; the Docker API is on the daemon's -H socket"})";
  } else if (!m) {
    r.status = 503;
    r.body = R"({"message":"this node is not a swarm manager"})";
  } else {
    m->dispatcher().serve(std::move(ex));
    return;
  }
  ex.respond(r);
}

}  // namespace shoal::node
