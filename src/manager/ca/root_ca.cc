#include "manager/ca/root_ca.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <openssl/bn.h>

#include <memory>

#include "common/ids.h"
#include "manager/ca/x509_util.h"

namespace shoal::ca {

namespace {

// The OpenSSL helpers of this folder (x509_util.h).
using namespace ssl;  // NOLINT(google-build-using-namespace)

Result<PKey> parse_key(const std::string& pem) {
  Bio bio = mem_bio(pem);
  PKey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return invalid_argument("not a PEM private key");
  return key;
}

std::string pem_of(X509* cert) {
  Bio b(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(b.get(), cert);
  return bio_string(b.get());
}

std::string pem_of(EVP_PKEY* key) {
  Bio b(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(b.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_string(b.get());
}

}  // namespace

Result<RootCA> create_root_ca(const std::string& common_name) {
  PKey key(EVP_EC_gen("P-256"));
  if (!key) return internal_error("generating the CA key (ECDSA P-256) failed");
  Cert cert(X509_new());
  X509_set_version(cert.get(), 2);
  set_random_serial(cert.get());
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 20L * 365 * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_basic_constraints, "critical,CA:TRUE");
  if (ext) {
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_key_usage, "critical,keyCertSign,cRLSign");
  if (ext) {
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  add_ext(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
  if (!X509_sign(cert.get(), key.get(), EVP_sha256())) return internal_error("signing the CA certificate failed");
  RootCA out;
  Bio cb(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(cb.get(), cert.get());
  out.cert_pem = bio_string(cb.get());
  Bio kb(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  out.key_pem = bio_string(kb.get());
  return out;
}

Result<IssuedCert> issue_certificate(const RootCA& ca, const CertRequest& req) {
  SHOAL_ASSIGN_OR_RETURN(Cert ca_cert, parse_cert(ca.cert_pem));
  auto ca_key = parse_key(ca.key_pem);
  if (!ca_key.ok()) return invalid_argument("the root CA's private key is missing or unreadable: " + ca_key.status().message());
  if (X509_check_private_key(ca_cert.get(), ca_key->get()) != 1) {
    return invalid_argument("the root CA's private key does not match its certificate");
  }
  std::string san;
  for (const auto& d : req.dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
  for (const auto& ip : req.ip_addresses) {
    unsigned char buf[16];
    if (inet_pton(AF_INET, ip.c_str(), buf) != 1 && inet_pton(AF_INET6, ip.c_str(), buf) != 1) {
      return invalid_argument("\"" + ip + "\" is not an IP address (for a certificate's subjectAltName)");
    }
    san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
  }
  PKey key(EVP_EC_gen("P-256"));
  if (!key) return internal_error("generating a certificate key (ECDSA P-256) failed");
  Cert cert(X509_new());
  X509_set_version(cert.get(), 2);
  set_random_serial(cert.get());
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);  // tolerate clock skew between managers
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(req.validity.count()));
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  add_name(name, "O", req.organization);
  add_name(name, "OU", req.organizational_unit);
  add_name(name, "CN", req.common_name);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
  add_ext(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature,keyAgreement");
  std::string eku;
  if (req.server_auth) eku = "serverAuth";
  if (req.client_auth) eku += std::string(eku.empty() ? "" : ",") + "clientAuth";
  if (!eku.empty()) add_ext(cert.get(), ca_cert.get(), NID_ext_key_usage, eku);
  if (!san.empty()) add_ext(cert.get(), ca_cert.get(), NID_subject_alt_name, san);
  add_ext(cert.get(), ca_cert.get(), NID_subject_key_identifier, "hash");
  add_ext(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always");
  if (!X509_sign(cert.get(), ca_key->get(), EVP_sha256())) return internal_error("signing a certificate failed");
  return IssuedCert{pem_of(cert.get()), pem_of(key.get())};
}

Result<std::string> cert_digest_hex(const std::string& cert_pem) {
  SHOAL_ASSIGN_OR_RETURN(Cert cert, parse_cert(cert_pem));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!X509_digest(cert.get(), EVP_sha256(), md, &n)) return internal_error("digesting the CA certificate failed");
  return hex_encode(std::string(reinterpret_cast<const char*>(md), n));
}

Result<std::string> new_join_token(const std::string& cert_pem) {
  SHOAL_ASSIGN_OR_RETURN(Cert cert, parse_cert(cert_pem));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!X509_digest(cert.get(), EVP_sha256(), md, &n)) return internal_error("digesting the CA certificate failed");
  std::string digest(reinterpret_cast<char*>(md), n);
  return "SWMTKN-1-" + base36(digest, 50) + "-" + base36(random_bytes(16), 25);
}

}  // namespace shoal::ca
