// Elector: leader election over the Backend (etcd), Kubernetes-style.
//
// A candidate holds a lease (TTL `lease_ttl`) and tries to create the leader
// key bound to it; whoever created it leads, and the key's create_revision is
// the fencing token (store.h Fence) that every control-loop write compares, so
// a deposed leader cannot write even if it still believes it leads. The lease
// is a liveness signal only: if keepalives fail for a TTL the key vanishes
// and another manager takes over. on_elected / on_deposed run on the
// elector's thread, in order, never concurrently.
//
// A create whose response was lost (timeout) may have applied: a leader key
// that holds this candidate's id under its current lease is ours, and taken
// as acquired (its create_revision is the fence), so a lost response never
// leaves the swarm leaderless while we keep that lease alive.
// Time (the lease TTL since the last good keepalive) comes from the Clock.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "store/backend.h"
#include "store/store.h"

namespace shoal::leader {

struct ElectorOptions {
  std::string key = "/shoal/leader";
  std::string candidate_id;  // node id
  // Failover time after the leader dies: the lease's remaining TTL (plus,
  // when its etcd led too, etcd's new raft leader re-granting every lease a
  // full TTL + one election timeout) + up to one retry_interval of the
  // followers. 5 s: keepalives go every TTL/3, so a leader on a loaded
  // machine (a 2-core CI running tests beside etcd's fsyncs) misses two in a
  // row before it loses the key; 2 s deposed healthy leaders there. Today's
  // failover (~13 s, docs/cluster.md) is etcd's request timeout on calls in
  // flight at the kill, not the TTL: shortening the TTL waits on that fix.
  int64_t lease_ttl_seconds = 5;
  // A follower's round: try the key, keep its own lease alive.
  std::chrono::milliseconds retry_interval{250};

  // Fast failover (docs/architecture.md "Leader failover"). A dead leader's
  // lease outlives it by a TTL (and etcd's new raft leader renews every lease
  // when it takes over), so with probe_leader set a follower asks the leader
  // itself, once a round, whether it is alive (true: it answered; the probe
  // bounds its own time). After failed probes in a row for suspect_after
  // rounds' time (suspect_after x retry_interval, at least 2 probes), the
  // follower records its suspicion in etcd (suspects_prefix + its id = the
  // leader key's create_revision, under its own lease: a write, so only a
  // follower on etcd's quorum side can suspect), and once the suspicions of
  // this leader term come from a majority of the managers (managers(): the
  // manager nodes of the swarm; the leader never suspects itself) it revokes
  // the leader's lease: the key goes and a follower takes it (a new fence, so
  // the old leader's writes fail should it be alive after all). One manager
  // that alone cannot reach a healthy leader never deposes it. A follower
  // whose probe answers withdraws its suspicion. Without probe_leader (or
  // managers): the lease TTL alone deposes.
  std::function<bool(const std::string& leader_id)> probe_leader;
  std::function<size_t()> managers;
  int suspect_after = 4;
  // Under the store's watched /shoal/ prefix (the cache ignores the keys): a
  // write outside it would move etcd's revision past what the watch delivers,
  // and the new leader's first Store::sync would wait for it in vain.
  std::string suspects_prefix = "/shoal/leader-suspects/";
};

class Elector {
 public:
  Elector(Backend& backend, Clock& clock, ElectorOptions options,
          std::function<void(const Fence&)> on_elected, std::function<void()> on_deposed);
  // As above, on the wall clock.
  Elector(Backend& backend, ElectorOptions options, std::function<void(const Fence&)> on_elected,
          std::function<void()> on_deposed);
  ~Elector();
  // Runs step() on the elector's thread until stop().
  void start();
  // One round of the election: get a lease, try to lead or keep leading.
  // Returns how long to wait before the next round. For tests that drive the
  // elector without start() (not thread-safe against the running thread).
  std::chrono::milliseconds step();
  // step() under common/guard.h, as loop() runs it: an exception steps this
  // node down (not knowing whether its lease is still valid) and retries
  // after 1 s instead of ending the process.
  std::chrono::milliseconds guarded_step();
  // The first step of stopping: the loop starts no other round, and the
  // current lease is revoked now, from the caller's thread, without waiting
  // for the elector's thread (which may be blocked in a call on a hung
  // etcd). Revoking deletes the leader key, so another manager (or this
  // node's next start) leads at once, and this term's fence fails from here
  // on. Put first inside the owner's StopBound, it has the whole grace
  // before a cancel can touch it. Idempotent; the elector keeps reporting
  // is_leader() until stop().
  void resign();
  // resign(), then joins the thread and steps down: deposes (on_deposed) if
  // leading and revokes a lease the thread granted after resign() read it.
  // Idempotent. start(), resign() and stop() are called by the owner, never
  // concurrently with each other.
  void stop();
  bool is_leader() const { return leader_; }
  // The current leader's candidate id, as last read ("" if unknown).
  std::string leader_id() const;

 private:
  void loop();
  void step_down();  // after the loop: depose (if leading), revoke the lease
  bool try_acquire(int64_t lease, Fence* fence);
  std::chrono::milliseconds follower_step();
  std::chrono::milliseconds leader_step();
  bool probing() const { return options_.probe_leader && options_.managers; }
  // One probe of the leader read last (holder_); suspects and deposes it
  // as ElectorOptions says.
  void watch_leader();
  // Deletes this candidate's suspicion (it reached the leader, or leads).
  void withdraw_suspicion();

  Backend& backend_;
  std::unique_ptr<Clock> own_clock_;  // for the wall-clock constructor
  Clock& clock_;
  ElectorOptions options_;
  std::function<void(const Fence&)> on_elected_;
  std::function<void()> on_deposed_;
  std::atomic<bool> leader_{false};
  std::atomic<bool> stopping_{false};  // resign() called: the loop ends
  bool stopped_ = false;               // stop() ran; owner's thread only
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string leader_id_;
  // Written by whoever runs step() (the thread, or a test); read by resign().
  std::atomic<int64_t> lease_{0};
  int64_t revoked_ = 0;  // the lease resign() revoked (owner's thread only)
  SysTime last_ok_{};
  Fence fence_;
  // Follower state, owned by whoever runs step(): the leader key as last read
  // (value = leader id, its lease and create_revision; lease 0 = unknown),
  // probes failed in a row, the leader term this candidate suspects (0: none
  // recorded), and rounds since the last campaign while the leader answers.
  KeyValue holder_;
  int failed_probes_ = 0;
  SysTime failing_since_{};  // the first of the failed_probes_
  int64_t suspected_ = 0;
  // This candidate's suspicion key may exist in etcd: set before its put is
  // sent (a put whose answer was lost may have applied), cleared only by a
  // delete that succeeded. suspected_ alone would leave such a key, a vote
  // that nobody withdraws, so one more follower's doubt would depose a
  // healthy leader.
  bool suspicion_maybe_ = false;
  int quiet_rounds_ = 0;
  std::thread thread_;
};

}  // namespace shoal::leader
