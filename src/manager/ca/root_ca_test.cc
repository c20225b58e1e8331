#include "manager/ca/root_ca.h"

#include <gtest/gtest.h>

#include <regex>

namespace shoal::ca {

TEST(RootCA, CreatesCertificateAndPinnedTokens) {
  auto ca = create_root_ca();
  ASSERT_TRUE(ca.ok()) << ca.status().message();
  EXPECT_NE(ca->cert_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_NE(ca->key_pem.find("PRIVATE KEY"), std::string::npos);
  auto t1 = new_join_token(ca->cert_pem);
  auto t2 = new_join_token(ca->cert_pem);
  ASSERT_TRUE(t1.ok() && t2.ok());
  std::regex shape("SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}");
  EXPECT_TRUE(std::regex_match(*t1, shape)) << *t1;
  // Same CA digest, different secrets.
  EXPECT_EQ(t1->substr(0, 59), t2->substr(0, 59));
  EXPECT_NE(*t1, *t2);
  auto other = create_root_ca();
  auto t3 = new_join_token(other->cert_pem);
  EXPECT_NE(t1->substr(0, 59), t3->substr(0, 59));
}

TEST(RootCA, RejectsGarbage) {
  EXPECT_FALSE(cert_digest_hex("not a cert").ok());
}

}  // namespace shoal::ca
