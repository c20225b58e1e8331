// SwarmNode's manager membership changes (docs/cluster.md "Managers"):
// `node promote|demote` and `node update --role` (checked and stored here,
// acted on by the node itself once its agent's heartbeat answer names the
// new role), the serving side of a promotion, and quorum-loss recovery
// (`swarm init --force-new-cluster`).
//
// A promoted worker asks a manager over mTLS (join.h manager-promote) for a
// manager certificate and its etcd material (its member added as a learner,
// promoted once caught up, as a joining manager's), then swaps its worker
// roles for a manager's: the containers keep running and the new agent
// adopts them. A demoted manager issues itself a worker certificate while its
// etcd still serves it, clears its Node's manager status, stops its manager
// (the elector resigns first, so a leader hands over at once), removes its
// own etcd member, erases its member data and goes on as a worker of the
// other managers.
#include <chrono>
#include <utility>
#include <thread>

#include "common/log.h"
#include "manager/api/errors.h"
#include "manager/ca/node_certs.h"
#include "model/spec_schema.h"
#include "node/bootstrap.h"
#include "node/membership_rules.h"
#include "node/swarm_roles.h"

namespace shoal::node {

namespace {

constexpr char kShuttingDown[] = "shoald is shutting down";

std::string node_name(const Node& n) { return n.description.hostname.empty() ? n.id : n.description.hostname; }

// "ip:port" of every manager's swarm listener but `self`'s.
std::vector<std::string> other_managers(const std::vector<Node>& nodes, const std::string& self) {
  std::vector<std::string> out;
  for (const auto& n : nodes) {
    if (n.id == self || n.spec.role != NodeRole::kManager || !n.manager_status) continue;
    out.push_back(n.manager_status->addr.empty() ? with_swarm_port(n.addr) : n.manager_status->addr);
  }
  return out;
}

}  // namespace

Status SwarmNode::change_role(Store& store, const Node& current, const Node& next) {
  std::shared_ptr<Roles> roles;
  {
    std::lock_guard lk(mu_);
    roles = roles_;  // held: leave cannot free the storage meanwhile
  }
  if (!roles || !roles->storage || !roles->manager) return unavailable(api::kNotSwarmManager);
  std::vector<Node> nodes = store.nodes();
  // `node demote` of a node stored as a worker already re-drives a demote
  // its shoald did not finish (it died mid-way): its own change is not
  // another one in progress.
  const bool redrive = current.spec.role == NodeRole::kWorker && next.spec.role == NodeRole::kWorker;
  std::optional<std::set<std::string>> voters;
  if (redrive) {
    SHOAL_ASSIGN_OR_RETURN(voters, roles->storage->voting_members());
    if (!current.manager_status && !voters->count(current.id)) {
      // A plain worker: nothing to re-drive. Stored as any other update (its
      // version bumped, a concurrent change a 409), whatever else is in progress.
      Batch b;
      b.put_if_version(next);
      return store.commit(b);
    }
  }
  SHOAL_ASSIGN_OR_RETURN(bool learner, roles->storage->has_learner());
  std::vector<Node> others;
  for (const auto& n : nodes)
    if (!redrive || n.id != current.id) others.push_back(n);
  SHOAL_RETURN_IF_ERROR(check_no_change_in_progress(others, learner));
  Batch b;
  if (next.spec.role == NodeRole::kManager) {
    if (current.state != NodeState::kReady) {
      return failed_precondition("node " + node_name(current) + " is " + node_state_name(current.state) +
                                 ": a node can be promoted only while it is up (its shoald starts the manager role); "
                                 "start it and retry");
    }
    b.put_if_version(next);
    return store.commit(b);
  }
  if (!voters) {
    SHOAL_ASSIGN_OR_RETURN(voters, roles->storage->voting_members());
  }
  // A voter that cleared its own status just now is removing its member
  // (demote_self): taken for dead below, its member would go under it.
  if (redrive) SHOAL_RETURN_IF_ERROR(check_not_demoting_itself(current, voters->count(current.id) > 0, parts_.clock->now()));
  // The quorum counts the other managers that are reachable and answer now:
  // a killed manager's session key (and so its "reachable") outlives it by
  // the presence lease's TTL (15 s), and demoting another manager meanwhile
  // would leave a dead majority. The target too must answer to be left to
  // demote itself: a manager killed just before would never do it, and its
  // Node stayed "being demoted" for good, refusing every other change.
  std::set<std::string> healthy;
  bool target_reachable = false;
  const std::string self = node_id();
  for (const auto& [id, s] : live_manager_statuses(nodes)) {
    if (s.reachability != "reachable") continue;
    if (id == current.id) {
      // The path taken when it does not answer removes a voter: one lost
      // probe (a TLS handshake on a loaded machine) must not send a live
      // manager down it, so it gets 4 tries over about a second.
      for (int i = 0; i < 4 && !target_reachable; ++i) {
        if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(250));
        target_reachable = id == self || roles->manager->manager_answers(id);
      }
    } else if (id == self || roles->manager->manager_answers(id)) {
      healthy.insert(id);
    }
  }
  SHOAL_RETURN_IF_ERROR(check_removal_keeps_quorum(*voters, healthy, current.id));
  if (target_reachable) {
    b.put_if_version(next);  // its shoald demotes itself (demote_self)
    return store.commit(b);
  }
  // Unreachable: it cannot demote itself. Its member goes first (nothing is
  // stored if that fails; none left is ok), then its Node is a worker at
  // once. With the member gone the request's version no longer guards
  // anything: a Node changed meanwhile (its status, a heartbeat) is read
  // again and the change applied to it, never a failed demote that left a
  // manager without its member.
  SHOAL_RETURN_IF_ERROR(roles->storage->remove_member(current.id));
  b.update_node(current.id, [&](Node& x) {
    x.spec.role = NodeRole::kWorker;
    if (x.version == current.version) x.spec = next.spec;  // the request's other fields, unless changed since
    x.manager_status.reset();
    x.updated_at = next.updated_at;
    return true;
  });
  LOG_INFO("node", "demoted unreachable manager " << current.id << ": its etcd member is removed");
  return store.commit(b);
}

