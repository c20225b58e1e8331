// EtcdBackend: Backend over etcd's v3 JSON gateway (etcd 3.4: /v3/kv/range,
// /v3/kv/txn, /v3/watch, /v3/lease/*). Keys and values travel base64-encoded;
// 64-bit integers as JSON strings. Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "http/client.h"
#include "store/backend.h"

namespace shoal {

class EtcdBackend : public Backend {
 public:
  // url: "https://127.0.0.1:2379" with `tls` (the swarm CA, shoald's etcd
  // client certificate and key), or "http://..." (tests against a plain
  // etcd); max_txn_ops: the member's --max-txn-ops. Reads and keepalives are
  // resent once on a fresh connection if a pooled one fails; txns and lease
  // grants never are (a failure then is outcome unknown: re-read).
  EtcdBackend(std::string url, size_t max_txn_ops, http::TlsOptions tls = {});
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
  // Cancels the requests in flight on the shared client (ranges, txns, lease
  // calls); watches end when their handles are destroyed (Store::stop).
  void cancel() override { client_.cancel(); }

  // Polls until etcd answers (or timeout).
  Status wait_healthy(std::chrono::milliseconds timeout);

 private:
  Result<std::string> post(const std::string& path, const std::string& body,
                           http::Idempotent idempotent = http::Idempotent::kByMethod);
  std::string url_;
  http::TlsOptions tls_;
  size_t max_txn_ops_;
  http::Client client_;
};

std::string base64_encode(const std::string& in);
std::string base64_decode(const std::string& in);

}  // namespace shoal
