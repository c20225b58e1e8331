#include "agent/network/lb/ruleset.h"

#include <gtest/gtest.h>

namespace shoal::netlb {
namespace {

const std::string kTaskHead =
    "table ip shoal {}\n"
    "delete table ip shoal\n"
    "table ip shoal {\n"
    "\tchain output {\n"
    "\t\ttype nat hook output priority -100; policy accept;\n";
const std::string kTaskMid =
    "\t}\n"
    "\tchain unbacked {\n"
    "\t\ttype filter hook output priority 0; policy accept;\n"
    "\t\tct state established,related accept\n";
const std::string kTaskTail = "\t}\n}\n";

std::string task(const std::string& nat, const std::string& reject) {
  return kTaskHead + nat + kTaskMid + reject + kTaskTail;
}

TEST(RenderTask, NoVipsIsAnEmptyTable) {
  auto r = render_task_ruleset({});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, task("", ""));
}

TEST(RenderTask, ZeroBackendsRejects) {
  auto r = render_task_ruleset({{"10.0.0.2", {}}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, task("",
                     "\t\tip daddr 10.0.0.2 meta l4proto tcp reject with tcp reset\n"
                     "\t\tip daddr 10.0.0.2 meta l4proto udp reject\n"));
}

TEST(RenderTask, OneBackendIsAPlainDnat) {
  auto r = render_task_ruleset({{"10.0.0.2", {"10.0.0.7"}}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, task("\t\tip daddr 10.0.0.2 meta l4proto { tcp, udp } dnat to 10.0.0.7\n", ""));
}

TEST(RenderTask, ThreeBackendsRoundRobinSortedAndDeduplicated) {
  auto r = render_task_ruleset({{"10.0.0.2", {"10.0.0.10", "10.0.0.9", "10.0.0.10", "10.0.0.100"}}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  // Numeric order (9 < 10 < 100), not string order.
  EXPECT_EQ(*r, task("\t\tip daddr 10.0.0.2 meta l4proto { tcp, udp } dnat to numgen inc mod 3 map "
                     "{ 0 : 10.0.0.9, 1 : 10.0.0.10, 2 : 10.0.0.100 }\n",
                     ""));
}

TEST(RenderTask, VipsSortedSoTheSameConfigRendersTheSameScript) {
  auto a = render_task_ruleset({{"10.0.0.20", {"10.0.0.5"}}, {"10.0.0.3", {}}, {"10.0.0.4", {"10.0.0.6", "10.0.0.5"}}});
  auto b = render_task_ruleset({{"10.0.0.4", {"10.0.0.5", "10.0.0.6"}}, {"10.0.0.3", {}}, {"10.0.0.20", {"10.0.0.5"}}});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(*a, task("\t\tip daddr 10.0.0.4 meta l4proto { tcp, udp } dnat to numgen inc mod 2 map "
                     "{ 0 : 10.0.0.5, 1 : 10.0.0.6 }\n"
                     "\t\tip daddr 10.0.0.20 meta l4proto { tcp, udp } dnat to 10.0.0.5\n",
                     "\t\tip daddr 10.0.0.3 meta l4proto tcp reject with tcp reset\n"
                     "\t\tip daddr 10.0.0.3 meta l4proto udp reject\n"));
}

TEST(RenderTask, RefusesBadAddresses) {
  for (const std::string bad : {"", "10.0.0", "10.0.0.256", "010.0.0.1", "10.0.0.1 ", "10.0.0.1; flush ruleset",
                                "::1", "0.0.0.0", "127.0.0.1", "224.0.0.1", "255.255.255.255", "a.b.c.d"}) {
    auto r = render_task_ruleset({{bad, {}}});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("VIP"), std::string::npos) << r.status().message();
    auto b = render_task_ruleset({{"10.0.0.2", {"10.0.0.3", bad}}});
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_NE(b.status().message().find("backend of VIP 10.0.0.2"), std::string::npos) << b.status().message();
  }
  auto r = render_task_ruleset({{"10.0.0.2", {"10.0.0.x"}}});
  EXPECT_EQ(r.status().message(), "backend of VIP 10.0.0.2 \"10.0.0.x\" is not an IPv4 address (a.b.c.d)");
}

TEST(RenderTask, RefusesADuplicateVip) {
  auto r = render_task_ruleset({{"10.0.0.2", {}}, {"10.0.0.2", {"10.0.0.3"}}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "VIP 10.0.0.2 is listed twice");
}

const std::string kMeshHead =
    "table ip shoal-mesh {}\n"
    "delete table ip shoal-mesh\n"
    "table ip shoal-mesh {\n"
    "\tchain guard {\n"
    "\t\ttype filter hook prerouting priority -300; policy accept;\n"
    "\t\tiifname != \"lo\" ip daddr 127.0.0.0/8 drop\n"
    "\t\tiifname != \"lo\" ip saddr 127.0.0.0/8 drop\n"
    "\t}\n"
    "\tchain prerouting {\n"
    "\t\ttype nat hook prerouting priority -100; policy accept;\n";

std::string mesh(const std::string& dnat, const std::string& post, const std::string& reject) {
  return kMeshHead + dnat +
         "\t}\n"
         "\tchain output {\n"
         "\t\ttype nat hook output priority -100; policy accept;\n" +
         dnat +
         "\t}\n"
         "\tchain postrouting {\n"
         "\t\ttype nat hook postrouting priority 100; policy accept;\n" +
         post +
         "\t}\n"
         "\tchain input {\n"
         "\t\ttype filter hook input priority 0; policy accept;\n"
         "\t\tct state established,related accept\n" +
         reject + "\t}\n}\n";
}

TEST(RenderMesh, Empty) {
  auto r = render_mesh_ruleset({});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, mesh("", "", ""));
}

TEST(RenderMesh, ZeroOneAndThreeBackends) {
  MeshConfig m;
  m.ports = {{"udp", 53, 5353, {"10.0.0.7"}},
             {"tcp", 8080, 80, {"10.0.0.12", "10.0.0.11", "10.0.0.13"}},
             {"tcp", 9000, 90, {}},
             {"udp", 9000, 90, {}}};
  auto r = render_mesh_ruleset(m);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, mesh("\t\tfib daddr type local tcp dport 8080 dnat to numgen inc mod 3 map "
                     "{ 0 : 10.0.0.11, 1 : 10.0.0.12, 2 : 10.0.0.13 }:80\n"
                     "\t\tfib daddr type local udp dport 53 dnat to 10.0.0.7:5353\n",
                     "\t\tct status dnat meta l4proto tcp ct original proto-dst 8080 ip daddr "
                     "{ 10.0.0.11, 10.0.0.12, 10.0.0.13 } tcp dport 80 masquerade\n"
                     "\t\tct status dnat meta l4proto udp ct original proto-dst 53 ip daddr 10.0.0.7 "
                     "udp dport 5353 masquerade\n",
                     "\t\ttcp dport 9000 reject with tcp reset\n"
                     "\t\tudp dport 9000 reject\n"));
}

TEST(RenderMesh, SnatSourceAndHostPorts) {
  MeshConfig m;
  m.snat_source = "10.255.0.2";
  m.ports = {{"tcp", 8080, 80, {"10.255.0.5"}}};
  m.host_ports = {{"tcp", 9000, 90, {"172.18.0.3"}}};
  auto r = render_mesh_ruleset(m);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, mesh("\t\tfib daddr type local tcp dport 8080 dnat to 10.255.0.5:80\n"
                     "\t\tfib daddr type local tcp dport 9000 dnat to 172.18.0.3:90\n",
                     "\t\tct status dnat meta l4proto tcp ct original proto-dst 8080 ip daddr 10.255.0.5 "
                     "tcp dport 80 snat to 10.255.0.2\n"
                     "\t\tct status dnat ip saddr 127.0.0.0/8 meta l4proto tcp ct original proto-dst 9000 "
                     "ip daddr 172.18.0.3 tcp dport 90 masquerade\n",
                     ""));
}

TEST(RenderMesh, TheIngressInterfaceIsFencedOff) {
  MeshConfig m;
  m.ingress_ifname = "shoal_ingress";
  auto r = render_mesh_ruleset(m);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const std::string in = "\t\tiifname \"shoal_ingress\" ", out = "\t\toifname \"shoal_ingress\" ";
  const std::string leaving =
      out + "ct status dnat accept\n" + out + "ct state established,related accept\n" + out + "drop\n";
  std::string want = mesh("", "", in + "drop\n");
  want.resize(want.size() - 2);  // before the table's closing brace
  want += "\tchain forward {\n\t\ttype filter hook forward priority 0; policy accept;\n" + in +
          "ct state established,related accept\n" + in + "drop\n" + leaving +
          "\t}\n\tchain fence_output {\n\t\ttype filter hook output priority 0; policy accept;\n" + leaving +
          "\t}\n}\n";
  EXPECT_EQ(*r, want);
  m.ingress_ifname = "bad\" name";
  EXPECT_FALSE(render_mesh_ruleset(m).ok());
}

TEST(RenderMesh, SortedRegardlessOfInputOrder) {
  MeshConfig a, b;
  a.ports = {{"tcp", 81, 1, {"10.0.0.2", "10.0.0.1"}}, {"tcp", 80, 1, {"10.0.0.3"}}};
  b.ports = {{"tcp", 80, 1, {"10.0.0.3"}}, {"tcp", 81, 1, {"10.0.0.1", "10.0.0.2"}}};
  auto ra = render_mesh_ruleset(a), rb = render_mesh_ruleset(b);
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ(*ra, *rb);
}

TEST(RenderMesh, RefusesBadInput) {
  auto expect_error = [](MeshConfig m, const std::string& message) {
    auto r = render_mesh_ruleset(m);
    ASSERT_FALSE(r.ok()) << message;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(r.status().message(), message);
  };
  MeshConfig m;
  m.ports = {{"sctp", 80, 80, {}}};
  expect_error(m, "published port 80: protocol \"sctp\" is not tcp or udp");
  m.ports = {{"tcp", 0, 80, {}}};
  expect_error(m, "published port 0/tcp: published port 0 is not a port (1-65535)");
  m.ports = {{"tcp", 80, 0, {}}};
  expect_error(m, "published port 80/tcp: target port 0 is not a port (1-65535)");
  m.ports = {{"tcp", 80, 80, {"10.0.0.1/24"}}};
  expect_error(m, "backend of published port 80/tcp \"10.0.0.1/24\" is not an IPv4 address (a.b.c.d)");
  m.ports = {{"tcp", 80, 80, {}}};
  m.host_ports = {{"tcp", 80, 81, {"10.0.0.1"}}};
  expect_error(m, "host-mode port 80/tcp: published twice (a port and protocol can be published once per node)");
  m.host_ports = {};
  m.snat_source = "me";
  expect_error(m, "SNAT source \"me\" is not an IPv4 address (a.b.c.d)");
}

std::string guard(const std::string& elements, const std::string& port) {
  return "table ip shoal-vxlan {}\n"
         "delete table ip shoal-vxlan\n"
         "table ip shoal-vxlan {\n"
         "\tset peers {\n"
         "\t\ttype ipv4_addr\n" +
         elements +
         "\t}\n"
         "\tchain input {\n"
         "\t\ttype filter hook input priority -10; policy accept;\n"
         "\t\tudp dport " +
         port + " ip saddr @peers accept\n\t\tudp dport " + port +
         " drop\n"
         "\t}\n"
         "}\n";
}

TEST(RenderVxlanGuard, PeersSortedAndDeduplicated) {
  auto r = render_vxlan_guard(4789, {"192.0.2.10", "192.0.2.9", "192.0.2.10", "198.51.100.1", "192.0.2.100"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  // Numeric order (9 < 10 < 100), not string order.
  EXPECT_EQ(*r, guard("\t\telements = { 192.0.2.9, 192.0.2.10, 192.0.2.100, 198.51.100.1 }\n", "4789"));
  auto again = render_vxlan_guard(4789, {"198.51.100.1", "192.0.2.100", "192.0.2.9", "192.0.2.10"});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *r) << "the same peers render the same script";
}

TEST(RenderVxlanGuard, OnePeerAndAnotherPort) {
  auto r = render_vxlan_guard(8472, {"10.1.2.3"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, guard("\t\telements = { 10.1.2.3 }\n", "8472"));
}

TEST(RenderVxlanGuard, NoPeersDropsEverythingToThePort) {
  auto r = render_vxlan_guard(4789, {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  // An empty set (no elements line: nft refuses "elements = { }").
  EXPECT_EQ(*r, guard("", "4789"));
}

TEST(RenderVxlanGuard, RefusesBadInput) {
  for (const std::string bad : {"", "192.0.2", "192.0.2.256", "192.0.2.1/32", "192.0.2.1 ", "192.0.2.1; flush ruleset",
                                "::1", "0.0.0.0", "127.0.0.1", "224.0.0.1", "255.255.255.255", "a.b.c.d"}) {
    auto r = render_vxlan_guard(4789, {"192.0.2.2", bad});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(r.status().message().rfind("peer VTEP \"", 0), 0u) << r.status().message();
  }
  EXPECT_EQ(render_vxlan_guard(4789, {"192.0.2.x"}).status().message(),
            "peer VTEP \"192.0.2.x\" is not an IPv4 address (a.b.c.d)");
  auto zero = render_vxlan_guard(0, {"192.0.2.2"});
  EXPECT_EQ(zero.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(zero.status().message(), "VXLAN port 0 is not a port (1-65535)");
}

}  // namespace
}  // namespace shoal::netlb
