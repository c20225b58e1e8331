// SwarmNode: the composition root. It builds a node's roles from injectable
// parts and implements `swarm init` and `swarm leave` (api::SwarmControl),
// once for every host: shoald (etcd member + runc executor, src/daemon), the
// benchmarks and the integration tests (MemoryBackend or a real etcd, fake
// executor). The roles are
//   - the manager (node/manager.h: store, dispatcher, election, control
//     loops) over the Backend of a ManagerStorage the parts open, and
//   - the node's agent (src/agent) over the parts' Executor, talking to the
//     dispatcher at `dispatcher_endpoint` (the host serves serve_session()
//     there).
//
// Lifetimes. The roles of one membership live in one shared object: store()
// hands out pointers that share its ownership, and serve_session() holds it
// while it dispatches, so `swarm leave` never frees what a request in flight
// uses (such a request sees a stopped store: its writes fail, 503). init and
// leave hold no lock while they start etcd or stop containers: a node being
// initialized or leaving answers other init/leave calls with 503 and serves
// everything else meanwhile.
//
// Thread-safe. stop(), init() and leave() are bounded: long polls, client
// requests and waits are cancelled, not waited out.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "agent/agent.h"
#include "agent/executor.h"
#include "common/clock.h"
#include "http/message.h"
#include "manager/api/swarm_control.h"
#include "node/join.h"
#include "node/manager.h"

namespace shoal::http {
class Server;
}

namespace shoal::node {

// This node's place in a swarm, as the host persists it.
struct Membership {
  std::string node_id;
  std::string role = "manager";  // manager | worker
  std::string advertise_addr;    // "ip:port"
  // Kept by the node itself in NodeParts::certs_dir (join.json), not by
  // `persist`: where a manager listens for joins and sessions, and the
  // managers a worker's agent holds its session with.
  std::string listen_addr;            // managers: "ip:port" of the swarm listener
  std::vector<std::string> managers;  // workers: "ip:port" of every manager
  // Not persisted: the next open_storage of this membership recovers a swarm
  // that lost quorum (etcd --force-new-cluster on its data: this member the
  // only one). Set by force_new_cluster().
  bool force_new_cluster = false;
};

// The backing store of this node's manager: shoald's etcd member and its
// client, or a MemoryBackend in tests.
class ManagerStorage {
 public:
  virtual ~ManagerStorage() = default;
  virtual Backend& backend() = 0;
  // Stops it, keeping its data (a restarted node rejoins with it). Idempotent.
  virtual void stop() = 0;
  // Stops it and erases its data (the node left the swarm).
  virtual void destroy() = 0;
  // The swarm's join tokens, kept apart from the objects the store lists.
  // shoald's etcd storage seals them at rest (src/daemon/manager_role.h);
  // this default keeps them in memory, for the in-memory storages of tests.
  // Thread-safe.
  virtual Result<JoinTokens> join_tokens();
  virtual Status set_join_tokens(const JoinTokens& tokens);
  // The root CA's private key (PEM), for signing joining nodes' certificates.
  // shoald's storage keeps it sealed in etcd; this default has none
  // (kNotFound), so in-memory storages cannot admit nodes.
  virtual Result<std::string> root_ca_key();
  // Admits a manager joining through this one (node/join.h ManagerGrant):
  // signs its etcd CSRs, adds its etcd member as a learner, promotes it once
  // it has caught up (in the background), and hands out the data key. One
  // membership change at a time: kUnavailable while one is in progress. This
  // default (in-memory storages) cannot: kUnimplemented. Thread-safe.
  virtual Result<ManagerGrant> admit_manager(const ManagerAdmission& a);
  // Undoes a successful admit_manager for `node_id` whose admission failed
  // afterwards (its Node could not be recorded): its learner is removed, not
  // promoted. This default: nothing to undo. Thread-safe.
  virtual void abandon_manager(const std::string& node_id);
  // The names (node ids) of the voting members of this storage's etcd
  // cluster. This default (in-memory storages): kUnimplemented, and the
  // manager status then goes by session keys alone. Thread-safe.
  virtual Result<std::set<std::string>> voting_members();
  // Whether the etcd cluster lists a learner (a manager joining or being
  // promoted: a membership change in progress). This default (in-memory
  // storages): false. Thread-safe.
  virtual Result<bool> has_learner();
  // Removes the etcd member named `node_id` (a demoted manager's). A name
  // that is no member: ok. This default (in-memory storages): ok, nothing to
  // remove. Thread-safe.
  virtual Status remove_member(const std::string& node_id);
  // The swarm's data key (manager/ca/sealed.h), that seals what the store
  // keeps secret (a service's registry credentials). shoald's storage: the
  // seal key every manager of the swarm shares. This default (in-memory
  // storages): a random key made on first use, kept in memory. Thread-safe.
  virtual Result<std::string> data_key();

