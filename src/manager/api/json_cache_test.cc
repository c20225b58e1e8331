#include "manager/api/json_cache.h"

#include <gtest/gtest.h>

namespace shoal::api {
namespace {

TEST(JsonCache, HitsOnlyTheSameVersion) {
  JsonCache c;
  EXPECT_EQ(c.find("t1", 5), nullptr);
  c.put("t1", 5, "{\"v\":5}");
  ASSERT_NE(c.find("t1", 5), nullptr);
  EXPECT_EQ(*c.find("t1", 5), "{\"v\":5}");
  EXPECT_EQ(c.find("t1", 6), nullptr) << "a newer write is a miss";
  c.put("t1", 6, "{\"v\":6}");
  EXPECT_EQ(c.find("t1", 5), nullptr) << "the old version is replaced";
  EXPECT_EQ(*c.find("t1", 6), "{\"v\":6}");
  EXPECT_EQ(c.bytes(), std::string("{\"v\":6}").size() + 2);
}

TEST(JsonCache, StartsOverPastTheBudget) {
  JsonCache c(20);
  c.put("a", 1, "0123456789");  // 11 bytes with the id
  c.put("b", 1, "0123456789");  // 22 > 20: starts over, keeps b
  EXPECT_EQ(c.find("a", 1), nullptr);
  ASSERT_NE(c.find("b", 1), nullptr);
  auto big = c.put("c", 1, std::string(50, 'x'));  // larger than the budget: returned, not kept
  EXPECT_EQ(big->size(), 50u);
  EXPECT_EQ(c.find("c", 1), nullptr);
}

}  // namespace
}  // namespace shoal::api
