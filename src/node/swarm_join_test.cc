#include <gtest/gtest.h>

#include "http/server.h"
#include "node/join.h"

namespace shoal::node {
namespace {

// The swarm listener never takes descriptors the rest of shoald needs.
TEST(SwarmConnectionCap, LeavesHeadroomBelowTheFileLimit) {
  EXPECT_EQ(swarm_connection_cap(1048576), http::kSessionMaxConnections);  // a large limit: the fixed cap
  EXPECT_EQ(swarm_connection_cap(65536), 49152u);                         // a quarter kept back
  EXPECT_EQ(swarm_connection_cap(4096), 3072u);
  EXPECT_EQ(swarm_connection_cap(2048), 1024u);  // at least 1024 kept back
  EXPECT_EQ(swarm_connection_cap(1024), 16u);    // a tiny limit: still a few sessions
  EXPECT_EQ(swarm_connection_cap(0), 16u);
  for (uint64_t n : {1100ull, 5000ull, 70000ull}) EXPECT_LT(swarm_connection_cap(n), n) << n;
}

}  // namespace
}  // namespace shoal::node
