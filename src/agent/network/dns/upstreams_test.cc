#include "agent/network/dns/upstreams.h"

#include <gtest/gtest.h>

namespace shoal::netdns {
namespace {

TEST(Upstreams, ParsesNameserversLikeTheCLibrary) {
  auto u = parse_resolv_conf(
      "# comment\nsearch example.com\nnameserver 10.0.0.1\n  nameserver   127.0.0.53  # local\n"
      "nameserver fe80::1%eth0\nnameserver bogus\nnameserver 2001:db8::1\nnameserver 10.0.0.9\n",
      53);
  ASSERT_EQ(u.size(), 3u);  // kMaxUpstreams
  EXPECT_EQ(u[0].text, "10.0.0.1:53");
  EXPECT_EQ(u[1].text, "127.0.0.53:53");  // loopback kept: we forward from the node's namespace
  EXPECT_EQ(u[2].text, "[2001:db8::1]:53");
  EXPECT_EQ(u[2].addr.ss_family, AF_INET6);
}

TEST(Upstreams, PortAndMissingFile) {
  EXPECT_EQ(parse_resolv_conf("nameserver 127.0.0.1", 5353).at(0).text, "127.0.0.1:5353");
  EXPECT_TRUE(parse_resolv_conf("", 53).empty());
  EXPECT_FALSE(read_upstreams("/nonexistent/shoal-netdns/resolv.conf", 53).ok());
}

}  // namespace
}  // namespace shoal::netdns
