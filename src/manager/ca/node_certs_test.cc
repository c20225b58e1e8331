#include "manager/ca/node_certs.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace shoal::ca {
namespace {

RootCA test_ca() {
  auto ca = create_root_ca();
  EXPECT_TRUE(ca.ok());
  return *ca;
}

// True when `cert_pem` is signed by the CA's key.
bool signed_by(const std::string& cert_pem, const RootCA& ca) {
  BIO* b = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  X509* c = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  b = BIO_new_mem_buf(ca.cert_pem.data(), static_cast<int>(ca.cert_pem.size()));
  X509* cac = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  bool ok = c && cac && X509_verify(c, X509_get0_pubkey(cac)) == 1;
  X509_free(c);
  X509_free(cac);
  return ok;
}

TEST(NodeCerts, TokenPinsItsCA) {
  RootCA ca = test_ca();
  RootCA other = test_ca();
  auto token = new_join_token(ca.cert_pem);
  ASSERT_TRUE(token.ok());
  auto same = ca_matches_token(*token, ca.cert_pem);
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(*same);
  auto diff = ca_matches_token(*token, other.cert_pem);
  ASSERT_TRUE(diff.ok());
  EXPECT_FALSE(*diff);
}

TEST(NodeCerts, MalformedTokensAreRefusedWithTheirShape) {
  std::vector<std::string> bad = {"", "SWMTKN-2-abc-def", "garbage", "SWMTKN-1-abc",
                                  "SWMTKN-1-" + std::string(50, 'a') + "-" + std::string(24, 'b')};
  for (const std::string& t : bad) {
    auto p = parse_join_token(t);
    ASSERT_FALSE(p.ok()) << t;
    EXPECT_EQ(p.status().code(), Code::kInvalidArgument);
    EXPECT_NE(p.status().message().find("invalid join token"), std::string::npos) << p.status().message();
  }
  EXPECT_TRUE(parse_join_token("SWMTKN-1-" + std::string(50, 'a') + "-" + std::string(25, 'b')).ok());
}

TEST(NodeCerts, TokensMatchOnlyTheCurrentOnes) {
  RootCA ca = test_ca();
  std::string w = *new_join_token(ca.cert_pem), m = *new_join_token(ca.cert_pem);
  EXPECT_EQ(match_join_token(w, w, m), TokenRole::kWorker);
  EXPECT_EQ(match_join_token(m, w, m), TokenRole::kManager);
  std::string rotated = *new_join_token(ca.cert_pem);  // same digest, another secret
  EXPECT_EQ(match_join_token(rotated, w, m), std::nullopt);
  EXPECT_EQ(match_join_token(w.substr(0, w.size() - 1), w, m), std::nullopt);
  EXPECT_EQ(match_join_token("", "", ""), std::nullopt);
}

TEST(NodeCerts, SignsTheRequestsKeyWithTheManagersSubject) {
  RootCA ca = test_ca();
  auto kc = new_node_key_and_csr();
  ASSERT_TRUE(kc.ok());
  EXPECT_NE(kc->key_pem.find("PRIVATE KEY"), std::string::npos);
  auto cert = sign_node_csr(ca, kc->csr_pem, "node1abc", kWorkerRole, "cluster9");
  ASSERT_TRUE(cert.ok()) << cert.status().message();
  EXPECT_TRUE(signed_by(*cert, ca));
  auto subj = cert_subject(*cert);
  ASSERT_TRUE(subj.ok());
  EXPECT_EQ(subj->common_name, "node1abc");
  EXPECT_EQ(subj->organizational_unit, "swarm-worker");
  EXPECT_EQ(subj->organization, "cluster9");
}

TEST(NodeCerts, RefusesBadRequests) {
  RootCA ca = test_ca();
  auto kc = new_node_key_and_csr();
  ASSERT_TRUE(kc.ok());
  EXPECT_EQ(sign_node_csr(ca, "not a csr", "n", kWorkerRole, "c").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(sign_node_csr(ca, kc->csr_pem, "n", "swarm-admin", "c").status().code(), Code::kInvalidArgument);
  // One changed byte in the signed body: the self-signature no longer verifies.
  std::string tampered = kc->csr_pem;
  size_t pos = tampered.find('\n') + 40;
  tampered[pos] = tampered[pos] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(sign_node_csr(ca, tampered, "n", kWorkerRole, "c").ok());
  RootCA no_key{ca.cert_pem, ""};
  EXPECT_EQ(sign_node_csr(no_key, kc->csr_pem, "n", kWorkerRole, "c").status().code(), Code::kInternal);
}

}  // namespace
}  // namespace shoal::ca
