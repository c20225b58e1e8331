// Dispatcher: the manager end of agent sessions (session_messages.h).
//
// - register: marks the node Ready (creating it as a worker if unknown) and
//   opens a session;
// - heartbeats: a node that misses 3 heartbeat periods is marked Down, which
//   makes the orchestrator replace its tasks (Swarm's rule);
// - assignments: long polls answered when the set of tasks assigned to the
//   node changes in a way the agent cares about (a task added or removed, or
//   its desired state changed), so status reports don't echo back; the
//   answer carries only the changes since the agent's generation
//   (AssignmentLog);
// - status: reports from all sessions are coalesced into few store batches;
//   a task's observed state only moves forward.
// Liveness is checked on the status writer's thread: the heartbeat timer
// only posts the check there. The check runs when it is due, not on a fixed
// tick: at the earliest moment a session's 3 periods run out (+1 ms) or a
// grace ends, at least once per period (the presence keepalive), and every
// recheck_period() while a Down must be judged again (a session key that
// may be a dead manager's, a failed Down write). So a node is Down within
// ~1 ms of its limit, not up to a period later.
// The heartbeat period is the Cluster's Dispatcher.HeartbeatPeriod: a change
// (`swarm update --dispatcher-heartbeat`) applies at once here (limits, the
// next check) and reaches the agents with their next heartbeat answer.
// After a manager restart or a leader change, a node the store says is Ready
// may never open a session again: begin_grace() (called on election) gives
// each one heartbeat_period × missed_heartbeats to hold a session here or on
// another manager (SessionPresence), then marks it Down (Swarm's rule).
// Long polls: a parked poll whose client hangs up (Exchange::on_client_gone:
// the connection closed or reset, or the server stopped) is dropped at once,
// so an agent that opens and drops polls in a loop holds nothing here; a
// poll from a caller that cannot tell (in-process) keeps its place until
// long_poll_timeout. A parked poll holds no session or store state.
// Thread-safe. serve() never blocks on a long poll. Every call is answered:
// after stop() (and for polls parked when it came) with a 503.
// The dispatcher subscribes to the store before it seeds its view of the
// assignments, and the store announces every change a watch gap hid
// (store.h), so no task assigned to a node is missing from its answers.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

#include "common/clock.h"
#include "manager/dispatcher/assignment_log.h"
#include "manager/dispatcher/session_presence.h"
#include "manager/dispatcher/stop_holds.h"
#include "http/message.h"
#include "model/session_messages.h"
#include "store/store.h"

namespace shoal::dispatcher {

struct DispatcherOptions {
  Nanos heartbeat_period = std::chrono::seconds(5);
  int missed_heartbeats = 3;
  std::chrono::milliseconds long_poll_timeout{25000};
  std::chrono::milliseconds status_flush_delay{5};  // gather reports this long before writing
  // Unseals service `service_id`'s Service::registry_auth_sealed for the
  // assignments of the nodes running its tasks (never any other node's).
  // Unset: those services' tasks are sent without credentials. Called from
  // any thread.
  std::function<Result<std::string>(const std::string& sealed, const std::string& service_id)> unseal_registry_auth;
  // How long a task stopped on purpose may wait for every node to drop it
  // from DNS and its VIP rotations before its node is told to stop it
  // (stop_holds.h).
  StopHolds::Options stop_holds;
};

class Dispatcher {
 public:
  Dispatcher(Store& store, Clock& clock, DispatcherOptions options = {});
  ~Dispatcher();
  void start();
  void stop();

  // Handles a request whose path starts with session::kPrefix, from a
  // trusted local transport (the unix socket in the data root, in-process
  // tests): the caller is the node its register body names.
  void serve(http::Exchange ex);
  // The same for a caller whose identity a verified certificate proved
  // (`peer_node`, the certificate's CN; non-empty): it registers as that
  // node whatever its body says (another NodeID there is a 403), and its
  // heartbeats, polls and status reports are refused (403) for a session
  // of another node. Status reports only ever apply to tasks assigned to
  // the session's node.
  void serve(http::Exchange ex, const std::string& peer_node);

