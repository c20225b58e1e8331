// SessionPresence: which nodes hold a session with some manager, visible to
// every manager through the backend. A dispatcher publishes
// /shoal-sessions/<node id> -> its own owner id for each session it opens,
// under one etcd lease of its own that it keeps alive while it runs; the key
// goes when the session ends (withdraw) or, if the manager dies, when the
// lease expires. The leader reads the prefix (holders()) to tell a node whose
// session lives on another manager from one with no session anywhere.
//
// Liveness signal only, never a lock (design: etcd leases). Thread-safe: one
// mutex serialises the calls, each of which may wait on the backend (bounded
// by its request timeouts); call none of them while holding a lock that a
// backend callback could need.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>

#include "common/result.h"
#include "store/backend.h"

namespace shoal::dispatcher {

inline constexpr const char* kSessionPrefix = "/shoal-sessions/";

class SessionPresence {
 public:
  // `owner` names this dispatcher in the keys (unique per dispatcher run);
  // `ttl` is the lease's time to live (at least 1 s).
  SessionPresence(Backend& backend, std::string owner, std::chrono::seconds ttl);

  // Publishes `node`'s session (granting the lease on first use). On an
  // error the key is written again at each keepalive until it is in.
  Status publish(const std::string& node);
  // Removes `node`'s key if this dispatcher still owns it (a session that
  // moved to another manager keeps that manager's key).
  Status withdraw(const std::string& node);
  // Keeps the lease alive; a lease that is gone (expired while etcd was
  // unreachable) is granted again and every published key written again.
  // After set_ttl() changed the TTL, grants a lease with the new one, writes
  // every key again under it and then revokes the old lease (kept alive
  // until every key has moved, so no key lapses meanwhile).
  Status keepalive();
  // The lease TTL from the next keepalive() on (at least 1 s): the heartbeat
  // period changed (etcd cannot change a granted lease's TTL). Never blocks
  // (callable from a store event callback).
  void set_ttl(std::chrono::seconds ttl);
  // How many publish() calls wait for the call holding the backend to finish
  // (they are then written together, in one transaction).
  size_t queued();
  // The nodes that hold a session on any manager now.
  Result<std::set<std::string>> holders();
  // Of those, the nodes whose key another dispatcher owns (the node
  // registered with another manager since it registered here).
  Result<std::set<std::string>> held_elsewhere();
  // This dispatcher stops: revokes its lease, so its keys go at once (a
  // lease left to expire can outlive the next leader's grace: etcd, restarted
  // with shoald, gives every lease its whole TTL again). Best effort.
  void close();
  // The first step of close(), from the caller's thread without waiting for
  // a call in flight (a keepalive stuck on a hung etcd holds mu_): revokes
  // the lease now, while the stop's grace lasts, and no lease is granted
  // again. close() then forgets the rest (and revokes only a lease this
  // did not).
  void revoke();

 private:
  Status ensure_lease_locked();
  Status change_ttl_locked();     // keepalive()'s step after set_ttl()
  void take_queued_locked();  // moves queued_ into nodes_ and pending_
  Status flush_locked();
  void set_retiring_locked(int64_t lease);  // retiring_ and retiring_seen_

  Backend& backend_;
  const std::string owner_;
  std::chrono::seconds ttl_;                 // guarded by mu_: of lease_, or of the next grant
  std::atomic<int64_t> wanted_ttl_s_;        // set_ttl()'s, applied by keepalive()
  int64_t retiring_ = 0;                     // guarded by mu_: the lease before a TTL change, 0: none
  std::mutex mu_;
  int64_t lease_ = 0;              // guarded by mu_; 0: none granted yet
  // Lock order: mu_, then lease_mu_; revoke() takes lease_mu_ alone.
  std::mutex lease_mu_;
  bool closed_ = false;            // guarded by lease_mu_: revoke() ran, grant no lease
  int64_t granted_ = 0;            // guarded by lease_mu_: lease_ as revoke() sees it
  int64_t revoked_ = 0;            // guarded by lease_mu_: the lease revoke() revoked
  int64_t retiring_seen_ = 0;      // guarded by lease_mu_: retiring_ as revoke() sees it
  int64_t revoked_retiring_ = 0;   // guarded by lease_mu_: the retiring lease revoke() revoked
  std::set<std::string> nodes_;    // guarded by mu_: published by this dispatcher
  std::set<std::string> pending_;  // guarded by mu_: of nodes_, the keys not written yet
  // Lock order: mu_, then queue_mu_ (publish takes queue_mu_ alone first).
  std::mutex queue_mu_;
  std::set<std::string> queued_;   // guarded by queue_mu_: published, not yet taken under mu_
};

}  // namespace shoal::dispatcher
