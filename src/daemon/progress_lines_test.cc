#include "daemon/progress_lines.h"

#include <gtest/gtest.h>

namespace shoal::daemon {
namespace {

TEST(ProgressLines, TheMovingStatusIsThinnedTo512KiBStepsAndItsLastLine) {
  ProgressLines p("Pushing");
  auto first = p.line("abc", "Pushing", 0, 4 << 20);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ((*first)["progressDetail"]["current"], 0);
  EXPECT_EQ((*first)["id"], "abc");
  EXPECT_FALSE(p.line("abc", "Pushing", 100 << 10, 4 << 20).has_value());
  EXPECT_TRUE(p.line("abc", "Pushing", 600 << 10, 4 << 20).has_value());
  auto last = p.line("abc", "Pushing", 4 << 20, 4 << 20);
  ASSERT_TRUE(last.has_value()) << "the last line is always shown";
  EXPECT_EQ((*last)["progressDetail"]["total"], 4 << 20);
  auto other = p.line("", "Layer already exists", 0, 0);
  ASSERT_TRUE(other.has_value());
  EXPECT_FALSE(other->contains("id"));
  EXPECT_TRUE((*other)["progressDetail"].empty());
}

}  // namespace
}  // namespace shoal::daemon
