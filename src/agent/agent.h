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

  Clock& clock_;
  AgentOptions options_;
  http::Client client_;
  Worker worker_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string session_id_;
  std::chrono::nanoseconds heartbeat_period_{std::chrono::seconds(5)};
  std::unordered_map<std::string, TaskStatus> pending_;  // newest unsent status per task
  std::atomic<bool> stopping_{false};
  std::thread assignments_thread_;
  std::thread heartbeat_thread_;
  std::thread status_thread_;
};

}  // namespace shoal::agent
