#include "manager/ca/node_certs.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "common/ids.h"
#include "manager/ca/x509_util.h"

namespace shoal::ca {

namespace {

// The OpenSSL helpers of this folder (x509_util.h).
using namespace ssl;  // NOLINT(google-build-using-namespace)

constexpr size_t kDigestChars = 50;
constexpr size_t kSecretChars = 25;
constexpr size_t kMaxCsrBytes = 16 * 1024;

bool is_base36(const std::string& s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))) return false;
  }
  return true;
}

std::string name_entry(X509_NAME* name, int nid) {
  int i = X509_NAME_get_index_by_NID(name, nid, -1);
  if (i < 0) return "";
  ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, s);
  if (n < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

}  // namespace

Result<JoinTokenParts> parse_join_token(const std::string& token) {
  const std::string prefix = "SWMTKN-1-";
  auto bad = [](const std::string& why) {
    return invalid_argument("invalid join token: " + why +
                            " (a token is SWMTKN-1-<50 characters>-<25 characters>; print one with `swarm join-token "
                            "worker` on a manager)");
  };
  if (token.rfind("SWMTKN-", 0) != 0) return bad("it does not start with SWMTKN-");
  if (token.rfind(prefix, 0) != 0) return bad("only version 1 tokens (SWMTKN-1-) are known");
  std::string rest = token.substr(prefix.size());
  auto dash = rest.find('-');
  if (dash == std::string::npos || rest.find('-', dash + 1) != std::string::npos) return bad("wrong number of parts");
  JoinTokenParts p{rest.substr(0, dash), rest.substr(dash + 1)};
  if (p.digest.size() != kDigestChars || !is_base36(p.digest)) return bad("the CA digest part is malformed");
  if (p.secret.size() != kSecretChars || !is_base36(p.secret)) return bad("the secret part is malformed");
  return p;
}

Result<std::string> ca_token_digest(const std::string& ca_cert_pem) {
  SHOAL_ASSIGN_OR_RETURN(Cert cert, parse_cert(ca_cert_pem));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!X509_digest(cert.get(), EVP_sha256(), md, &n)) return internal_error("digesting the CA certificate failed");
  return base36(std::string(reinterpret_cast<char*>(md), n), kDigestChars);
}

Result<bool> ca_matches_token(const std::string& token, const std::string& ca_cert_pem) {
  SHOAL_ASSIGN_OR_RETURN(JoinTokenParts parts, parse_join_token(token));
  SHOAL_ASSIGN_OR_RETURN(std::string digest, ca_token_digest(ca_cert_pem));
  return CRYPTO_memcmp(digest.data(), parts.digest.data(), kDigestChars) == 0;
}

std::optional<TokenRole> match_join_token(const std::string& presented, const std::string& worker_token,
                                          const std::string& manager_token) {
  // Lengths are not secret (every token has the same shape); the contents
  // are compared in full whatever the first difference.
  auto same = [&](const std::string& t) {
    return !t.empty() && t.size() == presented.size() && CRYPTO_memcmp(t.data(), presented.data(), t.size()) == 0;
  };
  bool worker = same(worker_token);
  bool manager = same(manager_token);
  if (manager) return TokenRole::kManager;
  if (worker) return TokenRole::kWorker;
  return std::nullopt;
}

Result<NodeKeyAndCsr> new_node_key_and_csr() {
  PKey key(EVP_EC_gen("P-256"));
  if (!key) return internal_error("generating the node key (ECDSA P-256) failed");
  Req req(X509_REQ_new());
  X509_REQ_set_version(req.get(), 0);
  // The subject is the manager's choice; the request carries a placeholder.
  add_name(X509_REQ_get_subject_name(req.get()), "CN", "shoal-node");
  X509_REQ_set_pubkey(req.get(), key.get());
  if (!X509_REQ_sign(req.get(), key.get(), EVP_sha256())) return internal_error("signing the certificate request failed");
  NodeKeyAndCsr out;
  Bio rb(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(rb.get(), req.get());
  out.csr_pem = bio_string(rb.get());
  Bio kb(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  out.key_pem = bio_string(kb.get());
  return out;
}

Result<std::string> sign_node_csr(const RootCA& ca, const std::string& csr_pem, const std::string& node_id,
                                  const std::string& role, const std::string& cluster_id) {
  if (role != kWorkerRole && role != kManagerRole) return invalid_argument("unknown node role " + role);
  if (csr_pem.size() > kMaxCsrBytes) return invalid_argument("the certificate signing request is larger than 16 KiB");
  Bio rb = mem_bio(csr_pem);
  Req req(PEM_read_bio_X509_REQ(rb.get(), nullptr, nullptr, nullptr));
  if (!req) return invalid_argument("CSR is not a PEM certificate signing request");
  PKey pub(X509_REQ_get_pubkey(req.get()));
  if (!pub || X509_REQ_verify(req.get(), pub.get()) != 1) {
    return invalid_argument("CSR's signature does not verify with its own public key");
  }
  if (EVP_PKEY_get_base_id(pub.get()) != EVP_PKEY_EC) return invalid_argument("CSR's key must be an ECDSA key");
  SHOAL_ASSIGN_OR_RETURN(Cert ca_cert, parse_cert(ca.cert_pem));
  Bio kb = mem_bio(ca.key_pem);
  PKey ca_key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!ca_key || X509_check_private_key(ca_cert.get(), ca_key.get()) != 1) {
    return internal_error("the root CA's private key is missing or does not match its certificate");
  }
  Cert cert(X509_new());
  X509_set_version(cert.get(), 2);
  ssl::set_random_serial(cert.get());
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);  // clock skew between nodes
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 90L * 24 * 3600);
  X509_set_pubkey(cert.get(), pub.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  add_name(name, "O", cluster_id);
  add_name(name, "OU", role);
  add_name(name, "CN", node_id);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
  add_ext(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature,keyAgreement");
  add_ext(cert.get(), ca_cert.get(), NID_ext_key_usage, "serverAuth,clientAuth");
  add_ext(cert.get(), ca_cert.get(), NID_subject_alt_name, "DNS:" + role + ",DNS:" + node_id);
  add_ext(cert.get(), ca_cert.get(), NID_subject_key_identifier, "hash");
  add_ext(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always");
  if (!X509_sign(cert.get(), ca_key.get(), EVP_sha256())) return internal_error("signing the node certificate failed");
  Bio out(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(out.get(), cert.get());
  return bio_string(out.get());
}

Result<CertSubject> cert_subject(const std::string& cert_pem) {
  SHOAL_ASSIGN_OR_RETURN(Cert cert, parse_cert(cert_pem));
  X509_NAME* name = X509_get_subject_name(cert.get());
  return CertSubject{name_entry(name, NID_commonName), name_entry(name, NID_organizationalUnitName),
                     name_entry(name, NID_organizationName)};
}

}  // namespace shoal::ca
