// EtcdGrpcBackend: Backend over etcd's native v3 gRPC API (etcd 3.4:
// etcdserverpb.KV Range and Txn, Watch, Lease Grant/Revoke/KeepAlive; our
// subset of etcd's protos is in src/store/proto). One HTTP/2 channel (mTLS,
// or plain for tests) carries every call and watch of a backend.
//
// Every call and watch carries etcd's require-leader metadata
// (EtcdGrpcTimeouts::require_leader, on by default), so a member without a
// raft leader fails it at once ("etcdserver: no leader") instead of waiting
// out its request timeout.
// Errors: UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED and RESOURCE_EXHAUSTED
// are kUnavailable (for a txn or a lease grant the outcome is unknown:
// re-read); INVALID_ARGUMENT (etcd refused the request, nothing applied) is
// kInvalidArgument; NOT_FOUND (e.g. revoking an unknown lease) kNotFound;
// anything else kInternal with etcd's message. Nothing is resent: gRPC
// reconnects the channel by itself. A call made while etcd is unreachable
// waits for a connection until its deadline (gRPC's wait-for-ready: with the
// synchronous API a waiting call is what drives the reconnect), then fails
// with kUnavailable saying there is no connection; a watch fails at once.
//
// Thread-safe: any number of threads may call at once (the channel
// multiplexes them). Each watch runs on a thread of its own.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "http/client.h"
#include "store/backend.h"

namespace shoal {

// Client deadlines of EtcdGrpcBackend's calls. etcd answers a proposal its
// raft leader never committed (the leader died, quorum is lost) only after
// its own request timeout (5 s + 2 election timeouts, ~7 s); shorter
// deadlines let a caller learn of a dead leader or a lost quorum sooner and
// retry or answer 503. A txn cut off by its deadline is outcome unknown
// (kUnavailable: re-read before retrying). The defaults suit tests and
// tools; shoald's manager sets short ones (daemon/manager_role.cc).
struct EtcdGrpcTimeouts {
  std::chrono::milliseconds read{15000};   // range
  std::chrono::milliseconds write{15000};  // txn
  std::chrono::milliseconds lease{15000};  // lease grant, keepalive, revoke
  // etcd's require-leader metadata ("hasleader": "true") on every call and
  // watch: a member that knows no raft leader fails a call at once with
  // "etcdserver: no leader" instead of holding it, and ends its watches
  // (on_error: the store re-lists once a leader is back) instead of keeping
  // a watch that silently hears nothing.
  bool require_leader = true;
  // list (a prefix range that grows with the swarm: the store's load); at
  // least `read`. Not shortened with the others: a whole-state load must
  // not time out on a loaded machine (a member without a leader still
  // fails it at once, require_leader).
  std::chrono::milliseconds list{30000};
  // resend_txn's deadline: `write` doubled per retry (2x, 4x, ...), at most
  // this (and at least `write`): a write that etcd commits slowly is not cut
  // off on every resend when the first deadline is short.
  std::chrono::milliseconds write_max{15000};
};

class EtcdGrpcBackend : public Backend {
 public:
  // url: "https://HOST:PORT" with `tls` (the CA that signed etcd's serving
  // certificate, and shoald's etcd client certificate and key, as PEM strings
  // or file names; tls.server_name overrides the name checked in etcd's
  // certificate), or "http://HOST:PORT" (tests against a plain etcd).
  // max_txn_ops: the member's --max-txn-ops. timeouts: each call's deadline
  // and the require-leader switch (EtcdGrpcTimeouts). A bad URL, unreadable TLS files or
  // tls.insecure_skip_verify (not supported: etcd's certificate is always
  // checked) make every call fail with kFailedPrecondition saying so.
  EtcdGrpcBackend(std::string url, size_t max_txn_ops, http::TlsOptions tls = {}, EtcdGrpcTimeouts timeouts = {});
  ~EtcdGrpcBackend() override;

  Result<RangeResult> range(const std::string& key, bool prefix) override;
  Result<RangeResult> list(const std::string& prefix) override;
  Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                        const std::vector<TxnOp>& failure) override;
  // txn() with the deadline EtcdGrpcTimeouts::write_max describes.
  Result<TxnResult> resend_txn(int retry, const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                               const std::vector<TxnOp>& failure) override;
  // A watch is one Watch stream on the shared channel, read by a thread of
  // its own; it has no deadline. Compaction, cancellation by etcd (e.g. the
  // member lost its leader) or the stream ending call on_error once.
  std::unique_ptr<WatchHandle> watch(const std::string& prefix, int64_t from_revision,
                                     std::function<void(const std::vector<WatchEvent>&)> on_events,
                                     std::function<void(const Status&)> on_error) override;
  Result<int64_t> lease_grant(int64_t ttl_seconds) override;
  // One LeaseKeepAlive stream per call (one request, one answer): keepalives
  // are rare (a few leases, each every TTL/3), and a stream per call needs no
  // demultiplexing, no reconnection of a shared stream and is bounded by the
  // call's own deadline like every other call. A lease etcd no longer has is
  // kNotFound.
  Status lease_keepalive(int64_t lease_id) override;
  Status lease_revoke(int64_t lease_id) override;
  size_t max_txn_ops() const override { return max_txn_ops_; }
  // cancel() cancels every range, txn and lease call in flight (each returns
  // kUnavailable at once) and fails later ones unsent with kUnavailable until
  // resume(); the channel stays usable, so calls after resume() are sent
  // again. Watches are not cancelled: they end when their handles are
  // destroyed (Store::stop).
  void cancel() override;
  void resume() override;

  // Polls (every 100 ms) until etcd answers a read, or `timeout` passes.
  Status wait_healthy(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  Result<RangeResult> range_until(const std::string& key, bool prefix, std::chrono::milliseconds timeout);
  Result<TxnResult> txn_until(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                              const std::vector<TxnOp>& failure, std::chrono::milliseconds timeout);
  size_t max_txn_ops_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shoal
