// LeaderProbe: the fast-failover probe of ElectorOptions (probe_leader,
// managers), over what managers already have: each manager's swarm listener
// (its address from the store's Node, ManagerStatus.Addr) and mutual TLS with
// this manager's node certificate. A probe is one GET of kProbePath with a
// short deadline, verifying that the answering certificate names the probed
// node (its id is a SAN of every node certificate): an answer (200) means
// that node's shoald runs its manager role, and so does 404 (a shoald older
// than this route, mid rolling upgrade: it answered, over mutual TLS, as
// that node, so it is alive; old versions cannot say whether their manager
// role runs, as they did not before the probe existed); a refused connection (the
// process is gone), a reset, a stalled handshake (paused, cut off), a
// deadline or another status are failures.
//
// The listener answers kProbePath on its I/O thread, never queued behind its
// worker pool (http::ServerOptions::inline_handler, wired in
// node/swarm_join.cc), so a leader whose workers are all held by joins and
// node sessions still answers: a busy leader is not deposed.
//
// Thread-safe: one client per address, kept (keep-alive) between probes.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "http/client.h"
#include "store/store.h"

namespace shoal::leader {

// The probe's route on every manager's swarm listener: GET, by a verified
// manager certificate only; 200 while the manager role runs, 503 when it
// does not (any more), 403 for anyone else.
constexpr char kProbePath[] = "/_shoal/leader/v1/probe";

class LeaderProbe {
 public:
  // tls: this manager's node certificate and key and the swarm's CA, read
  // when first needed (a swarm init issues them after the manager started);
  // nullopt: not available (yet), so every probe fails.
  LeaderProbe(Store& store, std::function<std::optional<http::TlsOptions>()> tls,
              std::chrono::milliseconds timeout = std::chrono::milliseconds(300));
  ~LeaderProbe();
  // True if manager `node_id` answered within the timeout.
  bool alive(const std::string& node_id);
  // The manager nodes of the swarm, for the majority.
  size_t managers() const;

 private:
  std::shared_ptr<http::Client> client_for(const std::string& node_id, const std::string& addr);
  Store& store_;
  std::function<std::optional<http::TlsOptions>()> tls_source_;
  std::chrono::milliseconds timeout_;
  std::mutex mu_;
  std::optional<http::TlsOptions> tls_;                           // guarded by mu_
  std::map<std::string, std::shared_ptr<http::Client>> clients_;  // node id + addr -> client; guarded by mu_
};

}  // namespace shoal::leader
