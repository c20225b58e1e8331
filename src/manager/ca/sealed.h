// Sealing secrets at rest: AES-256-GCM (OpenSSL EVP) under a 32-byte key.
//
// A sealed blob is "SHOALSEAL1" | key id (the first 8 bytes of SHA-256 of
// the key) | 12-byte random nonce | ciphertext | 16-byte GCM tag. `context`
// is authenticated (GCM additional data) but not stored: a blob sealed for
// one purpose ("root-ca-key") cannot be passed off as another. unseal()
// refuses a blob sealed under another key (the key id differs) and any blob
// changed in any byte (the tag does not verify), with kPermissionDenied.
//
// The key lives in the manager's data dir (seal_key_path(), 0600, root's):
// autolock will later move it out, into the operator's hands. Pure
// functions; thread-safe.
#pragma once

#include <string>

#include "common/result.h"

namespace shoal::ca {

constexpr size_t kSealKeyBytes = 32;

// 32 random bytes (OpenSSL's RAND_bytes).
std::string new_seal_key();

Result<std::string> seal(const std::string& key, const std::string& plaintext, const std::string& context);
Result<std::string> unseal(const std::string& key, const std::string& sealed, const std::string& context);

// Reads the key file at `path`: kNotFound if absent, kInternal if it is not
// exactly kSealKeyBytes or is readable by group/others.
Result<std::string> read_seal_key(const std::string& path);
// Writes a new key to `path` (mode 0600, atomically; the directory is
// created 0700) and returns it.
Result<std::string> create_seal_key(const std::string& path);
// Writes a key received from another manager (a manager joining: over its
// mTLS join session) to `path` the same way. kInvalidArgument unless it is
// exactly kSealKeyBytes.
Status write_seal_key(const std::string& path, const std::string& key);

}  // namespace shoal::ca
