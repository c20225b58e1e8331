#include "manager/ca/etcd_certs.h"

#include "manager/ca/node_certs.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

namespace shoal::ca {
namespace {

X509* parse(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* c = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return c;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Verifies `leaf` against `root` for the given purpose (X509_PURPOSE_*).
bool verifies(const std::string& root, const std::string& leaf, int purpose) {
  X509* r = parse(root);
  X509* l = parse(leaf);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, r);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, l, nullptr);
  X509_STORE_CTX_set_purpose(ctx, purpose);
  bool ok = X509_verify_cert(ctx) == 1;
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  X509_free(l);
  X509_free(r);
  return ok;
}

TEST(IssueCertificate, SignedByTheRootWithSansAndUsages) {
  auto root = create_root_ca();
  ASSERT_TRUE(root.ok());
  CertRequest req;
  req.common_name = "node1";
  req.dns_names = {"localhost"};
  req.ip_addresses = {"127.0.0.1", "10.1.2.3", "::1"};
  req.server_auth = true;
  auto leaf = issue_certificate(*root, req);
  ASSERT_TRUE(leaf.ok()) << leaf.status().message();
  EXPECT_TRUE(verifies(root->cert_pem, leaf->cert_pem, X509_PURPOSE_SSL_SERVER));
  EXPECT_FALSE(verifies(root->cert_pem, leaf->cert_pem, X509_PURPOSE_SSL_CLIENT));  // serverAuth only
  X509* c = parse(leaf->cert_pem);
  EXPECT_EQ(X509_check_ip_asc(c, "10.1.2.3", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(c, "::1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(c, "10.9.9.9", 0), 0);
  EXPECT_EQ(X509_check_host(c, "localhost", 0, 0, nullptr), 1);
  X509_free(c);
  // Another CA's certificate does not verify.
  auto other = create_root_ca();
  EXPECT_FALSE(verifies(other->cert_pem, leaf->cert_pem, X509_PURPOSE_SSL_SERVER));
}

TEST(IssueCertificate, RejectsBadInput) {
  auto root = create_root_ca();
  CertRequest req;
  req.ip_addresses = {"not-an-ip"};
  EXPECT_EQ(issue_certificate(*root, req).status().code(), Code::kInvalidArgument);
  RootCA no_key{root->cert_pem, ""};
  EXPECT_EQ(issue_certificate(no_key, CertRequest{}).status().code(), Code::kInvalidArgument);
  RootCA mismatched{root->cert_pem, create_root_ca()->key_pem};
  EXPECT_NE(issue_certificate(mismatched, CertRequest{}).status().message().find("does not match"), std::string::npos);
}

TEST(EtcdCerts, WrittenPrivateAndChecked) {
  std::string dir = std::filesystem::temp_directory_path() / ("shoal-etcd-certs-" + std::to_string(getpid()));
  ASSERT_TRUE(write_etcd_certs(dir + "/certs", "cluster1", {"10.0.0.7"}).ok());
  EtcdCertFiles f = etcd_cert_files(dir + "/certs");
  EXPECT_TRUE(check_etcd_certs(f).ok());
  auto root = std::make_optional(RootCA{slurp(f.ca_cert), slurp(f.ca_key)});
  struct stat st;
  ASSERT_EQ(stat((dir + "/certs").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  for (const auto& k : {f.ca_key, f.member_key, f.client_key}) {
    ASSERT_EQ(stat(k.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << k;
  }
  std::string member = slurp(f.member_cert), client = slurp(f.client_cert);
  EXPECT_TRUE(verifies(root->cert_pem, member, X509_PURPOSE_SSL_SERVER));
  EXPECT_TRUE(verifies(root->cert_pem, member, X509_PURPOSE_SSL_CLIENT));  // peers dial each other
  EXPECT_TRUE(verifies(root->cert_pem, client, X509_PURPOSE_SSL_CLIENT));
  EXPECT_FALSE(verifies(root->cert_pem, client, X509_PURPOSE_SSL_SERVER));
  X509* m = parse(member);
  EXPECT_EQ(X509_check_ip_asc(m, "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(m, "10.0.0.7", 0), 1);
  EXPECT_EQ(X509_check_host(m, kEtcdMemberName, 0, 0, nullptr), 1);
  X509_free(m);
  X509* c = parse(client);
  EXPECT_EQ(X509_check_host(c, kEtcdClientName, 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(c, kEtcdMemberName, 0, 0, nullptr), 0);
  X509_free(c);
  // A key others can read, a missing file, a certificate of another CA: refused.
  chmod(f.client_key.c_str(), 0644);
  EXPECT_NE(check_etcd_certs(f).message().find("readable by other users"), std::string::npos);
  chmod(f.client_key.c_str(), 0600);
  std::ofstream(f.ca_cert, std::ios::trunc) << create_root_ca(kEtcdCaName)->cert_pem;
  EXPECT_NE(check_etcd_certs(f).message().find("not issued by the CA"), std::string::npos);
  // The swarm's root CA as etcd's trust anchor (what shoald wrote before the
  // etcd CA): refused, every node's certificate would open etcd.
  std::ofstream(f.ca_cert, std::ios::trunc) << create_root_ca()->cert_pem;
  EXPECT_NE(check_etcd_certs(f).message().find("not an etcd-only CA"), std::string::npos);
  std::filesystem::remove(f.member_key);
  EXPECT_NE(check_etcd_certs(f).message().find("swarm leave --force"), std::string::npos);
  std::filesystem::remove_all(dir);
}

// A joining manager's etcd certificates: signed from its CSRs (its keys stay
// with it), the subject and SANs chosen by the signer.
TEST(EtcdCerts, JoiningMembersCsrsAreSignedWithTheirAddress) {
  auto ca = create_root_ca(kEtcdCaName);
  ASSERT_TRUE(ca.ok());
  auto kc = new_node_key_and_csr();
  ASSERT_TRUE(kc.ok());
  auto member = sign_etcd_csr(*ca, kc->csr_pem, EtcdCertKind::kMember, "", "198.18.0.12");
  ASSERT_TRUE(member.ok()) << member.status().message();
  EXPECT_TRUE(verifies(ca->cert_pem, *member, X509_PURPOSE_SSL_SERVER));
  EXPECT_TRUE(verifies(ca->cert_pem, *member, X509_PURPOSE_SSL_CLIENT));
  X509* m = parse(*member);
  EXPECT_EQ(X509_check_ip_asc(m, "198.18.0.12", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(m, "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(m, "198.18.0.13", 0), 0);
  EXPECT_EQ(X509_check_host(m, kEtcdMemberName, 0, 0, nullptr), 1);
  X509_free(m);
  auto client = sign_etcd_csr(*ca, kc->csr_pem, EtcdCertKind::kClient, "", "198.18.0.12");
  ASSERT_TRUE(client.ok());
  EXPECT_TRUE(verifies(ca->cert_pem, *client, X509_PURPOSE_SSL_CLIENT));
  EXPECT_FALSE(verifies(ca->cert_pem, *client, X509_PURPOSE_SSL_SERVER));
  X509* c = parse(*client);
  EXPECT_EQ(X509_check_host(c, kEtcdClientName, 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(c, kEtcdMemberName, 0, 0, nullptr), 0);  // a client certificate is no peer's
  X509_free(c);
}

TEST(EtcdCerts, AJoiningMembersBadCsrOrAddressIsRefused) {
  auto ca = create_root_ca(kEtcdCaName);
  ASSERT_TRUE(ca.ok());
  auto kc = new_node_key_and_csr();
  ASSERT_TRUE(kc.ok());
  EXPECT_EQ(sign_etcd_csr(*ca, kc->csr_pem, EtcdCertKind::kMember, "", "not-an-ip").status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(sign_etcd_csr(*ca, "garbage", EtcdCertKind::kMember, "", "10.0.0.1").status().code(),
            Code::kInvalidArgument);
}

}  // namespace
}  // namespace shoal::ca
