#include "agent/network/node/view_model.h"
#include "agent/network/node/node_network.h"

#include <gtest/gtest.h>

namespace shoal::netnode {
namespace {

session::NetworkView sample() {
  session::NetworkInfo n;
  n.id = "net1aaaaaaaaaaaa";
  n.name = "front";
  n.vni = 4097;
  n.subnet = "10.0.1.0/24";
  n.gateway = "10.0.1.1";
  n.endpoints = {{"t1", "web", "me", "10.0.1.3", "192.0.2.1", true},
                 {"t2", "web", "other", "10.0.1.4", "192.0.2.2", true},
                 {"t3", "web", "other", "10.0.1.5", "192.0.2.2", false},  // being stopped
                 {"t4", "db", "me", "10.0.1.6", "192.0.2.1", true}};
  n.services = {{"db", "DB", {"store"}, "", {}}, {"web", "web", {}, "10.0.1.2", {}}};
  session::NetworkInfo other = n;
  other.id = "net2bbbbbbbbbbbb";
  other.name = "back";
  other.endpoints = {{"t9", "hidden", "me", "10.0.2.3", "192.0.2.1", true}};
  other.services = {{"hidden", "hidden", {}, "10.0.2.2", {}}};
  session::NetworkInfo ingress = other;
  ingress.id = "net3cccccccccccc";
  ingress.ingress = true;
  ingress.services = {{"web", "web", {}, "10.255.0.2", {}}};
  return {{n, other, ingress}};
}

TEST(ViewModel, PeersAreEveryEndpointOnOtherNodes) {
  auto v = sample();
  auto peers = remote_peers(v.networks[0], "me");
  ASSERT_EQ(peers.size(), 2u);  // serving or not: a stopping task finishes its connections
  EXPECT_EQ(peers[0], (netoverlay::RemotePeer{"10.0.1.4", "", "192.0.2.2"}));
  EXPECT_EQ(peers[1].ip, "10.0.1.5");
  // A node that reports an address no tunnel can have is no peer (it would
  // open the VXLAN guard to anyone).
  v.networks[0].endpoints.push_back({"t5", "web", "odd", "10.0.1.7", "127.0.0.1", true});
  EXPECT_EQ(remote_peers(v.networks[0], "me").size(), 2u);
}

TEST(ViewModel, ScopeHasOnlySharedNetworksAndServingTasks) {
  auto v = sample();
  auto scope = task_scope(v, {"net1aaaaaaaaaaaa", "net3cccccccccccc"});
  EXPECT_EQ(scope->at("web"), (std::vector<std::string>{"10.0.1.2"}));
  EXPECT_EQ(scope->at("tasks.web"), (std::vector<std::string>{"10.0.1.3", "10.0.1.4"}));
  // No VIP: dnsrr, the name gives the task IPs; aliases too; names lower-case.
  EXPECT_EQ(scope->at("db"), (std::vector<std::string>{"10.0.1.6"}));
  EXPECT_EQ(scope->at("store"), (std::vector<std::string>{"10.0.1.6"}));
  EXPECT_EQ(scope->count("hidden"), 0u);  // not on a shared network
  // The ingress network gives no names: its VIP of web is not an answer.
  for (const auto& [name, ips] : *scope)
    for (const auto& ip : ips) EXPECT_NE(ip, "10.255.0.2") << name;
}

TEST(ViewModel, VipsHaveServingBackendsOfTheSharedNetwork) {
  auto v = sample();
  auto vips = task_vips(v, {"net1aaaaaaaaaaaa", "net3cccccccccccc"});
  ASSERT_EQ(vips.size(), 1u);  // db is dnsrr, ingress is left out
  EXPECT_EQ(vips[0].vip, "10.0.1.2");
  EXPECT_EQ(vips[0].backends, (std::vector<std::string>{"10.0.1.3", "10.0.1.4"}));
  EXPECT_TRUE(task_vips(v, {}).empty());
}

TEST(ViewModel, NetworkConfigAndLookup) {
  auto v = sample();
  ASSERT_NE(find_network(v, "net2bbbbbbbbbbbb"), nullptr);
  EXPECT_EQ(find_network(v, "nope"), nullptr);
  auto c = network_config(v.networks[0]);
  EXPECT_EQ(c.vni, 4097u);
  EXPECT_EQ(c.subnet, "10.0.1.0/24");
  EXPECT_EQ(c.gateway, "10.0.1.1");
  EXPECT_EQ(c.mtu, 1450u);
}

}  // namespace
}  // namespace shoal::netnode

namespace shoal::netnode {
namespace {

TEST(MeshRuleset, TheNodesOwnPortsAreLeftOut) {
  session::NetworkInfo ing;
  ing.id = "ingressaaaaaaaa";
  ing.ingress = true;
  ing.endpoints = {{"t1", "web", "me", "10.0.0.5", "192.0.2.1", true}};
  PortConfig p80{"", "tcp", 80, 8080, "ingress"}, p22{"", "tcp", 22, 2222, "ingress"};
  ing.services = {{"web", "web", {}, "10.0.0.2", {p80, p22}}};
  auto all = mesh_ruleset(ing, "10.0.0.3");
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_NE(all->find("tcp dport 2222 dnat"), std::string::npos);
  auto some = mesh_ruleset(ing, "10.0.0.3", {{"tcp", 2222}, {"udp", 8080}});
  ASSERT_TRUE(some.ok()) << some.status().message();
  EXPECT_EQ(some->find("dport 2222"), std::string::npos);  // served by the node itself
  EXPECT_NE(some->find("tcp dport 8080 dnat to 10.0.0.5:80"), std::string::npos);  // udp 8080 is another port
  EXPECT_NE(some->find("oifname \"shoal_ingress\" drop"), std::string::npos);  // fenced
}

}  // namespace
}  // namespace shoal::netnode
