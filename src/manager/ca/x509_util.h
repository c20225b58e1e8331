// OpenSSL helpers shared by the CA's certificate code (root_ca.cc,
// node_certs.cc): owning pointers, PEM in and out, subject names, extensions
// and serial numbers. Internal to src/manager/ca. Every function is
// thread-safe (OpenSSL 3 objects are not shared between calls).
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "common/result.h"

namespace shoal::ca::ssl {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PKey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Req = std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

// What a memory BIO holds.
std::string bio_string(BIO* bio);
// A read-only memory BIO over `s`, which must outlive it.
Bio mem_bio(const std::string& s);
// kInvalidArgument unless `pem` holds a PEM certificate.
Result<Cert> parse_cert(const std::string& pem);
// Adds the extension `nid` = `value` (OpenSSL config syntax) to `cert`, with
// `issuer` as the context for the key identifiers.
void add_ext(X509* cert, X509* issuer, int nid, const std::string& value);
// Adds field=value (UTF-8) to a subject name; an empty value adds nothing.
void add_name(X509_NAME* name, const char* field, const std::string& value);
// A positive random 127-bit serial number (RFC 5280 allows up to 20 octets).
void set_random_serial(X509* cert);

}  // namespace shoal::ca::ssl