std::optional<VoterView> SwarmNode::voter_view() {
  std::shared_ptr<Manager> mgr = manager();
  if (!mgr || !mgr->is_leader()) return std::nullopt;
  VoterView v;
  const std::string self = node_id();
  for (const auto& n : mgr->store().nodes()) {
    v.wants_manager[n.id] = n.spec.role == NodeRole::kManager;
    if (n.manager_status && (n.id == self || mgr->manager_answers(n.id))) v.answering.insert(n.id);
    if (n.state == NodeState::kDown) v.down.insert(n.id);
  }
  return v;
}

void SwarmNode::stale_voter_removed(const std::string& id) {
  std::shared_ptr<Manager> mgr = manager();
  if (!mgr) return;
  Batch b;
  b.update_node(id, [&](Node& x) {
    if (x.spec.role != NodeRole::kWorker || !x.manager_status) return false;
    x.manager_status.reset();
    x.updated_at = parts_.clock->now();
    return true;
  });
  if (Status st = mgr->store().commit(b); !st.ok()) {
    LOG_WARN("node", "clearing the manager status of demoted node " << id << ": " << st.message()
                                                                    << " (run `node demote` on it again)");
  }
}

Result<Promotion> SwarmNode::promote_manager(Manager& manager, const ManagerAdmission& a, const std::string& csr) {
  std::shared_ptr<Roles> roles;
  {
    std::lock_guard lk(mu_);
    roles = roles_;
  }
  if (!roles || !roles->storage) return unavailable(api::kNotSwarmManager);
  Store& store = manager.store();
  auto c = store.cluster();
  if (c && node_removed(*c, a.node_id, parts_.clock->now())) {
    return Status(Code::kPermissionDenied, "node " + a.node_id + " was removed from the swarm");
  }
  auto n = store.node(a.node_id);
  if (!n || n->spec.role != NodeRole::kManager || n->manager_status) {
    return failed_precondition("node " + a.node_id + " is not being promoted (its role is not manager, or it is a "
                               "manager already): `node promote` it first");
  }
  SHOAL_ASSIGN_OR_RETURN(std::string key, roles->storage->root_ca_key());
  ca::RootCA root{c ? c->root_ca_cert : "", key};
  auto cert = ca::sign_node_csr(root, csr, a.node_id, ca::kManagerRole, c ? c->id : "");
  if (!cert.ok()) return cert.status().with_context("the node CSR");
  SHOAL_ASSIGN_OR_RETURN(ManagerGrant grant, roles->storage->admit_manager(a));
  Batch b;
  std::string addr = with_swarm_port(a.ip);
  b.update_node(a.node_id, [&](Node& x) {
    if (x.spec.role != NodeRole::kManager) return false;
    x.manager_status = ManagerStatus{false, "reachable", addr};
    x.updated_at = parts_.clock->now();
    return true;
  });
  if (Status st = store.commit(b); !st.ok()) {
    roles->storage->abandon_manager(a.node_id);  // no learner stays behind for a promotion that failed
    return st.with_context("recording manager " + a.node_id);
  }
  return Promotion{std::move(*cert), std::move(grant)};
}

