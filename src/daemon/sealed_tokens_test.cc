#include "daemon/sealed_tokens.h"

#include <gtest/gtest.h>

#include "store/memory_backend.h"

namespace shoal::daemon {
namespace {

constexpr char kKey[] = "/shoal-sealed/join-tokens";

Status write(Backend& b, const std::string& sealed, int64_t version) {
  return write_sealed_tokens(b, kKey, sealed, version, "/shoal/sealed-version", "1");
}

TEST(SealedTokens, TwoRotationsFromTheSameReadCannotBothWrite) {
  MemoryBackend backend;
  ASSERT_TRUE(write(backend, "init", 0).ok());
  auto read = read_sealed_tokens(backend, kKey);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->sealed, "init");
  // Two managers rotate from the same read: the second is refused, not lost silently.
  ASSERT_TRUE(write(backend, "rotation-a", read->version).ok());
  Status b = write(backend, "rotation-b", read->version);
  EXPECT_EQ(b.code(), Code::kConflict) << b.message();
  EXPECT_EQ(read_sealed_tokens(backend, kKey)->sealed, "rotation-a");
  // Read again, rotate over what the other stored.
  auto again = read_sealed_tokens(backend, kKey);
  EXPECT_TRUE(write(backend, "rotation-b", again->version).ok());
  EXPECT_EQ(read_sealed_tokens(backend, kKey)->sealed, "rotation-b");
}

TEST(SealedTokens, AnInitDoesNotOverwriteStoredTokens) {
  MemoryBackend backend;
  ASSERT_TRUE(write(backend, "first", 0).ok());
  EXPECT_EQ(write(backend, "second init", 0).code(), Code::kConflict);
  EXPECT_EQ(read_sealed_tokens(backend, kKey)->sealed, "first");
  MemoryBackend empty;
  EXPECT_EQ(read_sealed_tokens(empty, kKey).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace shoal::daemon