 private:
  std::mutex tokens_mu_;
  std::optional<JoinTokens> tokens_;
  std::string data_key_;  // guarded by tokens_mu_; the default data_key()
};

// Whether the node `node_id` (a manager-join's certificate CN) may be
// admitted as a new manager: kPermissionDenied when it was removed from the
// swarm (Cluster removed_nodes, not yet expired at `now`), kAlreadyExists
// when `store` has a Node with that id (a worker registered with it, or a
// manager admitted before). Reads the store's cache; thread-safe.
Status check_new_manager(const Store& store, const std::string& node_id, Time now);

// The stale-voter cleanup's view of the swarm (SwarmNode::voter_view; its
// rule is manager/etcd/learner_janitor.h plan_stale_voter_removal).
struct VoterView {
  std::map<std::string, bool> wants_manager;  // node id -> its spec.role is manager
  std::set<std::string> answering;            // managers that answer the leader probe now
  std::set<std::string> down;                 // Nodes that are Down (their agent's session is gone)
};

struct NodeParts {
  Clock* clock = nullptr;  // required; outlives the SwarmNode
  // Opens (creating on first use) the backing store for a manager of `m`.
  // `fresh` (swarm init; null on rejoin): the new swarm's credentials, whose
  // root CA may secure the storage (shoald issues its etcd certificates);
  // data an earlier swarm left behind is erased first.
  std::function<Result<std::unique_ptr<ManagerStorage>>(const Membership& m, const SwarmCredentials* fresh)>
      open_storage;
  // The executor this node's agent runs tasks with.
  std::function<std::unique_ptr<agent::Executor>(const Membership& m)> make_executor;
  // Where the agent reaches the manager's dispatcher (served by serve_session()).
  std::string dispatcher_endpoint;
  // Records the membership (nullopt: the node left). Optional; init fails
  // (and undoes itself) if it fails.
  std::function<Status(const std::optional<Membership>&)> persist;
  // What the node reports about itself (hostname, resources). Optional.
  std::function<NodeDescription()> describe;
  std::function<api::LocalInfo()> local_info;  // optional
  std::string default_advertise_addr;           // when init gives none
  // A manager joining: stores its etcd material (certificates, its own
  // keys, the data key, the initial cluster) where open_storage(m, nullptr)
  // then finds it to start an etcd member that joins the existing cluster.
  // Optional; without it a join with the manager token fails (kUnimplemented).
  std::function<Status(const Membership& m, const ManagerGrant& grant)> install_manager_grant;
  // This node's swarm TLS files and join.json (src/node/join.h), e.g.
  // <data-root>/swarm-tls. Empty (in-process tests): managers open no swarm
  // listener and the node cannot join a swarm.
  std::string certs_dir;
  ManagerConfig manager;                        // node_id is filled in
  agent::AgentOptions agent;                    // dispatcher, node_id, addr, description filled in
  std::optional<SwarmCredentials> credentials;  // injected for tests; created when absent
};

class SwarmNode : public api::SwarmControl {
 public:
  explicit SwarmNode(NodeParts parts);
  ~SwarmNode() override;  // stop()
  SwarmNode(const SwarmNode&) = delete;
  SwarmNode& operator=(const SwarmNode&) = delete;

  // Starts the roles of a membership the host recorded (shoald restarting).
  Status rejoin(const Membership& m);
  // Stops the roles, keeping the membership and the data (shoald shutting
  // down; containers keep running). Bounded.
  void stop();

  // api::SwarmControl
  Result<std::string> init(const api::InitRequest& req) override;
  Status join(const api::JoinRequest& req) override;  // swarm_join.cc
  Status leave(bool force) override;
  bool active() const override;
  std::string node_id() const override;
  std::shared_ptr<Store> store() override;
  api::LocalInfo local_info() const override;
  Result<JoinTokens> join_tokens() override;
  Status set_join_tokens(const JoinTokens& tokens) override;
  // With the manager storage's data_key(); kUnavailable when not a manager.
  Result<std::string> seal_registry_auth(const std::string& plain, const std::string& context) override;
  std::map<std::string, ManagerStatus> live_manager_statuses(const std::vector<Node>& nodes) override;
  // Promote/demote (role_change.cc, docs/cluster.md "Managers"): checked
  // with node/membership_rules.h and stored; the node changes its role when
  // its agent's heartbeat answer names the new one. A demoted manager that is
  // not reachable cannot do that itself: its etcd member is removed here and
  // its Node stored as a worker at once.
  Status change_role(Store& store, const Node& current, const Node& next) override;
  // The stale-voter cleanup's view (role_change.cc), while this node leads:
  // each Node's wanted role, the managers that answer the leader probe now
  // (this one included) and the Nodes that are Down; nullopt when it does
  // not lead.
  // Holds the roles while it runs: called from the storage's janitor, which
  // Roles::stop() joins before the roles go (never their last holder).
  std::optional<VoterView> voter_view();
  // The cleanup removed node `id`'s etcd member: a worker's manager status
  // goes (its demote is done). Logged on failure.
  void stale_voter_removed(const std::string& id);
  // Quorum-loss recovery: restarts this manager's roles on its etcd data
  // with --force-new-cluster. kFailedPrecondition when this node is no manager.
  Result<std::string> force_new_cluster(const api::InitRequest& req) override;

