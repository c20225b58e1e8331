#include "common/json_limits.h"

#include <gtest/gtest.h>

namespace shoal {
namespace {

TEST(Utf8Prefix, CutsOnACharacterBoundary) {
  EXPECT_EQ(utf8_prefix("short", 4096), "short");
  EXPECT_EQ(utf8_prefix("abcdef", 3), "abc");
  // "é" is two bytes: a cut between them drops the whole character.
  EXPECT_EQ(utf8_prefix("ab\xC3\xA9", 3), "ab");
  EXPECT_EQ(utf8_prefix("ab\xC3\xA9", 4), "ab\xC3\xA9");
  EXPECT_EQ(utf8_prefix(std::string(10000, 'x'), 4096).size(), 4096u);
}

}  // namespace
}  // namespace shoal
