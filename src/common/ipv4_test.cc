#include "common/ipv4.h"

#include <gtest/gtest.h>

namespace shoal::ipv4 {
namespace {

TEST(Ipv4Test, ParsesAndFormatsAddresses) {
  ASSERT_TRUE(parse_addr("10.0.1.2").ok());
  EXPECT_EQ(*parse_addr("10.0.1.2"), 0x0a000102u);
  EXPECT_EQ(format(0x0a000102u), "10.0.1.2");
  EXPECT_EQ(*parse_addr("255.255.255.255"), 0xffffffffu);
  for (const char* bad : {"", "10.0.1", "10.0.1.2.3", "10.0.1.256", "10.0.01.2", "a.b.c.d", "10.0.1.2 ", "-1.0.0.0"}) {
    EXPECT_FALSE(parse_addr(bad).ok()) << bad;
  }
}

TEST(Ipv4Test, ParsesCidrsAndRefusesHostBits) {
  auto c = parse_cidr("10.0.1.0/24");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->base, 0x0a000100u);
  EXPECT_EQ(c->prefix, 24);
  EXPECT_EQ(format(*c), "10.0.1.0/24");
  auto bad = parse_cidr("10.0.1.7/24");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("did you mean 10.0.1.0/24"), std::string::npos) << bad.status().message();
  for (const char* b : {"10.0.1.0", "10.0.1.0/", "10.0.1.0/33", "10.0.1.0/x", "10.0.1.0/24/1"}) {
    EXPECT_FALSE(parse_cidr(b).ok()) << b;
  }
}

TEST(Ipv4Test, ContainsAndOverlaps) {
  Cidr a = *parse_cidr("10.0.0.0/16"), b = *parse_cidr("10.0.5.0/24"), c = *parse_cidr("10.1.0.0/24");
  EXPECT_TRUE(contains(a, b));
  EXPECT_FALSE(contains(b, a));
  EXPECT_TRUE(overlaps(a, b));
  EXPECT_TRUE(overlaps(b, a));
  EXPECT_FALSE(overlaps(a, c));
  EXPECT_TRUE(contains(b, *parse_addr("10.0.5.255")));
  EXPECT_FALSE(contains(b, *parse_addr("10.0.6.0")));
  EXPECT_EQ(size(b), 256u);
  EXPECT_EQ(format(last(b)), "10.0.5.255");
}

TEST(Ipv4Test, Blocks24CoverTheSubnet) {
  auto blocks = blocks24(*parse_cidr("10.0.4.0/22"));
  ASSERT_EQ(blocks.size(), 4u);
  EXPECT_EQ(format(blocks[0]), "10.0.4.0/24");
  EXPECT_EQ(format(blocks[3]), "10.0.7.0/24");
  auto small = blocks24(*parse_cidr("10.0.9.64/26"));
  ASSERT_EQ(small.size(), 1u);
  EXPECT_EQ(format(small[0]), "10.0.9.0/24");
  EXPECT_EQ(blocks24(*parse_cidr("10.0.0.0/16")).size(), 256u);
}

}  // namespace
}  // namespace shoal::ipv4
