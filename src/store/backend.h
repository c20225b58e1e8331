// Backend: a revisioned key-value store with etcd v3 semantics. Implemented by
// EtcdGrpcBackend (etcd's native v3 gRPC API) and MemoryBackend (tests).
//
// Contract (etcd's): every successful write bumps the store-wide revision by
// one; a key's mod_revision is the revision of its last write and its
// create_revision that of its creation (0 = absent). Watches deliver every
// change under a prefix in revision order, starting at from_revision.
// All methods are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace shoal {

struct KeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t lease = 0;
};

struct RangeResult {
  std::vector<KeyValue> kvs;
  int64_t revision = 0;  // store revision at the time of the read
};

struct Compare {
  enum class Target { kCreateRevision, kModRevision, kValue };
  std::string key;
  Target target = Target::kModRevision;
  int64_t value = 0;  // kCreateRevision, kModRevision: compared with "=="
  // kValue: compared with the key's value; an absent key never matches (etcd's rule).
  std::string text;
};

struct TxnOp {
  enum class Type { kPut, kDelete, kGet };
  Type type = Type::kPut;
  std::string key;
  std::string value;  // kPut only
  int64_t lease = 0;  // kPut only; 0 = no lease
};

struct TxnResult {
  bool succeeded = false;
  int64_t revision = 0;               // store revision after the txn
  std::vector<KeyValue> get_results;  // for kGet ops in the executed branch, in order (absent keys skipped)
};

struct WatchEvent {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  KeyValue kv;  // for kDelete: key and mod_revision (the delete's revision)
};

// Cancels the watch when destroyed; callbacks never run after the destructor returns.
class WatchHandle {
 public:
  virtual ~WatchHandle() = default;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // All keys with the given prefix (or exactly `key` when prefix is false).
  virtual Result<RangeResult> range(const std::string& key, bool prefix) = 0;

  // range(prefix, true) for a list whose size grows with the swarm (the
  // store's whole-state load and re-list): a backend with per-call deadlines
  // gives it a longer one than a point read, so a large state on a loaded
  // machine still loads. Same result and errors as range().
  virtual Result<RangeResult> list(const std::string& prefix) { return range(prefix, true); }

  // If every compare holds, runs `success` atomically, else `failure`.
  // A transport failure returns an error Status (outcome unknown: re-read before retrying).
  virtual Result<TxnResult> txn(const std::vector<Compare>& compares,
                                const std::vector<TxnOp>& success,
                                const std::vector<TxnOp>& failure) = 0;
  // txn() for the retry-th resend (1 = the first) of a write whose earlier
  // attempts had an unknown outcome: a backend with per-call deadlines gives
  // it a longer one (an earlier attempt may have been cut off while etcd was
  // still committing it, on a slow disk or across a leader change). Same
  // results and errors as txn().
  virtual Result<TxnResult> resend_txn(int retry, const std::vector<Compare>& compares,
                                       const std::vector<TxnOp>& success, const std::vector<TxnOp>& failure) {
    (void)retry;
    return txn(compares, success, failure);
  }

  // Streams changes under `prefix` from `from_revision` on. on_events gets
  // batches in revision order (with the revision of the batch's last event);
  // on_error is called once if the watch dies (e.g. compacted: re-list and
  // start again); no callback follows it.
  virtual std::unique_ptr<WatchHandle> watch(
      const std::string& prefix, int64_t from_revision,
      std::function<void(const std::vector<WatchEvent>&)> on_events,
      std::function<void(const Status&)> on_error) = 0;

  virtual Result<int64_t> lease_grant(int64_t ttl_seconds) = 0;
  virtual Status lease_keepalive(int64_t lease_id) = 0;
  virtual Status lease_revoke(int64_t lease_id) = 0;

  // Largest number of ops allowed in one txn by the server (etcd: --max-txn-ops).
  virtual size_t max_txn_ops() const = 0;

  // Makes every call in flight return soon (kUnavailable) and every call
  // started before the next resume() fail without being sent: for an owner
  // that is shutting down and must not wait out a hung server (StopBound).
  // Scoped, not sticky: resume() ends it, and calls started after resume()
  // are sent again (a stop whose bound fired does not break a later stop's
  // lease revokes). A backend whose calls never block (MemoryBackend) has
  // nothing to cancel.
  virtual void cancel() {}
  // Ends a cancel(); a no-op when none is in effect. StopBound calls it when
  // its bound ends, from the thread that ran the bounded shutdown.
  virtual void resume() {}
};

}  // namespace shoal
