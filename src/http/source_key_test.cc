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

// Strangers never hold every slot of a listener: a swarm listener's cap
// follows RLIMIT_NOFILE (16 at a soft limit of 1024), and 32 unverified
// connections from one address used to fill it, shutting out every node.
TEST(UnverifiedTlsCaps, LeaveHalfOfTheListenerToVerifiedPeers) {
  for (size_t max : {1ul, 2ul, 16ul, 100ul, 3072ul, 8192ul, 65536ul}) {
    UnverifiedCaps c = unverified_tls_caps(max);
    EXPECT_LE(c.total, std::max<size_t>(1, max / 2)) << max;
    EXPECT_LE(c.per_source, c.total) << max;
    EXPECT_GE(c.per_source, 1u) << max;
  }
  EXPECT_EQ(unverified_tls_caps(16).total, 8u);
  EXPECT_EQ(unverified_tls_caps(16).per_source, 4u);
  EXPECT_EQ(unverified_tls_caps(65536).total, 4096u);  // a large listener: as before
  EXPECT_EQ(unverified_tls_caps(65536).per_source, 32u);
}

}  // namespace
}  // namespace shoal::http