void SwarmNode::on_role(const std::string& role) {
  std::lock_guard lk(mu_);
  if (role_changing_ || phase_ != Phase::kActive || !membership_ || membership_->role == role) return;
  role_changing_ = true;
  wanted_role_ = role;
  if (!role_thread_.joinable()) role_thread_ = std::thread([this] { role_loop(); });
  role_cv_.notify_all();
}

void SwarmNode::role_loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    role_cv_.wait(lk, [&] { return phase_ == Phase::kStopped || !wanted_role_.empty(); });
    if (phase_ == Phase::kStopped) return;
    std::string role = std::exchange(wanted_role_, std::string());
    lk.unlock();
    change_own_role(role);  // clears role_changing_
    lk.lock();
  }
}

void SwarmNode::change_own_role(const std::string& role) {
  std::optional<Membership> m;
  {
    std::lock_guard lk(mu_);
    if (phase_ == Phase::kActive) m = membership_;
  }
  Status st = ok_status();
  if (m && m->role != role) {
    LOG_INFO("node", "this node's role is now " << role << " (node " << (role == "manager" ? "promote" : "demote")
                                                << "): changing from " << m->role);
    st = role == "manager" ? promote_self(*m) : demote_self(*m);
    if (st.ok()) LOG_INFO("node", "this node is now a " << role);
    else LOG_WARN("node", "changing this node's role to " << role << " failed: " << st.message());
  }
  std::lock_guard lk(mu_);
  role_changing_ = false;
}

std::shared_ptr<SwarmNode::Roles> SwarmNode::take_roles_for_change() {
  std::lock_guard lk(mu_);
  if (phase_ != Phase::kActive) return nullptr;
  phase_ = Phase::kChanging;
  return std::move(roles_);
}

Status SwarmNode::promote_self(Membership m) {
  load_join_state(m);  // the managers the agent learned since it started
  SHOAL_ASSIGN_OR_RETURN(NodeTls worker_tls, read_node_tls(parts_.certs_dir));
  if (!parts_.install_manager_grant) return unimplemented("this node cannot run a manager's etcd member");
  SHOAL_ASSIGN_OR_RETURN(Promoted p, fetch_promotion(m.managers, worker_tls, m.advertise_addr));
  Membership manager = m;
  manager.role = "manager";
  Status st = write_node_tls(parts_.certs_dir, p.tls);
  if (st.ok()) st = parts_.install_manager_grant(manager, p.grant);
  if (st.ok()) st = save_join_state(manager);
  if (st.ok() && parts_.persist) st = parts_.persist(manager);
  std::shared_ptr<Roles> old = st.ok() ? take_roles_for_change() : nullptr;
  if (!old) {
    (void)write_node_tls(parts_.certs_dir, worker_tls);  // nothing swapped: the worker goes on as it was
    if (parts_.persist) (void)parts_.persist(m);
    return st.ok() ? unavailable(kShuttingDown) : st;
  }
  old->stop(/*erase=*/false);  // containers keep running; the new agent adopts them
  auto roles = start_roles(manager, std::nullopt);
  if (roles.ok()) return adopt_roles(manager, std::move(*roles));
  // Back to the worker it was (the learner the manager added is removed
  // when it does not catch up).
  LOG_WARN("node", "starting the manager role failed (" << roles.status().message() << "); going on as a worker");
  (void)write_node_tls(parts_.certs_dir, worker_tls);
  (void)save_join_state(m);
  if (parts_.persist) (void)parts_.persist(m);
  auto back = start_roles(m, std::nullopt);
  if (back.ok()) (void)adopt_roles(m, std::move(*back));
  else (void)finish_start(back.status());
  return roles.status();
}

