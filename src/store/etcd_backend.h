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
  // url: "http://127.0.0.1:2379"; max_txn_ops: the member's --max-txn-ops.
  EtcdBackend(std::string url, size_t max_txn_ops);
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

  // Polls until etcd answers (or timeout).
  Status wait_healthy(std::chrono::milliseconds timeout);

 private:
  Result<std::string> post(const std::string& path, const std::string& body);
  std::string url_;
  size_t max_txn_ops_;
  http::Client client_;
};

std::string base64_encode(const std::string& in);
std::string base64_decode(const std::string& in);

}  // namespace shoal
