#include "lab/lab_state.h"

#include <gtest/gtest.h>

namespace shoal::lab {
namespace {

TEST(LabState, PlansNamesAndAddresses) {
  auto nodes = plan_nodes("/run/l", "abc123", "198.18.3.0/24", 3, 2);
  ASSERT_TRUE(nodes.ok());
  ASSERT_EQ(nodes->size(), 5u);
  EXPECT_EQ((*nodes)[0].name, "m1");
  EXPECT_EQ((*nodes)[0].address, "198.18.3.11");
  EXPECT_EQ((*nodes)[2].address, "198.18.3.13");
  EXPECT_EQ((*nodes)[3].name, "w1");
  EXPECT_EQ((*nodes)[3].role, Role::kWorker);
  EXPECT_EQ((*nodes)[4].address, "198.18.3.102");
  EXPECT_EQ((*nodes)[4].netns, "shoal-abc123-w2");
  EXPECT_EQ((*nodes)[4].socket(), "/run/l/w2/shoald.sock");
  EXPECT_LE((*nodes)[4].veth.size(), 15u);  // IFNAMSIZ
}

TEST(LabState, RefusesCountsThatDoNotFit) {
  EXPECT_FALSE(plan_nodes("/d", "x", "198.18.0.0/24", 0, 2).ok());
  EXPECT_FALSE(plan_nodes("/d", "x", "198.18.0.0/24", 90, 0).ok());
  auto r = plan_nodes("/d", "x", "198.18.0.0/24", 3, 151);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--workers"), std::string::npos);
  EXPECT_EQ(plan_nodes("/d", "x", "198.18.0.0/24", 89, 150)->back().address, "198.18.0.250");
}

TEST(LabState, JsonRoundTrip) {
  LabState s;
  s.dir = "/run/l";
  s.id = lab_id(s.dir);
  s.subnet = "198.18.0.0/24";
  s.bridge_netns = "shoal-" + s.id + "-br";
  s.shoald = "/usr/bin/shoald";
  s.created_dir = true;
  s.nodes = *plan_nodes(s.dir, s.id, s.subnet, 1, 1);
  s.nodes[0].pid = 42;
  s.nodes[0].pid_start = 123456789012;
  s.nodes[0].swarm = "init";
  s.nodes[1].partitioned = true;
  auto back = lab_from_json(to_json(s));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(to_json(*back), to_json(s));
  EXPECT_EQ(back->find("w1")->partitioned, true);
  EXPECT_EQ(back->find("m9"), nullptr);
  EXPECT_FALSE(lab_from_json("{\"version\":2}").ok());
  EXPECT_FALSE(lab_from_json("[").ok());
}

TEST(LabState, IdIsStableAndShort) {
  EXPECT_EQ(lab_id("/run/shoal-lab"), lab_id("/run/shoal-lab"));
  EXPECT_NE(lab_id("/run/shoal-lab"), lab_id("/run/shoal-lab2"));
  EXPECT_EQ(lab_id("/x").size(), 6u);
}

}  // namespace
}  // namespace shoal::lab