  size_t session_count() const;
  // Long polls parked now, of all nodes (for tests and metrics).
  size_t parked_polls() const;
  // No liveness check is due or running now (thread-safe). With a FakeClock,
  // a test that waits for this after each advance() sees every check run at
  // the time it moved to, however late the status writer's thread is.
  bool liveness_settled();

  // This manager became the leader: every node the store says is Ready now
  // gets heartbeat_period × missed_heartbeats to hold a session (on any
  // manager); the liveness check marks one that holds none by then Down.
  void begin_grace();
  // This manager is no longer the leader: the grace begin_grace() gave ends
  // without marking anyone Down (the next leader gives its own).
  void end_grace();

 private:
  struct Session {
    std::string node_id;
    SysTime last_heartbeat;
    // The node's store revision once its register's Ready had committed: a
    // Down written at a higher revision while the session is open ends it.
    int64_t ready_revision = 0;
  };
  struct Waiter {
    uint64_t since;
    http::Responder respond;
    std::chrono::steady_clock::time_point deadline;
    uint64_t id = 0;  // names it for drop_waiter
  };
  struct PendingStatus {
    std::vector<session::StatusUpdate> updates;
    http::Responder respond;
  };

  void handle_register(http::Exchange& ex, const std::string& peer);
  void handle_heartbeat(http::Exchange& ex, const std::string& peer);
  void handle_assignments(http::Exchange& ex, const std::string& peer);
  void handle_status(http::Exchange& ex, const std::string& peer);
  void on_store_event(const StoreEvent& e);
  void notifier_loop();
  void status_loop();
  // The liveness timer's callback: only posts the check to status_loop (a
  // timer callback must not block the clock's one thread on a store write).
  void post_liveness_check();
  void check_liveness();
  // The heartbeat period in force (the Cluster's, once seen). Any thread.
  Nanos period() const { return Nanos(period_ns_.load()); }
  // How long a node may stay silent: period() × missed_heartbeats.
  Nanos limit() const { return period() * options_.missed_heartbeats; }
  // How soon a Down that must be judged again is looked at: period()/5,
  // within [100 ms, 1 s].
  Nanos recheck_period() const;
  // A Cluster change: applies a new Dispatcher.HeartbeatPeriod.
  void on_cluster(const Cluster& c);
  // When the next liveness check is due, from `now` (see the class comment).
  // Takes mu_.
  Nanos next_check_in(SysTime now, bool recheck);
  // Replaces the pending liveness timer with one `in` from now (none once
  // stopping). Takes mu_, but never cancels under it. Status writer only.
  void arm_liveness(Nanos in);
  // Nodes whose grace ended with no session here or on another manager.
  std::vector<std::string> graceless_nodes(SysTime now);
  // Recomputes every node's network view (outside mu_, which `lk` holds on
  // entry and exit) and gives each node whose view changed a new generation.
  void refresh_network_views(std::unique_lock<std::mutex>& lk);
  // Tells the nodes of the held stops that are due now (StopHolds) to stop
  // them. Under mu_.
  void release_stops_locked();
  // The answer for an agent of `node_id` holding generation `since`.
  http::Response assignment_response(const std::string& node_id, uint64_t since);
  // Unseals `sealed` (service id -> sealed credentials) into set.registry_auth.
  void add_registry_auth(const std::map<std::string, std::string>& sealed, session::AssignmentSet& set);
  std::string session_node(const std::string& session_id);
  // session_node(), answering 404 (unknown) or 403 (another node's session,
  // when `peer` is set) itself; "" when it answered.
  std::string session_node_for(http::Exchange& ex, const std::string& session_id, const std::string& peer);
  // Answers 403 and returns true when `node_id` was removed with `node rm`
  // and its certificate would still be valid (Cluster::removed_nodes).
  bool refuse_removed(http::Exchange& ex, const std::string& node_id, SysTime now);
  // After a register's commit: refuse_removed() from the cache then current
  // up to that commit, deleting the node again when a `node rm` raced it.
  bool undo_if_removed(http::Exchange& ex, const std::string& node_id, SysTime now);
  // A node seen Down at a revision above its session's ready_revision (a
  // liveness Down that landed just after its register's Ready): drops that
  // session, so the agent's next call is a 404 and it registers (and is
  // Ready) again; heartbeats alone would never undo the Down. Takes mu_.
  // True when a session was dropped.
  bool drop_if_down_after(const Node& n, int64_t revision);
  bool stopped() const;
  // Every manager's swarm address (ManagerStatus.Addr), from the cache. With
  // `fresh` false, the list computed at most a second ago: heartbeats carry
  // it (agents that registered before a manager joined learn of it, to fail
  // over to) without a walk over every node per heartbeat. Takes managers_mu_.
  std::vector<std::string> manager_addrs(bool fresh);
  // A parked poll's client went away: forgets its Waiter (if not answered
  // yet). Takes mu_.
  void drop_waiter(const std::string& node, uint64_t id);

