// A CSR cannot choose its certificate's names: sign_node_csr never copies
// the request's subject or SANs, so no node certificate carries the names
// etcd's own certificates use (src/manager/ca/etcd_certs.h).
#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "manager/ca/etcd_certs.h"
#include "manager/ca/node_certs.h"

namespace shoal::ca {
namespace {

// A CSR whose subject and SANs claim etcd's names.
std::string hostile_csr() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509_REQ* req = X509_REQ_new();
  X509_REQ_set_pubkey(req, key);
  X509_NAME* name = X509_REQ_get_subject_name(req);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(kEtcdClientName), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("swarm-manager"), -1, -1, 0);
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  std::string sans = std::string("DNS:") + kEtcdClientName + ",DNS:" + kEtcdMemberName + ",IP:127.0.0.1";
  X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, sans.c_str());
  sk_X509_EXTENSION_push(exts, san);
  X509_REQ_add_extensions(req, exts);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  X509_REQ_sign(req, key, EVP_sha256());
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(bio, req);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  X509_REQ_free(req);
  EVP_PKEY_free(key);
  return pem;
}

TEST(NodeCsrSubject, TheRequestsNamesAreNeverCopied) {
  auto ca = create_root_ca();
  ASSERT_TRUE(ca.ok());
  auto pem = sign_node_csr(*ca, hostile_csr(), "node1abc", kWorkerRole, "cluster9");
  ASSERT_TRUE(pem.ok()) << pem.status().message();
  BIO* bio = BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_check_host(cert, kEtcdClientName, 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_host(cert, kEtcdMemberName, 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ip_asc(cert, "127.0.0.1", 0), 0);
  auto subj = cert_subject(*pem);
  ASSERT_TRUE(subj.ok());
  EXPECT_EQ(subj->common_name, "node1abc");
  EXPECT_EQ(subj->organizational_unit, kWorkerRole);
  X509_free(cert);
}

}  // namespace
}  // namespace shoal::ca
