// Root CA and join tokens (Swarm's formats).
//
// The root CA is an ECDSA P-256 key with a self-signed certificate valid for
// 20 years (SwarmKit's choice). Join tokens are
// "SWMTKN-1-<SHA-256 of the CA certificate (DER) in base36, 50 chars>-<16
// random bytes in base36, 25 chars>": the digest lets a joining node pin the
// CA it talks to, the secret decides the role.
#pragma once

#include <string>

#include "common/result.h"

namespace shoal::ca {

struct RootCA {
  std::string cert_pem;
  std::string key_pem;
};

Result<RootCA> create_root_ca(const std::string& common_name = "swarm-ca");
// SHA-256 of the certificate's DER encoding, hex.
Result<std::string> cert_digest_hex(const std::string& cert_pem);
// A new join token pinned to this CA.
Result<std::string> new_join_token(const std::string& cert_pem);

}  // namespace shoal::ca
