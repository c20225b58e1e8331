// Agent: the node's end of the session with a manager's dispatcher
// (model/session_messages.h). It registers the node, sends heartbeats,
// long-polls the node's assignment set into the Worker, and sends the
// worker's status reports in batches, retrying until the manager stored them.
// If the session is lost (manager restarted), it registers again.
// Thread-safe; start() returns at once and the agent keeps trying to connect.
// stop() is bounded: it cancels the requests in flight (long poll included)
// and waits only for the worker's executor calls in progress. An Agent is
// started once: after stop() its client refuses requests.
#pragma once

#include <atomic>
#include <functional>
#include <vector>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "agent/executor.h"
#include "agent/worker.h"
#include "common/clock.h"
#include "http/client.h"
#include "model/session_messages.h"

namespace shoal::agent {

struct AgentOptions {
  std::string dispatcher;  // endpoint, e.g. "unix:///run/shoal/shoal.sock" or "https://10.0.0.1:2377"
  http::TlsOptions tls;    // for an https:// dispatcher: the node's certificate and the swarm CA
  // Workers: "ip:port" of every manager (the first is `dispatcher`'s). When
  // registering fails the agent tries the next one (same scheme as
  // `dispatcher`, with `tls`);
  // the register (and heartbeat) answer's list replaces this one, and
  // on_managers (optional, called on the agent's threads, one call at a
  // time) is told of every change. An agent whose session calls get no
  // answer (or a 503) registers with the next manager of the list.
  std::vector<std::string> managers;
  std::function<void(const std::vector<std::string>&)> on_managers;
  // The role this node runs as ("manager" | "worker"). A heartbeat answer
  // naming another role (the node was promoted or demoted) calls on_role
  // (optional) with it, on the heartbeat thread, at every such answer until
  // the agent is replaced: on_role must return at once (start the change
  // elsewhere) and tolerate repeats.
  std::string role;
  std::function<void(const std::string&)> on_role;
  std::string node_id;
  std::string addr;
  NodeDescription description;
  WorkerOptions worker;
  // How long status reports gather before they are sent together.
  std::chrono::milliseconds status_coalesce{25};
};

class Agent {
 public:
  Agent(Executor& executor, Clock& clock, AgentOptions options);
  ~Agent();
  void start();
  void stop();
  bool registered() const { return !session_id().empty(); }
  Worker& worker() { return worker_; }

 private:
  std::string session_id() const;
  bool ensure_session();
  void assignments_loop();
  void heartbeat_loop();
  void status_loop();
  void report(const std::string& task_id, const TaskStatus& status);
  void invalidate_session(const std::string& sid);
  // The client of the manager the agent talks to now (shared: a request in
  // flight keeps its client while another manager is chosen).
  std::shared_ptr<http::Client> client() const;
  // After a failed registration: the next manager of the list, if any.
  void next_manager();
  // A session call on `failed` got no answer (connection refused, reset,
  // timed out) or a 503: the manager is gone or no manager any more. Drops
  // the session and moves to the next manager (ensure_session registers
  // there). Does nothing when another thread already moved off `failed`, so
  // the heartbeat and assignment threads failing together move once.
  void lose_manager(const std::shared_ptr<http::Client>& failed);
  std::string scheme() const;  // the dispatcher endpoint's, e.g. "https://"
  // A heartbeat answer's "Managers" (when present) replace the list;
  // on_managers is told of a change.
  void heartbeat_managers(const std::string& body);
  void tell_managers(const std::vector<std::string>& managers);  // on_managers, under on_managers_mu_
  // The register answer's managers; returns whether they changed.
  bool update_managers(const std::vector<std::string>& managers);

  Executor& executor_;
  Clock& clock_;
  AgentOptions options_;
  Worker worker_;

  mutable std::mutex mu_;
  std::mutex on_managers_mu_;  // serializes on_managers; never held with mu_
  std::condition_variable cv_;
  // status_loop's wait for reports: report() wakes only that thread (on cv_
  // every report woke the heartbeat and assignment threads too).
  std::condition_variable status_cv_;
  std::string session_id_;
  std::shared_ptr<http::Client> client_;
  std::vector<std::string> managers_;
  size_t manager_index_ = 0;
  std::chrono::nanoseconds heartbeat_period_{std::chrono::seconds(5)};
  std::unordered_map<std::string, TaskStatus> pending_;  // newest unsent status per task
  std::atomic<bool> stopping_{false};
  std::thread assignments_thread_;
  std::thread heartbeat_thread_;
  std::thread status_thread_;
};

}  // namespace shoal::agent