  // Serves the agent session protocol (paths under session::kPrefix) with
  // this node's dispatcher; 503 when the node is not a manager.
  void serve_session(http::Exchange ex);

  // The manager while this node is one (shared: safe to keep), else null.
  std::shared_ptr<Manager> manager();

  struct Roles;  // internal

 private:
  // kChanging: a promotion, demotion or recovery swaps the roles.
  enum class Phase { kInactive, kStarting, kActive, kChanging, kLeaving, kStopped };
  Result<std::shared_ptr<Roles>> start_roles(const Membership& m, const std::optional<SwarmBootstrap>& bootstrap);
  // Begins init or rejoin: kInactive to kStarting, or says why not.
  Status begin_start();
  // Ends a failed init or rejoin: kStarting back to kInactive (unless
  // stop() came meanwhile); returns `failure`.
  Status finish_start(Status failure);
  // Ends a successful start: the node becomes active with `roles`, or, when
  // stop() came meanwhile, the roles are stopped (outside mu_) and the
  // answer is kUnavailable.
  Status adopt_roles(const Membership& m, std::shared_ptr<Roles> roles);
  // A manager's swarm listener (TLS at m.listen_addr): joins (join.h) and
  // the sessions of other nodes, whose identity is their certificate's.
  // swarm_join.cc.
  // null when there is no certs dir.
  Result<std::unique_ptr<http::Server>> open_swarm_listener(Manager& manager, const Membership& m,
                                                            const std::optional<SwarmBootstrap>& bootstrap);
  // join.json in the certs dir: the membership's listen_addr and managers.
  Status save_join_state(const Membership& m) const;
  void load_join_state(Membership& m) const;
  // Leaving: the node's certificate, key and join.json go (a node that joins
  // again is a new node with a new certificate).
  void remove_swarm_tls() const;
  // The storage's root CA key while this node is a manager.
  Result<std::string> root_ca_key();
  // Serving a manager join: the storage admits it, then its Node (role
  // manager) is recorded.
  Result<ManagerGrant> admit_manager(Manager& manager, const ManagerAdmission& a);
  void serve_swarm(http::Exchange ex);
  // The agent's way to its managers: this manager's own unix socket, or
  // for a worker, TLS to m.managers with its certificate.
  Status agent_transport(const Membership& m, agent::AgentOptions& ao) const;
  // Why init/leave cannot run in the current phase (mu_ held).
  Status refusal_locked() const;

  // role_change.cc. The agent's on_role: a heartbeat answer named `role`,
  // not this node's. Starts role_thread_ unless a change runs; returns at once.
  void on_role(const std::string& role);
  // role_thread_: waits for on_role's requests and runs change_own_role.
  void role_loop();
  // Becomes a manager (promote_self) or a worker (demote_self).
  void change_own_role(const std::string& role);
  Status promote_self(Membership m);
  Status demote_self(Membership m);
  // Takes the roles out for a swap (phase kChanging); null when the node is
  // not active (stop() or leave came first).
  std::shared_ptr<Roles> take_roles_for_change();
  // Serving a promotion (join.h manager-promote): the node must be one whose
  // role was set to manager and is not one yet.
  Result<Promotion> promote_manager(Manager& manager, const ManagerAdmission& a, const std::string& node_csr);

  NodeParts parts_;
  JoinTokenCache token_cache_;  // the join path's unsealed tokens (src/node/join.h); thread-safe itself
  mutable std::mutex mu_;  // guards the fields below; never held across slow work
  Phase phase_ = Phase::kInactive;
  std::optional<Membership> membership_;
  std::shared_ptr<Roles> roles_;
  bool role_changing_ = false;  // guarded by mu_: a change is asked for or runs
  std::string wanted_role_;     // guarded by mu_: the change role_loop is to make next
  std::condition_variable role_cv_;  // with mu_: a change is asked for, or stop()
  // Runs role_loop until stop(), which joins it. One thread for the node's
  // life: etcd members it starts get SIGTERM when their parent thread ends
  // (PR_SET_PDEATHSIG is per thread), so it must outlive them.
  std::thread role_thread_;
};

}  // namespace shoal::node
