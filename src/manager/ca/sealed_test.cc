#include "manager/ca/sealed.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace shoal::ca {
namespace {

TEST(Sealed, RoundTrip) {
  std::string key = new_seal_key();
  ASSERT_EQ(key.size(), kSealKeyBytes);
  std::string secret = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n";
  auto sealed = seal(key, secret, "root-ca-key");
  ASSERT_TRUE(sealed.ok()) << sealed.status().message();
  EXPECT_EQ(sealed->find("PRIVATE KEY"), std::string::npos);  // no plaintext in the blob
  EXPECT_EQ(sealed->size(), 10 + 8 + 12 + secret.size() + 16);
  auto back = unseal(key, *sealed, "root-ca-key");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, secret);
  // A fresh nonce each time: the same secret seals differently.
  EXPECT_NE(*seal(key, secret, "root-ca-key"), *sealed);
  // Empty plaintext works too.
  EXPECT_EQ(*unseal(key, *seal(key, "", "x"), "x"), "");
}

TEST(Sealed, TamperingIsDetected) {
  std::string key = new_seal_key();
  std::string sealed = *seal(key, "the secret", "root-ca-key");
  for (size_t i = 18; i < sealed.size(); ++i) {  // nonce, ciphertext and tag bytes
    std::string bad = sealed;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    auto r = unseal(key, bad, "root-ca-key");
    ASSERT_FALSE(r.ok()) << "byte " << i;
    EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
  }
  EXPECT_FALSE(unseal(key, sealed.substr(0, sealed.size() - 1), "root-ca-key").ok());
  EXPECT_EQ(unseal(key, "short", "root-ca-key").status().code(), Code::kInvalidArgument);
  // Bound to its purpose.
  EXPECT_EQ(unseal(key, sealed, "other").status().code(), Code::kPermissionDenied);
}

TEST(Sealed, WrongKeyIsRefused) {
  std::string sealed = *seal(new_seal_key(), "the secret", "c");
  auto r = unseal(new_seal_key(), sealed, "c");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
  EXPECT_NE(r.status().message().find("different key"), std::string::npos);
  EXPECT_EQ(seal("short key", "x", "c").status().code(), Code::kInvalidArgument);
}

TEST(Sealed, KeyFileIsPrivate) {
  std::string dir = std::filesystem::temp_directory_path() / ("shoal-seal-test-" + std::to_string(getpid()));
  std::string path = dir + "/manager/seal.key";
  EXPECT_EQ(read_seal_key(path).status().code(), Code::kNotFound);
  auto key = create_seal_key(path);
  ASSERT_TRUE(key.ok()) << key.status().message();
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir + "/manager").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(*read_seal_key(path), *key);
  chmod(path.c_str(), 0644);
  EXPECT_FALSE(read_seal_key(path).ok());
  chmod(path.c_str(), 0600);
  std::ofstream(path, std::ios::trunc) << "short";
  EXPECT_FALSE(read_seal_key(path).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace shoal::ca
