// Manager: the manager components of one node, built over an injected
// Backend and Clock: the store (cache over the backend), the dispatcher that
// agents hold sessions with, and the election that runs the control loops
// (orchestrator → allocator → scheduler, every write fenced) while this
// manager leads. shoald builds it over its etcd member; the benchmarks and the
// integration tests over a real etcd or a MemoryBackend, through this same
// class: there is one wiring of the manager, here.
//
// Thread safety: start() and stop() are called by the owner, not
// concurrently with each other; store(), dispatcher() and is_leader() may be
// called from any thread between them (and after stop(): the objects stay
// valid until the Manager is destroyed, calls just fail or see a stopped
// component).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "manager/dispatcher/dispatcher.h"
#include "manager/leader/elector.h"
#include "manager/leader/leader_probe.h"
#include "node/bootstrap.h"
#include "store/backend.h"
#include "store/store.h"

namespace shoal::orchestrator {
class ControlLoops;
}

namespace shoal::node {

struct ManagerConfig {
  std::string node_id;
  // The heartbeat period is taken from the cluster's spec when it has one.
  dispatcher::DispatcherOptions dispatcher;
  leader::ElectorOptions elector;  // candidate_id is set to node_id
  // This manager's node TLS (certificate, key, CA) for probing the leader
  // (fast failover, leader/leader_probe.h), read when first needed; unset
  // (in-process tests, benchmarks): no probe, the lease TTL alone deposes.
  std::function<std::optional<http::TlsOptions>()> peer_tls;
  // stop() cancels the backend's calls still in flight after this (a hung etcd).
  std::chrono::milliseconds stop_grace{2000};
};

class Manager {
 public:
  Manager(Backend& backend, Clock& clock, ManagerConfig config);
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // Loads the store and starts its watch; with `bootstrap`, creates the swarm
  // first (kFailedPrecondition if the backend already holds one); then starts
  // the dispatcher and the election. Call once. On error, what was started
  // is stopped again.
  Status start(const std::optional<SwarmBootstrap>& bootstrap = std::nullopt);
  // Revokes the leader lease (Elector::resign: the next leader, or this
  // node's next start, leads at once), then stops the store (waking the
  // loops' waits on it), the election (and with it the control loops) and
  // the dispatcher (answering parked long polls). Idempotent. Bounded even
  // when the backend hangs: after stop_grace its calls in flight are
  // cancelled (StopBound); a healthy etcd is never cancelled, and the revoke,
  // sent first, always has the whole grace. Each of stop_sessions() and
  // stop() has a bound of its own: a cancel in the first does not fail the
  // calls of the second.
  void stop();
  // Stops the dispatcher only (it answers the agents' parked long polls): the
  // first step of stopping a node, so its own agent is not left waiting.
  void stop_sessions();

  Store& store() { return *store_; }
  dispatcher::Dispatcher& dispatcher() { return *dispatcher_; }
  bool is_leader() const;
  // Whether manager `node_id`'s shoald answers now (LeaderProbe::alive, a
  // few hundred ms), for membership checks that must not trust a session key
  // that outlives its manager by a TTL. True when this manager has no probe
  // (no node certificate: tests, in-memory swarms).
  bool manager_answers(const std::string& node_id);

 private:
  void on_elected(const Fence& fence);
  void on_deposed();

  Backend& backend_;
  Clock& clock_;
  ManagerConfig config_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<dispatcher::Dispatcher> dispatcher_;
  std::unique_ptr<leader::LeaderProbe> probe_;  // before elector_: outlives it
  std::unique_ptr<leader::Elector> elector_;
  std::mutex loops_mu_;  // on_elected/on_deposed (elector thread) vs stop()
  std::unique_ptr<orchestrator::ControlLoops> loops_;
  bool stopped_ = false;  // stop() ran (owner's thread only)
};

}  // namespace shoal::node
