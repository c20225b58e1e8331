#include "manager/dispatcher/network_views.h"

#include <gtest/gtest.h>

namespace shoal::dispatcher {
namespace {

class NetworkViewsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto [id, addr] : {std::pair{"n1", "192.0.2.1"}, {"n2", "192.0.2.2:2377"}, {"n3", "192.0.2.3"}}) {
      Node n;
      n.id = id;
      n.addr = addr;
      n.state = NodeState::kReady;
      snap.nodes[id] = n;
    }
    add_network("ing", "ingress", "10.0.0.0/24", true);
    add_network("net", "test", "10.0.1.0/24", false);
    Service s;
    s.id = "svc";
    s.spec.name = "bar";
    s.spec.task_template.networks = {{"net", {"b"}}};
    s.virtual_ips = {{"net", "10.0.1.2/24"}};
    snap.services["svc"] = s;
  }
  void add_network(const std::string& id, const std::string& name, const std::string& subnet, bool ingress) {
    Network n;
    n.id = id;
    n.spec.name = name;
    n.spec.ingress = ingress;
    n.vni = ingress ? 4096 : 4097;
    n.ipam = {{subnet, "", subnet.substr(0, subnet.rfind('.')) + ".1"}};
    snap.networks[id] = n;
  }
  void add_task(const std::string& id, const std::string& node, const std::string& ip, TaskState state,
                TaskState desired = TaskState::kRunning, const std::string& net = "net") {
    Task t;
    t.id = id;
    t.service_id = "svc";
    t.node_id = node;
    t.status.state = state;
    t.desired_state = desired;
    t.networks = {{net, net == "net" ? "test" : "ingress", {ip + "/24"}, {}}};
    snap.tasks[id] = t;
  }
  StoreSnapshot snap;
};

TEST_F(NetworkViewsTest, EachNodeSeesTheNetworksOfItsTasksWithEveryEndpoint) {
  add_task("t1", "n1", "10.0.1.3", TaskState::kRunning);
  add_task("t2", "n2", "10.0.1.4", TaskState::kRunning);
  add_task("t3", "n1", "10.0.1.5", TaskState::kRunning, TaskState::kShutdown);  // being stopped
  add_task("t4", "n2", "10.0.1.6", TaskState::kFailed);                          // ended: no endpoint
  add_task("t5", "n2", "10.0.1.7", TaskState::kStarting);
  auto views = build_network_views(snap);
  ASSERT_EQ(views["n1"].networks.size(), 1u);
  const auto& n = views["n1"].networks[0];
  EXPECT_EQ(n.name, "test");
  EXPECT_EQ(n.vni, 4097u);
  EXPECT_EQ(n.subnet, "10.0.1.0/24");
  EXPECT_EQ(n.mtu, 1450u);
  ASSERT_EQ(n.endpoints.size(), 4u);  // t1 t2 t3 t5, by task id
  EXPECT_EQ(n.endpoints[0].ip, "10.0.1.3");
  EXPECT_EQ(n.endpoints[1].node_addr, "192.0.2.2");  // the advertise address without its port
  EXPECT_TRUE(n.endpoints[0].serving);
  EXPECT_TRUE(n.endpoints[1].serving);
  EXPECT_FALSE(n.endpoints[2].serving);  // desired shutdown: out of DNS and rotations at once
  EXPECT_FALSE(n.endpoints[3].serving);  // not running yet
  ASSERT_EQ(n.services.size(), 1u);
  EXPECT_EQ(n.services[0].name, "bar");
  EXPECT_EQ(n.services[0].vip, "10.0.1.2");
  EXPECT_EQ(n.services[0].aliases, std::vector<std::string>{"b"});
  EXPECT_EQ(views["n2"], views["n1"]);
  EXPECT_TRUE(views["n3"].networks.empty());  // no task there, no mesh
}

TEST_F(NetworkViewsTest, TheMeshPutsIngressOnEveryLiveNode) {
  snap.services["svc"].spec.endpoint_spec.ports = {PortConfig{"", "tcp", 80, 8080, "ingress"}};
  snap.services["svc"].virtual_ips.push_back({"ing", "10.0.0.2/24"});
  snap.nodes["n3"].state = NodeState::kDown;
  add_task("t1", "n1", "10.0.0.3", TaskState::kRunning, TaskState::kRunning, "ing");
  auto views = build_network_views(snap);
  ASSERT_EQ(views["n2"].networks.size(), 1u);  // no task of its own, yet the mesh answers there
  const auto& ing = views["n2"].networks[0];
  EXPECT_TRUE(ing.ingress);
  ASSERT_EQ(ing.services.size(), 1u);
  EXPECT_EQ(ing.services[0].vip, "10.0.0.2");
  ASSERT_EQ(ing.services[0].ports.size(), 1u);
  EXPECT_EQ(ing.services[0].ports[0].published_port, 8080u);
  EXPECT_TRUE(views["n3"].networks.empty());  // down
  // Round trip through the session's JSON.
  json j = views["n2"];
  EXPECT_EQ(j.get<session::NetworkView>(), views["n2"]);
}

}  // namespace
}  // namespace shoal::dispatcher
