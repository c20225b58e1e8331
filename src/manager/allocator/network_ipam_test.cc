#include "manager/allocator/network_ipam.h"

#include <gtest/gtest.h>

namespace shoal::allocator {
namespace {

const std::vector<std::string> kPool = {"10.0.0.0/8"};

Network net(const std::string& name, const std::string& subnet, uint32_t vni) {
  Network n;
  n.id = name + "-id";
  n.spec.name = name;
  n.vni = vni;
  n.ipam = {{subnet, "", ""}};
  return n;
}

TEST(NetworkIpamTest, DefaultPoolGivesTheFirstFreeSubnetInOrder) {
  NetworkSpec spec;
  auto a = plan_subnets(spec, {}, kPool, 24);
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_EQ(a->size(), 1u);
  EXPECT_EQ((*a)[0].subnet, "10.0.0.0/24");
  EXPECT_EQ((*a)[0].gateway, "10.0.0.1");
  auto b = plan_subnets(spec, {net("ingress", "10.0.0.0/24", 4096), net("x", "10.0.2.0/24", 4097)}, kPool, 24);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)[0].subnet, "10.0.1.0/24");
  // A requested /16 inside the pool is stepped over in one go.
  auto c = plan_subnets(spec, {net("big", "10.0.0.0/16", 4096)}, kPool, 24);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)[0].subnet, "10.1.0.0/24");
}

TEST(NetworkIpamTest, OtherPoolsAndMaskLengths) {
  NetworkSpec spec;
  auto a = plan_subnets(spec, {net("a", "172.20.0.0/20", 4096)}, {"172.20.0.0/16", "192.168.0.0/16"}, 20);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ((*a)[0].subnet, "172.20.16.0/20");
  // Full pool: the next pool; every pool full: a clear error.
  auto b = plan_subnets(spec, {net("a", "172.20.0.0/16", 4096)}, {"172.20.0.0/16", "192.168.0.0/16"}, 20);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)[0].subnet, "192.168.0.0/20");
  auto full = plan_subnets(spec, {net("a", "192.168.0.0/16", 4096)}, {"192.168.0.0/16"}, 24);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(full.status().message().find("no free /24 subnet"), std::string::npos);
}

TEST(NetworkIpamTest, RequestedSubnetIsCheckedAndCompleted) {
  NetworkSpec spec;
  spec.ipam = {{"10.10.0.0/16", "10.10.5.0/24", ""}};
  auto a = plan_subnets(spec, {}, kPool, 24);
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ((*a)[0].gateway, "10.10.0.1");
  EXPECT_EQ((*a)[0].ip_range, "10.10.5.0/24");

  auto expect_error = [&](IpamConfig c, Code code, const std::string& text) {
    NetworkSpec s;
    s.ipam = {c};
    auto r = plan_subnets(s, {net("other", "10.20.0.0/24", 4096)}, kPool, 24);
    ASSERT_FALSE(r.ok()) << c.subnet;
    EXPECT_EQ(r.status().code(), code) << r.status().message();
    EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().message();
  };
  expect_error({"10.20.0.0/24", "", ""}, Code::kAlreadyExists, "overlaps subnet 10.20.0.0/24 of network other");
  expect_error({"10.20.0.0/16", "", ""}, Code::kAlreadyExists, "of network other");
  expect_error({"10.30.0.5/24", "", ""}, Code::kInvalidArgument, "did you mean 10.30.0.0/24");
  expect_error({"10.0.0.0/8", "", ""}, Code::kInvalidArgument, "/16 to /24");
  expect_error({"10.30.0.64/26", "", ""}, Code::kInvalidArgument, "/16 to /24");
  expect_error({"10.30.0.0/24", "", "10.31.0.1"}, Code::kInvalidArgument, "not a usable address");
  expect_error({"10.30.0.0/24", "", "10.30.0.255"}, Code::kInvalidArgument, "not a usable address");
  expect_error({"10.30.0.0/24", "10.30.1.0/26", ""}, Code::kInvalidArgument, "not inside subnet");
  expect_error({"", "", "10.30.0.1"}, Code::kInvalidArgument, "needs a subnet");
  expect_error({"127.0.0.0/24", "", ""}, Code::kInvalidArgument, "loopback");
  expect_error({"169.254.0.0/16", "", ""}, Code::kInvalidArgument, "link-local");
  expect_error({"224.1.0.0/16", "", ""}, Code::kInvalidArgument, "multicast");

  NetworkSpec two;
  two.ipam = {{"10.40.0.0/24", "", ""}, {"10.40.0.0/25", "", ""}};
  EXPECT_FALSE(plan_subnets(two, {}, kPool, 24).ok());
}

TEST(NetworkIpamTest, VniIsTheLowestFree) {
  EXPECT_EQ(*plan_vni({}), kFirstVni);
  EXPECT_EQ(*plan_vni({net("a", "10.0.0.0/24", 4096), net("b", "10.0.1.0/24", 4098)}), 4097u);
}

}  // namespace
}  // namespace shoal::allocator