  Store& store_;
  Clock& clock_;
  DispatcherOptions options_;

  mutable std::mutex mu_;
  std::unordered_map<std::string, Session> sessions_;
  std::unordered_map<std::string, AssignmentLog> assignments_;            // node -> its changes
  std::unordered_map<std::string, std::pair<std::string, int>> task_view_;  // task -> (node, desired)
  std::unordered_map<std::string, std::vector<Waiter>> waiters_;          // node -> long polls
  uint64_t last_waiter_id_ = 0;
  std::set<std::string> dirty_nodes_;
  // Network views (network_views.h): recomputed by the notifier at most
  // every kViewInterval while networks_dirty_; a node whose view changed
  // gets a new generation. Guarded by mu_.
  static constexpr std::chrono::milliseconds kViewInterval{100};  // DNS follows changes within ~0.1 s
  bool networks_dirty_ = true;
  bool views_ready_ = false;  // the first refresh ended: views_ may be sent
  std::chrono::steady_clock::time_point views_at_{};
  std::unordered_map<std::string, session::NetworkView> views_;
  int64_t views_revision_ = 0;    // the store revision views_ were built from
  StopHolds holds_;               // stops held until the nodes' views drop the task
  bool acks_arrived_ = false;     // a poll came while holds_ held something: the notifier checks them
  std::map<std::string, SysTime> grace_;  // node -> end of its grace (begin_grace)
  // Nodes that began a register here since begin_grace: alive, never marked
  // Down by the grace (a register whose Ready lands just before the grace's
  // Down write). A leaf lock: held around nothing else.
  std::mutex grace_mu_;
  std::set<std::string> registered_since_grace_;
  std::set<std::string> down_pending_;  // nodes whose node-down write failed: retried by check_liveness
  std::condition_variable notify_cv_;

  std::mutex managers_mu_;  // a leaf lock: manager_addrs' cache
  std::vector<std::string> managers_cache_;
  SysTime managers_at_{};

  std::mutex status_mu_;
  std::condition_variable status_cv_;
  std::deque<PendingStatus> status_queue_;
  bool liveness_due_ = false;  // guarded by status_mu_: the timer fired, status_loop checks
  bool liveness_running_ = false;  // guarded by status_mu_: status_loop is in check_liveness

  SessionPresence presence_;  // thread-safe itself; never called under mu_
  const std::chrono::seconds presence_ttl_;
  std::atomic<int64_t> period_ns_;  // the heartbeat period in force (period())
  SysTime last_keepalive_{};        // status writer only: the presence keepalive's last run
  bool stopping_ = false;
  uint64_t subscription_ = 0;
  Clock::TimerId liveness_timer_ = 0;
  std::thread notifier_;
  std::thread status_writer_;
};

}  // namespace shoal::dispatcher
