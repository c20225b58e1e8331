#include <gtest/gtest.h>

#include "http/server.h"

namespace shoal::http {
namespace {

// Anonymous TLS connections are capped per source: an IPv6 host changing
// the low 64 bits of its address is still one source.
TEST(UnverifiedSourceKey, IPv6ClientsCountPerSlash64) {
  EXPECT_EQ(unverified_source_key("10.1.2.3:5555"), "10.1.2.3");
  EXPECT_EQ(unverified_source_key("2001:db8:1:2::1:443"), "2001:db8:1:2::/64");
  EXPECT_EQ(unverified_source_key("2001:db8:1:2:ffff:eeee:dddd:cccc:1234"), "2001:db8:1:2::/64");
  EXPECT_NE(unverified_source_key("2001:db8:1:3::1:443"), unverified_source_key("2001:db8:1:2::1:443"));
  EXPECT_EQ(unverified_source_key("::ffff:10.1.2.3:80"), "10.1.2.3");  // IPv4-mapped: the IPv4 address
  EXPECT_EQ(unverified_source_key("unix-socket"), "unix-socket");
}

}  // namespace
}  // namespace shoal::http
