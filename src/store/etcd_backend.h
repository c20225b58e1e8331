// EtcdBackend: Backend over etcd's v3 JSON gateway (etcd 3.4: /v3/kv/range,
// /v3/kv/txn, /v3/watch, /v3/lease/*). Keys and values travel base64-encoded;
// 64-bit integers as JSON strings. Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "http/client.h"
#include "store/backend.h"

namespace shoal {

// Client deadlines of EtcdBackend's calls. etcd itself answers a proposal
// that its raft leader never committed (the leader died, quorum is lost) only
// after its request timeout (5 s + 2 election timeouts, ~7 s); these bound
// every call below that, so a caller learns of a dead raft leader or a lost
// quorum quickly (kDeadlineExceeded or kUnavailable) and retries or answers
// 503. A txn cut off by its deadline is outcome unknown (re-read before
// retrying, as for any lost answer). The defaults are the old fixed 15 s;
// shoald's manager sets short ones (daemon/manager_role.cc).
struct EtcdCallTimeouts {
  std::chrono::milliseconds read{15000};   // range
  std::chrono::milliseconds write{15000};  // txn
  std::chrono::milliseconds lease{15000};  // lease grant, keepalive, revoke
  // Sends etcd's require-leader metadata (the gateway's Grpc-Metadata-hasleader
  // header): a member that knows no raft leader (quorum lost) fails the call at
  // once with "etcdserver: no leader" (kUnavailable) instead of holding it.
  // Watches never carry it (a watch outlives a leader change).
  bool require_leader = false;
};

class EtcdBackend : public Backend {
 public:
  // url: "https://127.0.0.1:2379" with `tls` (the swarm CA, shoald's etcd
  // client certificate and key), or "http://..." (tests against a plain
  // etcd); max_txn_ops: the member's --max-txn-ops. Reads and keepalives are
  // resent once on a fresh connection if a pooled one fails; txns and lease
  // grants never are (a failure then is outcome unknown: re-read).
  // `timeouts`: each call's deadline (see EtcdCallTimeouts).
  EtcdBackend(std::string url, size_t max_txn_ops, http::TlsOptions tls = {}, EtcdCallTimeouts timeouts = {});
  ~EtcdBackend() override;

  Result<RangeResult> range(const std::string& key, bool prefix) override;
  Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                        const std::vector<TxnOp>& failure) override;
  std::unique_ptr<WatchHandle> watch(const std::string& prefix, int64_t from_revision,
                                     std::function<void(const std::vector<WatchEvent>&)> on_events,
                                     std::function<void(const Status&)> on_error) override;
  Result<int64_t> lease_grant(int64_t ttl_seconds) override;
  Status lease_keepalive(int64_t lease_id) override;
  Status lease_revoke(int64_t lease_id) override;
  size_t max_txn_ops() const override { return max_txn_ops_; }
  // cancel() ends the requests in flight on the shared client (ranges, txns,
  // lease calls) and fails later ones unsent; resume() replaces that client
  // with a fresh one, so calls started after it are sent again (requests
  // still on the cancelled client keep failing). Watches have clients of
  // their own and end when their handles are destroyed (Store::stop).
  void cancel() override;
  void resume() override;

  // Polls until etcd answers (or timeout).
  Status wait_healthy(std::chrono::milliseconds timeout);

 private:
  Result<std::string> post(const std::string& path, const std::string& body, std::chrono::milliseconds timeout,
                           http::Idempotent idempotent = http::Idempotent::kByMethod);
  std::string url_;
  http::TlsOptions tls_;
  EtcdCallTimeouts timeouts_;
  size_t max_txn_ops_;
  // The client calls use now: replaced (never reset) by resume(); a call
  // holds its own reference, so a replaced client lives until its last call
  // returns. Guarded by client_mu_.
  std::shared_ptr<http::Client> client() const;
  mutable std::mutex client_mu_;
  std::shared_ptr<http::Client> client_;
  bool cancelled_ = false;  // guarded by client_mu_: client_ was cancelled
};

std::string base64_encode(const std::string& in);
std::string base64_decode(const std::string& in);

}  // namespace shoal
