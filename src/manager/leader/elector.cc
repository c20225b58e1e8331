#include "manager/leader/elector.h"

#include "common/guard.h"
#include "common/log.h"

namespace shoal::leader {

Elector::Elector(Backend& backend, Clock& clock, ElectorOptions options,
                 std::function<void(const Fence&)> on_elected, std::function<void()> on_deposed)
    : backend_(backend),
      clock_(clock),
      options_(std::move(options)),
      on_elected_(std::move(on_elected)),
      on_deposed_(std::move(on_deposed)) {}

Elector::Elector(Backend& backend, ElectorOptions options,
                 std::function<void(const Fence&)> on_elected, std::function<void()> on_deposed)
    : backend_(backend),
      own_clock_(std::make_unique<RealClock>()),
      clock_(*own_clock_),
      options_(std::move(options)),
      on_elected_(std::move(on_elected)),
      on_deposed_(std::move(on_deposed)) {}

Elector::~Elector() { stop(); }

void Elector::start() {
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
}

void Elector::resign() {
  {
    std::lock_guard lk(mu_);
    if (stopping_.exchange(true)) return;
  }
  cv_.notify_all();
  const int64_t lease = lease_;
  if (lease == 0) return;
  Status st = backend_.lease_revoke(lease);
  if (st.ok()) {
    revoked_ = lease;
  } else {
    LOG_WARN("leader", "revoking the leader lease on stop: " << st.message()
                           << " (another manager leads once it expires)");
  }
}

void Elector::stop() {
  resign();
  if (stopped_) return;
  stopped_ = true;
  if (thread_.joinable()) thread_.join();
  step_down();
}

std::string Elector::leader_id() const {
  std::lock_guard lk(mu_);
  return leader_id_;
}

bool Elector::try_acquire(int64_t lease, Fence* fence) {
  auto r = backend_.txn({{options_.key, Compare::Target::kCreateRevision, 0}},
                        {{TxnOp::Type::kPut, options_.key, options_.candidate_id, lease}},
                        {{TxnOp::Type::kGet, options_.key, "", 0}});
  if (!r.ok()) return false;
  if (!r->succeeded) {
    if (r->get_results.empty()) return false;
    const KeyValue& cur = r->get_results[0];
    if (cur.create_revision != holder_.create_revision) failed_probes_ = 0;  // another term: probes start over
    holder_ = cur;
    {
      std::lock_guard lk(mu_);
      leader_id_ = cur.value;
    }
    // Our own create under this very lease (its response was lost): we lead.
    if (cur.value == options_.candidate_id && cur.lease == lease) {
      fence->key = options_.key;
      fence->create_revision = cur.create_revision;
      return true;
    }
    // Our own previous incarnation (this node restarted) still holds the key
    // under its old lease: take it over now instead of waiting a lease TTL.
    if (cur.value == options_.candidate_id && cur.lease != lease) {
      auto del = backend_.txn({{options_.key, Compare::Target::kCreateRevision, cur.create_revision}},
                              {{TxnOp::Type::kDelete, options_.key, "", 0}}, {});
      if (del.ok() && del->succeeded) return try_acquire(lease, fence);
    }
    return false;
  }
  auto g = backend_.range(options_.key, false);
  if (!g.ok() || g->kvs.empty() || g->kvs[0].value != options_.candidate_id) return false;
  fence->key = options_.key;
  fence->create_revision = g->kvs[0].create_revision;
  std::lock_guard lk(mu_);
  leader_id_ = options_.candidate_id;
  return true;
}

std::chrono::milliseconds Elector::step() {
  if (lease_ == 0) {
    auto l = backend_.lease_grant(options_.lease_ttl_seconds);
    if (!l.ok()) return options_.retry_interval;
    lease_ = *l;
    last_ok_ = clock_.now();
    // resign() ran during the grant and saw no lease: run for no key with
    // it (step_down revokes it), or the key would be written after the stop.
    if (stopping_) return options_.retry_interval;
  }
  return leader_ ? leader_step() : follower_step();
}

std::chrono::milliseconds Elector::follower_step() {
  // The probe first: it needs no etcd, so a round stuck below on a call to
  // a dead raft leader does not hold it back.
  if (probing() && holder_.lease != 0 && holder_.value != options_.candidate_id) watch_leader();
  // While the leader answers its probes, a campaign (a txn: a raft proposal)
  // goes only every 4th round, to notice a key deleted by hand; otherwise
  // every round.
  const bool campaign = !probing() || holder_.lease == 0 || failed_probes_ > 0 || ++quiet_rounds_ >= 4;
  if (campaign) {
    quiet_rounds_ = 0;
    if (try_acquire(lease_, &fence_)) {
      leader_ = true;
      last_ok_ = clock_.now();
      holder_ = {};
      failed_probes_ = 0;
      LOG_INFO("leader", options_.candidate_id << " is the leader (fencing revision " << fence_.create_revision
                                               << ")");
      withdraw_suspicion();
      on_elected_(fence_);
      return std::chrono::milliseconds(0);
    }
  }
  // Keep our lease alive while we wait to lead: every TTL/3, as a leader.
  const auto now = clock_.now();
  if (now - last_ok_ < std::chrono::milliseconds(options_.lease_ttl_seconds * 1000 / 3)) return options_.retry_interval;
  if (!backend_.lease_keepalive(lease_).ok()) {
    lease_ = 0;
    // Recorded again under the next lease. The key itself may outlive this
    // (a keepalive that failed does not mean the lease expired): withdrawn
    // by key (suspicion_maybe_ stays), not left to count as a vote.
    suspected_ = 0;
    return options_.retry_interval;
  }
  last_ok_ = now;
  return options_.retry_interval;
}

void Elector::watch_leader() {
  const auto now = clock_.now();
  if (options_.probe_leader(holder_.value)) {
    failed_probes_ = 0;
    withdraw_suspicion();
    return;
  }
  if (failed_probes_++ == 0) failing_since_ = now;
  // Failing for suspect_after rounds' time, and at least twice: counted in
  // time, since a round that waits on etcd (its raft leader just died) is
  // longer than retry_interval.
  if (failed_probes_ < 2 || now - failing_since_ < options_.suspect_after * options_.retry_interval) return;
  const std::string term = std::to_string(holder_.create_revision);
  if (suspected_ != holder_.create_revision) {
    suspicion_maybe_ = true;  // from here on the key may exist, whatever the answer
    auto put = backend_.txn({}, {{TxnOp::Type::kPut, options_.suspects_prefix + options_.candidate_id, term, lease_}},
                            {});
    if (!put.ok()) return;  // no quorum on our side (or no answer): suspect nothing
    suspected_ = holder_.create_revision;
    LOG_WARN("leader", "leader " << holder_.value << " did not answer " << failed_probes_
                                 << " probes in a row: suspected (term " << term << ")");
  }
  auto r = backend_.range(options_.suspects_prefix, true);
  if (!r.ok()) return;
  size_t votes = 0;
  for (const auto& kv : r->kvs) votes += kv.value == term ? 1 : 0;
  const size_t managers = options_.managers();
  if (managers == 0 || votes < managers / 2 + 1) return;
  LOG_WARN("leader", votes << " of " << managers << " managers cannot reach leader " << holder_.value
                           << ": revoking its lease (term " << term << ")");
  Status st = backend_.lease_revoke(holder_.lease);
  if (!st.ok() && st.code() != Code::kNotFound) return;  // tried again next round
  holder_.lease = 0;  // gone: the next round campaigns
}

void Elector::withdraw_suspicion() {
  if (suspected_ == 0 && !suspicion_maybe_) return;
  auto del = backend_.txn({}, {{TxnOp::Type::kDelete, options_.suspects_prefix + options_.candidate_id, "", 0}}, {});
  if (del.ok()) {
    suspected_ = 0;
    suspicion_maybe_ = false;
  }
}

std::chrono::milliseconds Elector::leader_step() {
  using std::chrono::milliseconds;
  const auto keepalive_every = milliseconds(options_.lease_ttl_seconds * 1000 / 3);
  const auto ttl = std::chrono::seconds(options_.lease_ttl_seconds);
  Status st = backend_.lease_keepalive(lease_);
  auto now = clock_.now();
  // Lost for certain: etcd says the lease is gone (expired, or revoked by
  // the followers that could not reach us), or the key is another's. Then
  // we step down at once; a call that merely failed waits out the TTL.
  bool lost = st.code() == Code::kNotFound;
  if (st.ok()) {
    // Still ours? (someone may have deleted the key by hand)
    auto g = backend_.range(options_.key, false);
    if (g.ok() && (g->kvs.empty() || g->kvs[0].create_revision != fence_.create_revision)) {
      st = unavailable("leader key lost");
      lost = true;
    } else {
      last_ok_ = now;
    }
  }
  if (lost || (!st.ok() && now - last_ok_ > ttl)) {
    LOG_WARN("leader", "lost leadership: " << st.message());
    leader_ = false;
    lease_ = 0;
    on_deposed_();
    return milliseconds(0);
  }
  return keepalive_every;
}

std::chrono::milliseconds Elector::guarded_step() {
  std::chrono::milliseconds d{0};
  Status st = guarded("leader", "an election step", [&] {
    d = step();
    return ok_status();
  });
  if (st.ok()) return d;
  (void)guarded("leader", "stepping down", [&] {
    step_down();
    return ok_status();
  });
  return std::chrono::seconds(1);
}

void Elector::loop() {
  while (!stopping_) {
    auto d = guarded_step();
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, d, [&] { return stopping_.load(); });
  }
}

void Elector::step_down() {
  if (leader_) {
    leader_ = false;
    on_deposed_();
  }
  // A lease resign() did not revoke: granted by the thread since, or its
  // revoke failed (then cancelled by now on a hung etcd: fails at once).
  if (lease_ != 0 && lease_ != revoked_) (void)backend_.lease_revoke(lease_);
  lease_ = 0;
}

}  // namespace shoal::leader
