#include "node/manager_status.h"

#include <gtest/gtest.h>

namespace shoal::node {
namespace {

Node manager(const std::string& id, const std::string& addr) {
  Node n;
  n.id = id;
  n.spec.role = NodeRole::kManager;
  n.addr = addr;
  n.manager_status = ManagerStatus{true, "reachable", addr + ":2377"};  // stale: stored at join
  return n;
}

TEST(ManagerStatus, OneLeaderTheLiveVotersReachable) {
  Node w;
  w.id = "w1";
  std::vector<Node> nodes = {manager("m1", "10.0.0.1"), manager("m2", "10.0.0.2"), manager("m3", "10.0.0.3"), w};
  ManagerLiveness l{"m2", std::set<std::string>{"m1", "m2", "m3"}, {"m1", "m2", "m3", "w1"}};
  auto s = derive_manager_statuses(nodes, l);
  ASSERT_EQ(s.size(), 3u);  // the worker has none
  EXPECT_FALSE(s["m1"].leader);
  EXPECT_TRUE(s["m2"].leader);
  EXPECT_FALSE(s["m3"].leader);
  for (const char* id : {"m1", "m2", "m3"}) EXPECT_EQ(s[id].reachability, "reachable") << id;
  EXPECT_EQ(s["m3"].addr, "10.0.0.3:2377");
}

TEST(ManagerStatus, AManagerWithoutASessionOrNotVotingIsUnreachable) {
  std::vector<Node> nodes = {manager("m1", "10.0.0.1"), manager("m2", "10.0.0.2"), manager("m3", "10.0.0.3")};
  ManagerLiveness l{"m1", std::set<std::string>{"m1", "m2"}, {"m1", "m3"}};
  auto s = derive_manager_statuses(nodes, l);
  EXPECT_EQ(s["m1"].reachability, "reachable");
  EXPECT_EQ(s["m2"].reachability, "unreachable");  // its shoald is gone: no session key
  EXPECT_EQ(s["m3"].reachability, "unreachable");  // not a voting etcd member (a learner, or removed)
}

TEST(ManagerStatus, NoLeaderKeyMeansNoLeader) {
  std::vector<Node> nodes = {manager("m1", "10.0.0.1")};
  auto s = derive_manager_statuses(nodes, ManagerLiveness{"", std::nullopt, {"m1"}});
  EXPECT_FALSE(s["m1"].leader);
  EXPECT_EQ(s["m1"].reachability, "reachable");  // voters unknown: the session decides
}

TEST(ManagerStatus, AddrFallsBackToTheNodeAddress) {
  Node n = manager("m1", "10.0.0.1");
  n.manager_status.reset();
  auto s = derive_manager_statuses({n}, ManagerLiveness{"m1", std::nullopt, {}});
  EXPECT_EQ(s["m1"].addr, "10.0.0.1:2377");
  EXPECT_EQ(s["m1"].reachability, "reachable");  // the leader is reachable
}

}  // namespace
}  // namespace shoal::node
