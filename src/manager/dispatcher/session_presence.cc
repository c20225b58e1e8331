#include "manager/dispatcher/session_presence.h"

#include <algorithm>
#include <vector>

namespace shoal::dispatcher {

SessionPresence::SessionPresence(Backend& backend, std::string owner, std::chrono::seconds ttl)
    : backend_(backend),
      owner_(std::move(owner)),
      ttl_(std::max(ttl, std::chrono::seconds(1))),
      wanted_ttl_s_(ttl_.count()) {}

void SessionPresence::set_ttl(std::chrono::seconds ttl) {
  wanted_ttl_s_ = std::max(ttl, std::chrono::seconds(1)).count();
}

// A lease cannot change its TTL: a new one is granted and every key moves
// to it (flush_locked), the old one kept alive (retiring_) until they have.
Status SessionPresence::change_ttl_locked() {
  const std::chrono::seconds want(wanted_ttl_s_.load());
  if (want == ttl_ || retiring_ != 0) return ok_status();  // one change at a time
  if (lease_ == 0) {  // nothing granted: the next grant takes it
    ttl_ = want;
    return ok_status();
  }
  const int64_t old = lease_;
  const std::chrono::seconds old_ttl = ttl_;
  lease_ = 0;
  ttl_ = want;
  // revoke() sees the old lease as retiring before granted_ names the new one.
  set_retiring_locked(old);
  if (Status st = ensure_lease_locked(); !st.ok()) {  // the old lease goes on; tried again next time
    set_retiring_locked(0);
    lease_ = old;
    ttl_ = old_ttl;
    std::lock_guard g(lease_mu_);
    granted_ = old;
    return st.with_context("changing the session presence lease's TTL");
  }
  pending_ = nodes_;
  return ok_status();
}

Status SessionPresence::ensure_lease_locked() {
  if (lease_ != 0) return ok_status();
  {
    std::lock_guard g(lease_mu_);
    if (closed_) return unavailable("the session presence is closed");
  }
  auto id = backend_.lease_grant(ttl_.count());
  if (!id.ok()) return id.status().with_context("granting the session presence lease");
  {
    std::lock_guard g(lease_mu_);
    if (!closed_) {
      lease_ = granted_ = *id;
      return ok_status();
    }
  }
  (void)backend_.lease_revoke(*id);  // revoke() ran during the grant and could not see it
  return unavailable("the session presence is closed");
}

void SessionPresence::take_queued_locked() {
  std::lock_guard q(queue_mu_);
  for (auto& node : queued_) {
    nodes_.insert(node);
    pending_.insert(node);
  }
  queued_.clear();
}

// Writes every key not written yet (a failed put is tried again at the next
// keepalive, so one etcd error never leaves a live session unpublished), as
// many per transaction as the backend takes.
Status SessionPresence::flush_locked() {
  take_queued_locked();
  if (pending_.empty()) return ok_status();
  SHOAL_RETURN_IF_ERROR(ensure_lease_locked());
  const size_t per_txn = std::max<size_t>(1, backend_.max_txn_ops());
  while (!pending_.empty()) {
    std::vector<TxnOp> puts;
    auto end = pending_.begin();
    for (; end != pending_.end() && puts.size() < per_txn; ++end) {
      puts.push_back({TxnOp::Type::kPut, kSessionPrefix + *end, owner_, lease_});
    }
    auto r = backend_.txn({}, puts, {});
    if (!r.ok()) {
      return r.status().with_context("publishing the session of node " + *pending_.begin() +
                                     (puts.size() > 1 ? " and " + std::to_string(puts.size() - 1) + " more" : ""));
    }
    pending_.erase(pending_.begin(), end);
  }
  return ok_status();
}

size_t SessionPresence::queued() {
  std::lock_guard q(queue_mu_);
  return queued_.size();
}

Status SessionPresence::publish(const std::string& node) {
  // Group commit: while another call holds mu_ for its backend round trip,
  // the node waits in queued_; the next holder of mu_ writes every queued key
  // together, so concurrent registrations share one etcd transaction.
  {
    std::lock_guard q(queue_mu_);
    queued_.insert(node);
  }
  std::lock_guard lk(mu_);
  take_queued_locked();
  if (!pending_.count(node)) return ok_status();  // an earlier holder wrote it (or it was withdrawn since)
  return flush_locked();
}

Status SessionPresence::withdraw(const std::string& node) {
  std::lock_guard lk(mu_);
  take_queued_locked();  // a publish queued before this withdraw is undone by it
  nodes_.erase(node);
  pending_.erase(node);
  Compare mine{kSessionPrefix + node, Compare::Target::kValue, 0, owner_};
  auto r = backend_.txn({mine}, {{TxnOp::Type::kDelete, kSessionPrefix + node, "", 0}}, {});
  if (!r.ok()) return r.status().with_context("withdrawing the session of node " + node);
  return ok_status();
}

Status SessionPresence::keepalive() {
  std::lock_guard lk(mu_);
  // Only a lease etcd no longer has is dropped (nothing left to move off
  // it); on a transient error it is kept alive and revoked later as usual.
  if (retiring_ != 0 && backend_.lease_keepalive(retiring_).code() == Code::kNotFound) set_retiring_locked(0);
  if (lease_ != 0) {
    Status st = backend_.lease_keepalive(lease_);
    if (!st.ok() && st.code() != Code::kNotFound) return st;
    if (!st.ok()) {
      lease_ = 0;  // expired: every key it held is gone, write them again
      {
        std::lock_guard g(lease_mu_);
        granted_ = 0;
      }
      pending_ = nodes_;
    }
  }
  Status changed = change_ttl_locked();
  SHOAL_RETURN_IF_ERROR(flush_locked());
  if (retiring_ != 0 && pending_.empty()) {  // every key is on the new lease now
    (void)backend_.lease_revoke(retiring_);
    set_retiring_locked(0);
  }
  return changed;
}

Result<std::set<std::string>> SessionPresence::holders() {
  auto r = backend_.range(kSessionPrefix, true);
  if (!r.ok()) return r.status().with_context("reading the session presence keys");
  std::set<std::string> out;
  const size_t n = std::string(kSessionPrefix).size();
  for (const auto& kv : r->kvs) out.insert(kv.key.substr(n));
  return out;
}

Result<std::set<std::string>> SessionPresence::held_elsewhere() {
  auto r = backend_.range(kSessionPrefix, true);
  if (!r.ok()) return r.status().with_context("reading the session presence keys");
  std::set<std::string> out;
  const size_t n = std::string(kSessionPrefix).size();
  for (const auto& kv : r->kvs)
    if (kv.value != owner_) out.insert(kv.key.substr(n));
  return out;
}

void SessionPresence::set_retiring_locked(int64_t lease) {
  retiring_ = lease;
  std::lock_guard g(lease_mu_);
  retiring_seen_ = lease;
}

void SessionPresence::revoke() {
  int64_t lease, retiring;
  {
    std::lock_guard g(lease_mu_);
    if (closed_) return;  // revoked already (or tried: close() tries once more)
    closed_ = true;
    lease = granted_;
    retiring = retiring_seen_;  // keys not yet moved off it after a TTL change
  }
  const bool lease_gone = lease != 0 && backend_.lease_revoke(lease).ok();
  const bool retiring_gone = retiring != 0 && retiring != lease && backend_.lease_revoke(retiring).ok();
  std::lock_guard g(lease_mu_);
  if (lease_gone) revoked_ = lease;
  if (retiring_gone) revoked_retiring_ = retiring;
}

void SessionPresence::close() {
  revoke();  // at once if a call in flight holds mu_
  std::lock_guard lk(mu_);
  int64_t revoked, revoked_retiring;
  {
    std::lock_guard g(lease_mu_);
    revoked = revoked_;
    revoked_retiring = revoked_retiring_;
  }
  if (lease_ != 0 && lease_ != revoked) (void)backend_.lease_revoke(lease_);
  if (retiring_ != 0 && retiring_ != revoked_retiring && retiring_ != revoked) (void)backend_.lease_revoke(retiring_);
  lease_ = 0;
  set_retiring_locked(0);
  nodes_.clear();
  pending_.clear();
  std::lock_guard q(queue_mu_);
  queued_.clear();
}

}  // namespace shoal::dispatcher
