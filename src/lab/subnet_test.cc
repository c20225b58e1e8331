#include "lab/subnet.h"

#include <gtest/gtest.h>

namespace shoal::lab {
namespace {

TEST(Subnet, ParsesAndFormats) {
  auto p = parse_prefix("10.1.2.3/16");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(format_prefix(*p), "10.1.0.0/16");
  EXPECT_EQ(parse_prefix("192.168.1.7")->len, 32);
  EXPECT_EQ(parse_prefix("default")->len, 0);
  EXPECT_FALSE(parse_prefix("10.1.2.0/33").ok());
  EXPECT_FALSE(parse_prefix("10.1.2/24").ok());
}

TEST(Subnet, Overlaps) {
  EXPECT_TRUE(overlaps(*parse_prefix("198.18.0.0/15"), *parse_prefix("198.19.4.0/24")));
  EXPECT_FALSE(overlaps(*parse_prefix("198.18.0.0/24"), *parse_prefix("198.18.1.0/24")));
  EXPECT_TRUE(overlaps(*parse_prefix("198.18.0.9"), *parse_prefix("198.18.0.0/24")));
}

TEST(Subnet, PicksTheFirstFreeOne) {
  EXPECT_EQ(format_prefix(*pick_subnet({})), "198.18.0.0/24");
  std::vector<Prefix> taken = {*parse_prefix("198.18.0.0/24"), *parse_prefix("198.18.1.5/32")};
  EXPECT_EQ(format_prefix(*pick_subnet(taken)), "198.18.2.0/24");
  // A host route covering the whole range leaves nothing.
  auto none = pick_subnet({*parse_prefix("198.16.0.0/12")});
  EXPECT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("--subnet"), std::string::npos);
}

TEST(Subnet, AWantedSubnetIsCheckedAgainstTheHost) {
  std::vector<Prefix> taken = {*parse_prefix("10.0.0.0/8")};
  auto r = pick_subnet(taken, "10.9.9.0/24");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("10.0.0.0/8"), std::string::npos);
  EXPECT_EQ(format_prefix(*pick_subnet(taken, "172.31.9.0/24")), "172.31.9.0/24");
  EXPECT_FALSE(pick_subnet(taken, "172.31.0.0/16").ok());  // a /24 only
}

TEST(Subnet, ReadsIpJsonAndSkipsDefaultRoutes) {
  std::string routes = R"([{"dst":"default","gateway":"10.0.2.2"},{"dst":"198.18.0.0/24","dev":"x"},
                           {"type":"local","dst":"127.0.0.1","table":"local"}])";
  std::string addrs = R"([{"ifname":"eth0","addr_info":[{"family":"inet","local":"198.18.1.9","prefixlen":24}]}])";
  auto p = host_prefixes(routes, addrs);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->size(), 3u);
  EXPECT_EQ(format_prefix(*pick_subnet(*p)), "198.18.2.0/24");
  EXPECT_FALSE(host_prefixes("not json", "[]").ok());
}

}  // namespace
}  // namespace shoal::lab
