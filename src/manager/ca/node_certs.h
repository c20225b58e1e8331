// Node certificates and join-token checks, for `swarm join` (docs/cluster.md).
//
// A joining node makes its own key and a certificate signing request
// (new_node_key_and_csr); the key never leaves the node. A manager checks
// the join token the node presents (match_join_token, constant time) and
// signs the request's public key with the root CA (sign_node_csr), choosing
// the subject itself: CN = the node id it assigns, OU = the role
// ("swarm-worker" or "swarm-manager", SwarmKit's names), O = the cluster id,
// DNS SANs the role name and the node id, serverAuth + clientAuth. Nothing
// the request says about the subject is used. The root CA's key never leaves
// the manager.
//
// Before it trusts anything from a manager, the joining node checks the root
// CA certificate it was offered against the digest in its token
// (ca_matches_token): SHA-256 of the certificate's DER in base36, as
// new_join_token makes it. Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>

#include "common/result.h"
#include "manager/ca/root_ca.h"

namespace shoal::ca {

constexpr char kWorkerRole[] = "swarm-worker";
constexpr char kManagerRole[] = "swarm-manager";

// The parts of "SWMTKN-1-<digest>-<secret>". kInvalidArgument (Docker's
// "invalid join token" wording, plus what the shape must be) otherwise.
struct JoinTokenParts {
  std::string digest;  // 50 base36 characters
  std::string secret;  // 25 base36 characters
};
Result<JoinTokenParts> parse_join_token(const std::string& token);

// True when `ca_cert_pem` is the CA the token pins. kInvalidArgument for a
// token or certificate that does not parse.
Result<bool> ca_matches_token(const std::string& token, const std::string& ca_cert_pem);
// The token's digest for a CA certificate (base36 of SHA-256 of its DER).
Result<std::string> ca_token_digest(const std::string& ca_cert_pem);

enum class TokenRole { kWorker, kManager };
// Which of the swarm's current tokens `presented` is, compared in constant
// time (CRYPTO_memcmp over the whole token); nullopt when neither (a wrong,
// malformed or rotated-away token).
std::optional<TokenRole> match_join_token(const std::string& presented, const std::string& worker_token,
                                          const std::string& manager_token);

struct NodeKeyAndCsr {
  std::string key_pem;  // ECDSA P-256, stays on the node
  std::string csr_pem;
};
Result<NodeKeyAndCsr> new_node_key_and_csr();

// Signs the public key of `csr_pem` (whose self-signature must verify) for
// node `node_id` in `role` (kWorkerRole or kManagerRole), valid 90 days.
// kInvalidArgument for a malformed request.
Result<std::string> sign_node_csr(const RootCA& ca, const std::string& csr_pem, const std::string& node_id,
                                  const std::string& role, const std::string& cluster_id);

// The subject of a certificate (what a TLS peer proved).
struct CertSubject {
  std::string common_name;
  std::string organizational_unit;
  std::string organization;
};
Result<CertSubject> cert_subject(const std::string& cert_pem);

}  // namespace shoal::ca
