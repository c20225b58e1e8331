#include "manager/dispatcher/assignment_log.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace shoal::dispatcher {
namespace {

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(AssignmentLog, ZeroGetsTheWholeSet) {
  AssignmentLog log;
  EXPECT_EQ(log.generation(), 1u);
  log.changed("a");
  log.changed("b");
  log.removed("a");
  auto d = log.since(0);
  EXPECT_TRUE(d.full);
  EXPECT_EQ(d.changed, std::vector<std::string>{"b"});
  EXPECT_TRUE(d.removed.empty());
}

TEST(AssignmentLog, DeltaHoldsOnlyWhatChangedAfterTheGeneration) {
  AssignmentLog log;
  log.changed("a");
  uint64_t g = log.changed("b");
  log.changed("c");
  log.changed("a");  // desired state moved
  log.removed("b");
  auto d = log.since(g);
  EXPECT_FALSE(d.full);
  EXPECT_EQ(sorted(d.changed), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(d.removed, std::vector<std::string>{"b"});
  auto none = log.since(log.generation());
  EXPECT_FALSE(none.full);
  EXPECT_TRUE(none.changed.empty());
  EXPECT_TRUE(none.removed.empty());
}

TEST(AssignmentLog, ForgottenTombstonesMeanTheWholeSet) {
  AssignmentLog log;
  uint64_t early = log.changed("keep");
  for (size_t i = 0; i < AssignmentLog::kSpareTombstones + 10; ++i) {
    log.changed("t" + std::to_string(i));
    log.removed("t" + std::to_string(i));
  }
  auto d = log.since(early);
  EXPECT_TRUE(d.full) << "removals before the kept tombstones cannot be listed";
  EXPECT_EQ(d.changed, std::vector<std::string>{"keep"});
  auto recent = log.since(log.generation() - 1);
  EXPECT_FALSE(recent.full);
  EXPECT_EQ(recent.removed.size(), 1u);
}

}  // namespace
}  // namespace shoal::dispatcher
