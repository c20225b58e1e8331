#include "daemon/sealed_tokens.h"

namespace shoal::daemon {

Result<SealedBlob> read_sealed_tokens(Backend& backend, const std::string& key) {
  SHOAL_ASSIGN_OR_RETURN(RangeResult r, backend.range(key, false));
  if (r.kvs.empty()) return not_found("etcd holds no join tokens (" + key + ")");
  return SealedBlob{r.kvs[0].value, r.kvs[0].mod_revision};
}

Status write_sealed_tokens(Backend& backend, const std::string& key, const std::string& sealed, int64_t version,
                           const std::string& marker, const std::string& marker_value) {
  Compare unchanged = version == 0 ? Compare{key, Compare::Target::kCreateRevision, 0, ""}
                                   : Compare{key, Compare::Target::kModRevision, version, ""};
  auto put = backend.txn({unchanged},
                         {{TxnOp::Type::kPut, key, sealed, 0}, {TxnOp::Type::kPut, marker, marker_value, 0}}, {});
  if (!put.ok()) return put.status().with_context("storing the sealed join tokens");
  if (!put->succeeded) {
    return conflict("the join tokens were changed concurrently (another rotation or swarm init): read them again and retry");
  }
  return ok_status();
}

}  // namespace shoal::daemon
