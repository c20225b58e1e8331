#include "manager/dispatcher/session_presence.h"

#include <algorithm>

namespace shoal::dispatcher {

SessionPresence::SessionPresence(Backend& backend, std::string owner, std::chrono::seconds ttl)
    : backend_(backend), owner_(std::move(owner)), ttl_(std::max(ttl, std::chrono::seconds(1))) {}

Status SessionPresence::ensure_lease_locked() {
  if (lease_ != 0) return ok_status();
  auto id = backend_.lease_grant(ttl_.count());
  if (!id.ok()) return id.status().with_context("granting the session presence lease");
  lease_ = *id;
  return ok_status();
}

Status SessionPresence::put_locked(const std::string& node) {
  auto r = backend_.txn({}, {{TxnOp::Type::kPut, kSessionPrefix + node, owner_, lease_}}, {});
  if (!r.ok()) return r.status().with_context("publishing the session of node " + node);
  return ok_status();
}

// Writes every key not written yet (a failed put is tried again at the next
// keepalive, so one etcd error never leaves a live session unpublished).
Status SessionPresence::flush_locked() {
  if (pending_.empty()) return ok_status();
  SHOAL_RETURN_IF_ERROR(ensure_lease_locked());
  for (auto it = pending_.begin(); it != pending_.end(); it = pending_.erase(it)) {
    SHOAL_RETURN_IF_ERROR(put_locked(*it));
  }
  return ok_status();
}

Status SessionPresence::publish(const std::string& node) {
  std::lock_guard lk(mu_);
  nodes_.insert(node);
  pending_.insert(node);
  return flush_locked();
}

Status SessionPresence::withdraw(const std::string& node) {
  std::lock_guard lk(mu_);
  nodes_.erase(node);
  pending_.erase(node);
  Compare mine{kSessionPrefix + node, Compare::Target::kValue, 0, owner_};
  auto r = backend_.txn({mine}, {{TxnOp::Type::kDelete, kSessionPrefix + node, "", 0}}, {});
  if (!r.ok()) return r.status().with_context("withdrawing the session of node " + node);
  return ok_status();
}

Status SessionPresence::keepalive() {
  std::lock_guard lk(mu_);
  if (lease_ != 0) {
    Status st = backend_.lease_keepalive(lease_);
    if (!st.ok() && st.code() != Code::kNotFound) return st;
    if (!st.ok()) {
      lease_ = 0;  // expired: every key it held is gone, write them again
      pending_ = nodes_;
    }
  }
  return flush_locked();
}

Result<std::set<std::string>> SessionPresence::holders() {
  auto r = backend_.range(kSessionPrefix, true);
  if (!r.ok()) return r.status().with_context("reading the session presence keys");
  std::set<std::string> out;
  const size_t n = std::string(kSessionPrefix).size();
  for (const auto& kv : r->kvs) out.insert(kv.key.substr(n));
  return out;
}

void SessionPresence::close() {
  std::lock_guard lk(mu_);
  if (lease_ != 0) (void)backend_.lease_revoke(lease_);
  lease_ = 0;
  nodes_.clear();
  pending_.clear();
}

}  // namespace shoal::dispatcher
