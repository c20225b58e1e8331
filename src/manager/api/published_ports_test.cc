#include "manager/api/published_ports.h"

#include <gtest/gtest.h>

#include "store/memory_backend.h"

namespace shoal::api {
namespace {

PortConfig port(uint32_t target, uint32_t published = 0, const char* mode = "ingress", const char* proto = "tcp") {
  return {"", proto, target, published, mode};
}

class PublishedPortsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(store.start().ok()); }
  // Creates service `id` with `ports` assigned and stored.
  Service make(const std::string& id, std::vector<PortConfig> ports) {
    Service s;
    s.id = id;
    s.spec.name = "svc-" + id;
    s.spec.endpoint_spec.ports = std::move(ports);
    Status st = assign_published_ports(store, nullptr, s);
    EXPECT_TRUE(st.ok()) << st.message();
    Batch b;
    b.create(s);
    EXPECT_TRUE(store.commit(b).ok());
    return *store.service(id);
  }
  MemoryBackend backend{12};
  Store store{backend};
};

TEST_F(PublishedPortsTest, GivenNumbersKeptMissingOnesFromTheDynamicRange) {
  Service a = make("a", {port(80, 8080), port(53, 0, "ingress", "udp"), port(81), port(82, 0, "host")});
  ASSERT_EQ(a.endpoint_ports.size(), 4u);
  EXPECT_EQ(a.endpoint_ports[0].published_port, 8080u);
  EXPECT_EQ(a.endpoint_ports[1].published_port, 30000u);  // udp's own range
  EXPECT_EQ(a.endpoint_ports[2].published_port, 30000u);  // tcp
  EXPECT_EQ(a.endpoint_ports[3].published_port, 0u);      // host mode: the node's business
  EXPECT_EQ(a.spec.endpoint_spec.ports[2].published_port, 0u);  // the spec stays as sent
  Service b = make("b", {port(80)});
  EXPECT_EQ(b.endpoint_ports[0].published_port, 30001u);  // not another service's
}

TEST_F(PublishedPortsTest, AnotherServicesPortIsRefusedWithDockersMessage) {
  make("a", {port(80, 8080)});
  Service b;
  b.id = "b";
  b.spec.name = "b";
  b.spec.endpoint_spec.ports = {port(80, 8080)};
  Status st = assign_published_ports(store, nullptr, b);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("port '8080' is already in use by service 'svc-a' as an ingress port"), std::string::npos)
      << st.message();
  b.spec.endpoint_spec.ports = {port(80, 8080, "ingress", "udp"), port(80, 8081, "host")};
  EXPECT_TRUE(assign_published_ports(store, nullptr, b).ok());  // another protocol or port: fine
}

// The mesh holds an ingress port on every node: the same port in host mode
// on another service would take it over where that one's tasks run, or the
// other way round; refused both ways. Host-mode ports of different services
// may share a number (the scheduler keeps their tasks apart).
TEST_F(PublishedPortsTest, HostModeAndIngressNeverShareAPort) {
  make("a", {port(80, 8080)});
  make("h", {port(80, 9090, "host")});
  Service b;
  b.id = "b";
  b.spec.name = "b";
  b.spec.endpoint_spec.ports = {port(80, 8080, "host")};
  Status st = assign_published_ports(store, nullptr, b);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("already in use by service 'svc-a' as an ingress port"), std::string::npos)
      << st.message();
  b.spec.endpoint_spec.ports = {port(80, 9090)};
  st = assign_published_ports(store, nullptr, b);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("already in use by service 'svc-h' as a host-mode port"), std::string::npos)
      << st.message();
  b.spec.endpoint_spec.ports = {port(81, 9090, "host"), port(80)};
  ASSERT_TRUE(assign_published_ports(store, nullptr, b).ok());
  EXPECT_EQ(b.endpoint_ports[0].published_port, 9090u);
  EXPECT_NE(b.endpoint_ports[1].published_port, 9090u);
}

TEST_F(PublishedPortsTest, TheSwarmsOwnPortsAreRefused) {
  Service b;
  b.id = "b";
  b.spec.name = "b";
  for (auto p : {port(80, 2377), port(80, 2379), port(80, 2380), port(80, 4789, "ingress", "udp")}) {
    b.spec.endpoint_spec.ports = {p};
    Status st = assign_published_ports(store, nullptr, b);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << p.published_port;
    EXPECT_NE(st.message().find("on every node: publish another one"), std::string::npos) << st.message();
  }
  b.spec.endpoint_spec.ports = {port(81, 2377, "host")};  // on the task's node only: still the swarm's port there
  Status st = assign_published_ports(store, nullptr, b);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("on the nodes: publish another one"), std::string::npos) << st.message();
  b.spec.endpoint_spec.ports = {port(80, 4789)};  // tcp 4789
  EXPECT_TRUE(assign_published_ports(store, nullptr, b).ok());
}

TEST_F(PublishedPortsTest, AnUpdateKeepsAssignedNumbersAndTheServicesOwnPorts) {
  Service a = make("a", {port(80), port(90, 9090)});
  Service next = a;
  next.spec.endpoint_spec.ports.push_back(port(100));
  ASSERT_TRUE(assign_published_ports(store, &a, next).ok());
  EXPECT_EQ(next.endpoint_ports[0].published_port, 30000u);  // kept
  EXPECT_EQ(next.endpoint_ports[1].published_port, 9090u);   // its own: no conflict with itself
  EXPECT_EQ(next.endpoint_ports[2].published_port, 30001u);
}

}  // namespace
}  // namespace shoal::api
