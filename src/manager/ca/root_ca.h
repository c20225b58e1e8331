// Root CA and join tokens (Swarm's formats).
//
// The root CA is an ECDSA P-256 key with a self-signed certificate valid for
// 20 years (SwarmKit's choice). Join tokens are
// "SWMTKN-1-<SHA-256 of the CA certificate (DER) in base36, 50 chars>-<16
// random bytes in base36, 25 chars>": the digest lets a joining node pin the
// CA it talks to, the secret decides the role.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/result.h"

namespace shoal::ca {

struct RootCA {
  std::string cert_pem;
  std::string key_pem;
};

Result<RootCA> create_root_ca(const std::string& common_name = "swarm-ca");

// What a certificate issued by the root CA says about its holder.
struct CertRequest {
  std::string common_name;
  std::string organization;         // O (the cluster), optional
  std::string organizational_unit;  // OU (the holder's role), optional
  std::vector<std::string> dns_names;     // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries (v4 or v6)
  bool server_auth = false;         // extendedKeyUsage serverAuth
  bool client_auth = false;         // extendedKeyUsage clientAuth
  std::chrono::seconds validity = std::chrono::hours(24 * 90);
};

// A certificate and its new private key (ECDSA P-256), both PEM.
struct IssuedCert {
  std::string cert_pem;
  std::string key_pem;
};

// Issues a leaf certificate signed by `ca` (its key_pem is required).
// kInvalidArgument for an unusable CA or a malformed IP address.
Result<IssuedCert> issue_certificate(const RootCA& ca, const CertRequest& req);
// SHA-256 of the certificate's DER encoding, hex.
Result<std::string> cert_digest_hex(const std::string& cert_pem);
// A new join token pinned to this CA.
Result<std::string> new_join_token(const std::string& cert_pem);

}  // namespace shoal::ca