Status SwarmNode::demote_self(Membership m) {
  std::shared_ptr<Roles> cur;
  {
    std::lock_guard lk(mu_);
    cur = roles_;
  }
  if (!cur || !cur->manager || !cur->storage) return unavailable(api::kNotSwarmManager);
  Store& store = cur->manager->store();
  auto c = store.cluster();
  if (!c) return unavailable("the swarm's cluster object is not loaded yet");
  // A worker certificate for this node, while its etcd still serves the CA key.
  SHOAL_ASSIGN_OR_RETURN(std::string key, cur->storage->root_ca_key());
  SHOAL_ASSIGN_OR_RETURN(ca::NodeKeyAndCsr kc, ca::new_node_key_and_csr());
  SHOAL_ASSIGN_OR_RETURN(std::string cert, ca::sign_node_csr({c->root_ca_cert, key}, kc.csr_pem, m.node_id,
                                                             ca::kWorkerRole, c->id));
  Membership worker = m;
  worker.role = "worker";
  worker.managers = other_managers(store.nodes(), m.node_id);
  if (worker.managers.empty()) return failed_precondition("no other manager to go on with as a worker");
  Batch b;
  b.update_node(m.node_id, [&](Node& n) {
    if (n.spec.role != NodeRole::kWorker) return false;  // promoted again meanwhile
    n.manager_status.reset();
    n.updated_at = parts_.clock->now();
    return true;
  });
  SHOAL_RETURN_IF_ERROR(store.commit(b).with_context("recording the demotion"));
  std::shared_ptr<Roles> old = take_roles_for_change();
  if (!old) return unavailable(kShuttingDown);
  cur.reset();
  // Sessions and the manager first (the elector resigns: another manager
  // leads at once), then this member leaves etcd while its etcd still runs.
  if (old->listener) old->listener->stop();
  if (old->manager) old->manager->stop_sessions();
  if (old->agent) old->agent->stop();
  if (old->manager) old->manager->stop();
  Status removed = old->storage->remove_member(m.node_id);
  for (int i = 0; i < 3 && !removed.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // real etcd, real time: a retry of a live call
    removed = old->storage->remove_member(m.node_id);
  }
  if (!removed.ok()) {
    // Still a voting member: going on as a worker would leave a member that
    // never answers. Start the manager role again; the next heartbeat answer
    // tries the demotion again.
    LOG_WARN("node", "removing this manager's etcd member failed: " << removed.message() << "; staying a manager");
    old->stop(/*erase=*/false);
    auto back = start_roles(m, std::nullopt);
    if (back.ok()) (void)adopt_roles(m, std::move(*back));
    else (void)finish_start(back.status());
    return removed;
  }
  old->storage->destroy();  // its member data, etcd certificates and the data key
  old.reset();  // the executor goes; containers keep running, the worker's agent adopts them
  Status st = write_node_tls(parts_.certs_dir, NodeTls{c->root_ca_cert, cert, kc.key_pem});
  if (st.ok()) st = save_join_state(worker);
  if (st.ok() && parts_.persist) st = parts_.persist(worker);
  if (!st.ok()) LOG_WARN("node", "recording the demotion: " << st.message());
  auto roles = start_roles(worker, std::nullopt);
  if (!roles.ok()) return finish_start(roles.status());
  return adopt_roles(worker, std::move(*roles));
}

// --force-new-cluster keeps this manager's addresses (its etcd member's peer
// URL stays on its advertise address): a request naming others is refused,
// never ignored. ListenAddr 0.0.0.0:2377 (what the CLIs send by default) or
// empty keeps the current one.
static Status check_recovery_addresses(const Membership& m, const api::InitRequest& req) {
  const std::string host = m.advertise_addr.substr(0, m.advertise_addr.rfind(':'));
  if (!req.advertise_addr.empty() && swarm_address(req, host) != m.advertise_addr) {
    return invalid_argument("--force-new-cluster keeps this manager's advertise address " + m.advertise_addr +
                            " (its etcd member's peer URL): leave --advertise-addr out or give " + host +
                            "; change addresses by leaving and joining again");
  }
  if (!req.listen_addr.empty() && req.listen_addr != "0.0.0.0:2377" && req.listen_addr != m.listen_addr) {
    return invalid_argument("--force-new-cluster keeps this manager's listen address " +
                            (m.listen_addr.empty() ? std::string("0.0.0.0:2377") : m.listen_addr) +
                            ": leave --listen-addr out or give that one");
  }
  return ok_status();
}

