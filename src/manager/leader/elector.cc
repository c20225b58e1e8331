#include "manager/leader/elector.h"

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
  using std::chrono::milliseconds;
  const auto keepalive_every = milliseconds(options_.lease_ttl_seconds * 1000 / 3);
  const auto ttl = std::chrono::seconds(options_.lease_ttl_seconds);
  if (lease_ == 0) {
    auto l = backend_.lease_grant(options_.lease_ttl_seconds);
    if (!l.ok()) return options_.retry_interval;
    lease_ = *l;
    last_ok_ = clock_.now();
    // resign() ran during the grant and saw no lease: run for no key with
    // it (step_down revokes it), or the key would be written after the stop.
    if (stopping_) return options_.retry_interval;
  }
  if (!leader_) {
    if (try_acquire(lease_, &fence_)) {
      leader_ = true;
      last_ok_ = clock_.now();
      LOG_INFO("leader", options_.candidate_id << " is the leader (fencing revision "
                                               << fence_.create_revision << ")");
      on_elected_(fence_);
      return milliseconds(0);
    }
    // Keep our lease alive while we wait to lead.
    if (!backend_.lease_keepalive(lease_).ok()) lease_ = 0;
    return options_.retry_interval;
  }
  Status st = backend_.lease_keepalive(lease_);
  auto now = clock_.now();
  if (st.ok()) {
    // Still ours? (someone may have deleted the key by hand)
    auto g = backend_.range(options_.key, false);
    if (g.ok() && (g->kvs.empty() || g->kvs[0].create_revision != fence_.create_revision)) {
      st = unavailable("leader key lost");
    } else {
      last_ok_ = now;
    }
  }
  if (!st.ok() && now - last_ok_ > ttl) {
    LOG_WARN("leader", "lost leadership: " << st.message());
    leader_ = false;
    lease_ = 0;
    on_deposed_();
    return milliseconds(0);
  }
  return keepalive_every;
}

void Elector::loop() {
  while (!stopping_) {
    auto d = step();
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
