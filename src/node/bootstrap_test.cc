#include "node/bootstrap.h"

#include <gtest/gtest.h>

namespace shoal::node {
namespace {

api::InitRequest init_request(std::string listen, std::string advertise) {
  api::InitRequest r;
  r.listen_addr = std::move(listen);
  r.advertise_addr = std::move(advertise);
  return r;
}

TEST(SwarmAddress, TakesTheListenPortWhenTheAdvertiseAddressHasNone) {
  // `swarm init --listen-addr 127.0.0.1:4000`: Docker advertises 127.0.0.1:4000.
  EXPECT_EQ(swarm_address(init_request("127.0.0.1:4000", ""), "10.1.2.3"), "127.0.0.1:4000");
  EXPECT_EQ(swarm_address(init_request("0.0.0.0:4000", ""), "10.1.2.3"), "10.1.2.3:4000");
  EXPECT_EQ(swarm_address(init_request("0.0.0.0:4000", "10.0.0.5"), ""), "10.0.0.5:4000");
  EXPECT_EQ(swarm_address(init_request("[::]:4000", ""), ""), "127.0.0.1:4000");
  EXPECT_EQ(swarm_address(init_request("[::1]:4000", ""), ""), "[::1]:4000");
  EXPECT_EQ(swarm_address(init_request("0.0.0.0:4000", "fd00::5"), ""), "[fd00::5]:4000");
}

TEST(SwarmAddress, AnExplicitAdvertisePortWins) {
  EXPECT_EQ(swarm_address(init_request("0.0.0.0:4000", "10.0.0.5:5000"), ""), "10.0.0.5:5000");
  EXPECT_EQ(swarm_address(init_request("0.0.0.0:4000", "[fd00::5]:5000"), ""), "[fd00::5]:5000");
}

TEST(SwarmAddress, DefaultsTo2377) {
  EXPECT_EQ(swarm_address(init_request("0.0.0.0:2377", ""), ""), "127.0.0.1:2377");
  EXPECT_EQ(swarm_address(init_request("", "10.0.0.5"), ""), "10.0.0.5:2377");
  EXPECT_EQ(swarm_address(init_request("0.0.0.0", ""), "10.1.2.3"), "10.1.2.3:2377");
}

}  // namespace
}  // namespace shoal::node