// Refused while the other managers that answer make a quorum with this one
// (membership_rules.h check_force_new_cluster): the leader probe decides.
static Status check_quorum_lost(ManagerStorage& storage, Manager& manager, const std::string& self) {
  std::vector<Node> nodes = manager.store().nodes();
  std::set<std::string> voters;
  if (auto v = storage.voting_members(); v.ok()) {
    voters = std::move(*v);
  } else {  // etcd cannot list: the managers the store knows
    for (const auto& n : nodes) {
      if (n.spec.role == NodeRole::kManager && n.manager_status) voters.insert(n.id);
    }
  }
  std::set<std::string> answering;
  for (const auto& v : voters) {
    if (v != self && manager.manager_answers(v)) answering.insert(v);
  }
  return check_force_new_cluster(voters, answering, self, nodes);
}

// The request's Spec (checked by the API) over the recovered cluster's, as
// Docker merges an init request's non-empty fields into the existing spec.
static Status apply_recovery_spec(std::shared_ptr<Manager> mgr, Clock& clock, const api::InitRequest& req) {
  if (req.spec_json.empty()) return ok_status();
  if (!mgr) return unavailable(api::kNotSwarmManager);
  auto c = mgr->store().cluster();
  if (!c) return unavailable("the swarm's cluster object is not loaded yet");
  const nlohmann::json spec = nlohmann::json::parse(req.spec_json);
  Status applied = ok_status();
  Batch b;
  b.update_cluster(c->id, [&](Cluster& x) {
    applied = apply_swarm_spec(spec, x.spec);
    x.updated_at = clock.now();
    return applied.ok();
  });
  SHOAL_RETURN_IF_ERROR(mgr->store().commit(b));
  return applied;
}

Result<std::string> SwarmNode::force_new_cluster(const api::InitRequest& req) {
  std::optional<Membership> m;
  std::shared_ptr<Roles> cur;
  {
    std::lock_guard lk(mu_);
    if (phase_ != Phase::kActive) return refusal_locked();
    if (membership_->role != "manager") {
      return failed_precondition("--force-new-cluster recovers a swarm on one of its managers; this node is a worker");
    }
    m = membership_;
    cur = roles_;  // held: leave cannot free it meanwhile
  }
  SHOAL_RETURN_IF_ERROR(check_recovery_addresses(*m, req));
  if (!cur || !cur->manager || !cur->storage) return unavailable(api::kNotSwarmManager);
  SHOAL_RETURN_IF_ERROR(check_quorum_lost(*cur->storage, *cur->manager, m->node_id));
  cur.reset();
  std::shared_ptr<Roles> old = take_roles_for_change();
  if (!old) return unavailable(kShuttingDown);
  LOG_WARN("node", "swarm init --force-new-cluster: restarting this manager's etcd member as the only one");
  old->stop(/*erase=*/false);
  old.reset();
  Membership recover = *m;
  recover.force_new_cluster = true;
  auto roles = start_roles(recover, std::nullopt);
  if (!roles.ok()) {
    LOG_WARN("node", "--force-new-cluster failed: " << roles.status().message());
    auto back = start_roles(*m, std::nullopt);
    if (back.ok()) (void)adopt_roles(*m, std::move(*back));
    else (void)finish_start(back.status());
    return roles.status().with_context("recovering the swarm (--force-new-cluster)");
  }
  SHOAL_RETURN_IF_ERROR(adopt_roles(*m, std::move(*roles)));
  SHOAL_RETURN_IF_ERROR(apply_recovery_spec(manager(), *parts_.clock, req).with_context(
      "the swarm is recovered, but its Spec from the request was not applied (apply it with `swarm update`)"));
  return m->node_id;
}


}  // namespace shoal::node
