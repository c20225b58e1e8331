// The sealed join tokens' key in etcd (kSealedJoinTokens), read with its
// version and written with a compare on it: two rotations (or a rotation and
// an init on another manager) that read the same tokens cannot both write;
// the later one gets kConflict and reads again. Thread-safe (the Backend is).
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "store/backend.h"

namespace shoal::daemon {

struct SealedBlob {
  std::string sealed;
  int64_t version = 0;  // the key's mod revision
};

// kNotFound when the key is absent.
Result<SealedBlob> read_sealed_tokens(Backend& backend, const std::string& key);
// Writes `sealed` if the key's mod revision is still `version` (0: only if
// the key is absent). `marker` is put in the same transaction (a key under
// the store's watched prefix, so its watch moves to this revision).
Status write_sealed_tokens(Backend& backend, const std::string& key, const std::string& sealed, int64_t version,
                           const std::string& marker, const std::string& marker_value);

}  // namespace shoal::daemon
