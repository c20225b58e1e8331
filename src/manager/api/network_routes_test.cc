// /networks through the API's routing core on an in-memory store.
#include <gtest/gtest.h>

#include "manager/api/api.h"
#include "manager/api/api_test_util.h"

namespace shoal::api {
namespace {

using testing::FakeContainers;
using testing::FakeControl;
using testing::make_request;

class NetworkRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(call("POST", "/v1.41/swarm/init", "{}").status, 200); }
  http::Response call(const std::string& method, const std::string& target, const std::string& body = "") {
    return api.handle(make_request(method, target, body));
  }
  json body(const http::Response& r) { return json::parse(r.body); }
  std::string message(const http::Response& r) { return body(r).value("message", ""); }
  // Creates a network; returns its id.
  std::string create(const json& req) {
    auto r = call("POST", "/v1.41/networks/create", req.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? body(r).value("Id", "") : "";
  }
  json inspect(const std::string& ref) {
    auto r = call("GET", "/v1.41/networks/" + ref);
    EXPECT_EQ(r.status, 200) << r.body;
    return body(r);
  }
  // A service attached to `network` (name or id), written to the store as
  // the API would once attachments are enabled (the schema refuses them
  // until the nodes' datapath is wired: spec_schema.cc).
  std::string service_on(const std::string& name, const std::string& network) {
    Service s;
    s.id = name + std::string(25 - name.size(), 's');
    s.spec.name = name;
    s.spec.task_template.container_spec.image = "busybox:latest";
    s.spec.task_template.networks = {{network, {}}};
    Status st = resolve_networks(*control.store(), s.spec);
    EXPECT_TRUE(st.ok()) << st.message();
    Batch b;
    b.create(s);
    EXPECT_TRUE(control.store()->commit(b).ok());
    return s.id;
  }

  FakeClock clock;
  FakeControl control{clock};
  FakeContainers containers;
  Api api{control, &containers, clock};
};

TEST_F(NetworkRoutesTest, InitMakesTheIngressNetworkAndCreateTakesTheNextSubnet) {
  json ingress = inspect("ingress");
  EXPECT_EQ(ingress["Ingress"], true);
  EXPECT_EQ(ingress["IPAM"]["Config"][0]["Subnet"], "10.0.0.0/24");
  EXPECT_EQ(ingress["Options"][kVxlanIdOption], "4096");

  std::string id = create({{"Name", "test"}, {"Driver", "overlay"}, {"Labels", {{"team", "a"}}}});
  ASSERT_EQ(id.size(), 25u);
  json n = inspect("test");
  EXPECT_EQ(n["Id"], id);
  EXPECT_EQ(n["Name"], "test");
  EXPECT_EQ(n["Driver"], "overlay");
  EXPECT_EQ(n["Scope"], "swarm");
  EXPECT_EQ(n["Internal"], false);
  EXPECT_EQ(n["Labels"]["team"], "a");
  EXPECT_EQ(n["IPAM"]["Config"][0]["Subnet"], "10.0.1.0/24");
  EXPECT_EQ(n["IPAM"]["Config"][0]["Gateway"], "10.0.1.1");
  EXPECT_EQ(n["Options"][kVxlanIdOption], "4097");
  EXPECT_EQ(inspect(id.substr(0, 6))["Id"], id);  // a unique id prefix
}

TEST_F(NetworkRoutesTest, RequestedSubnetsNeverOverlap) {
  json req = {{"Name", "a"}, {"Driver", "overlay"}, {"IPAM", {{"Config", {{{"Subnet", "10.20.0.0/16"}}}}}}};
  create(req);
  req["Name"] = "b";
  req["IPAM"]["Config"][0]["Subnet"] = "10.20.30.0/24";
  auto r = call("POST", "/v1.41/networks/create", req.dump());
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(message(r).find("overlaps subnet 10.20.0.0/16 of network a"), std::string::npos) << r.body;
  req["IPAM"]["Config"][0]["Subnet"] = "10.0.0.0/24";  // the ingress network's
  EXPECT_EQ(call("POST", "/v1.41/networks/create", req.dump()).status, 409);
  req["IPAM"]["Config"][0]["Subnet"] = "10.21.0.9/24";
  r = call("POST", "/v1.41/networks/create", req.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(message(r).find("did you mean 10.21.0.0/24"), std::string::npos) << r.body;
  // The store's reservations hold even when the cache check is bypassed.
  Network sneaky;
  sneaky.id = "sneakyaaaaaaaaaaaaaaaaaaa";
  sneaky.spec.name = "sneaky";
  sneaky.vni = 9999;
  sneaky.ipam = {{"10.20.7.0/24", "", "10.20.7.1"}};
  Batch b;
  b.create(sneaky);
  Status st = control.store()->commit(b);
  EXPECT_EQ(st.code(), Code::kAlreadyExists) << st.message();
  EXPECT_NE(st.message().find("10.20.7.0/24 is already in use by network"), std::string::npos) << st.message();
}

TEST_F(NetworkRoutesTest, RemovingANetworkFreesItsNameSubnetAndVni) {
  json req = {{"Name", "a"}, {"Driver", "overlay"}, {"IPAM", {{"Config", {{{"Subnet", "10.50.0.0/24"}}}}}}};
  std::string id = create(req);
  EXPECT_EQ(call("DELETE", "/v1.41/networks/a").status, 204);
  EXPECT_EQ(call("GET", "/v1.41/networks/" + id).status, 404);
  std::string again = create(req);
  EXPECT_NE(again, id);
  EXPECT_EQ(inspect("a")["Options"][kVxlanIdOption], "4097");
}

TEST_F(NetworkRoutesTest, RefusesWhatItDoesNotImplement) {
  auto expect_400 = [&](json req, const std::string& text) {
    if (!req.contains("Name")) req["Name"] = "n";
    auto r = call("POST", "/v1.41/networks/create", req.dump());
    EXPECT_EQ(r.status, 400) << req.dump() << " " << r.body;
    EXPECT_NE(message(r).find(text), std::string::npos) << message(r);
  };
  expect_400({{"Driver", "bridge"}}, "use --driver overlay");
  expect_400(json::object(), "use --driver overlay");
  expect_400({{"Driver", "macvlan"}}, "not supported");
  expect_400({{"Name", "bad name"}, {"Driver", "overlay"}}, "invalid network name");
  expect_400({{"Driver", "overlay"}, {"EnableIPv6", true}}, "IPv6");
  expect_400({{"Driver", "overlay"}, {"Options", {{"encrypted", ""}}}}, "encrypted");
  expect_400({{"Driver", "overlay"}, {"Options", {{"foo", "bar"}}}}, "not supported");
  expect_400({{"Driver", "overlay"}, {"Options", {{"com.docker.network.driver.mtu", "100"}}}}, "1280 to 9000");
  expect_400({{"Driver", "overlay"}, {"IPAM", {{"Driver", "dhcp"}}}}, "IPAM driver");
  expect_400({{"Driver", "overlay"}, {"IPAM", {{"Config", {{{"Subnet", "10.9.0.0/24"}, {"AuxiliaryAddresses", {{"a", "10.9.0.9"}}}}}}}}},
             "aux-address");
  expect_400({{"Driver", "overlay"}, {"Scope", "local"}}, "swarm-scoped");
  expect_400({{"Driver", "overlay"}, {"Internal", "yes"}}, "true or false");
  expect_400({{"Driver", "overlay"}, {"IPAM", {{"Config", {{{"Subnet", nullptr}, {"Gateway", 5}}}}}}}, "must be a string");
  expect_400({{"Driver", "overlay"}, {"ConfigFrom", {{"Network", 5}}}}, "must be a string");
  expect_400({{"Driver", 7}}, "must be a string");
  json many = json::object();
  for (int i = 0; i < 65; ++i) many["k" + std::to_string(i)] = "v";
  expect_400({{"Driver", "overlay"}, {"Labels", many}}, "at most 64");
  // Accepted options show in Options; a requested VNI is used.
  create({{"Name", "mtu"}, {"Driver", "overlay"},
          {"Options", {{"com.docker.network.driver.mtu", "1400"}, {kVxlanIdOption, "5000"}}}});
  json n = inspect("mtu");
  EXPECT_EQ(n["Options"]["com.docker.network.driver.mtu"], "1400");
  EXPECT_EQ(n["Options"][kVxlanIdOption], "5000");
  // Names are unique; one ingress network.
  auto dup = call("POST", "/v1.41/networks/create", json({{"Name", "mtu"}, {"Driver", "overlay"}}).dump());
  EXPECT_EQ(dup.status, 409);
  EXPECT_NE(message(dup).find("already exists"), std::string::npos);
  auto ing = call("POST", "/v1.41/networks/create", json({{"Name", "ing2"}, {"Driver", "overlay"}, {"Ingress", true}}).dump());
  EXPECT_EQ(ing.status, 409);
  EXPECT_EQ(call("POST", "/v1.41/networks/mtu/connect", "{}").status, 403);
  EXPECT_EQ(call("POST", "/v1.41/networks/nosuch/connect", "{}").status, 404);
  EXPECT_EQ(call("POST", "/v1.41/networks/create", json({{"Name", "host"}, {"Driver", "overlay"}}).dump()).status, 403);
  EXPECT_EQ(call("GET", "/v1.41/networks/mtu?verbose=true").status, 400);
  json two = {{"Name", "two"}, {"Driver", "overlay"},
              {"IPAM", {{"Config", {{{"Subnet", "10.60.0.0/24"}}, {{"Subnet", "10.61.0.0/24"}}}}}}};
  EXPECT_EQ(call("POST", "/v1.41/networks/create", two.dump()).status, 400);
}

TEST_F(NetworkRoutesTest, ResolveNetworksAndRmRefusedWhileInUse) {
  std::string id = create({{"Name", "test"}, {"Driver", "overlay"}});
  std::string svc = service_on("web", "test");
  auto stored = control.store()->find_service(svc);
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->spec.task_template.networks.size(), 1u);
  EXPECT_EQ(stored->spec.task_template.networks[0].target, id);  // stored by id, as Docker does

  auto busy = call("DELETE", "/v1.41/networks/test");
  EXPECT_EQ(busy.status, 400);
  EXPECT_NE(message(busy).find("in use by service web"), std::string::npos) << busy.body;

  auto check = [&](std::vector<NetworkAttachmentConfig> nets, Code code, const std::string& text) {
    ServiceSpec spec;
    spec.task_template.networks = std::move(nets);
    Status st = resolve_networks(*control.store(), spec);
    EXPECT_EQ(st.code(), code) << st.message();
    EXPECT_NE(st.message().find(text), std::string::npos) << st.message();
  };
  check({{"nope", {}}}, Code::kNotFound, "network nope not found");
  check({{"ingress", {}}}, Code::kInvalidArgument, "ingress network");
  check({{"test", {}}, {id, {}}}, Code::kInvalidArgument, "attached twice");
  check({{"test", {"bad alias"}}}, Code::kInvalidArgument, "invalid alias");
  check({{"test", {"db.internal", "db"}}}, Code::kOk, "");
  // A host-mode port needs a way in that is not --internal.
  create({{"Name", "inner"}, {"Driver", "overlay"}, {"Internal", true}});
  auto host_port = [&](std::vector<NetworkAttachmentConfig> nets) {
    ServiceSpec spec;
    spec.task_template.networks = std::move(nets);
    spec.endpoint_spec.ports = {{"", "tcp", 80, 8081, "host"}};
    return resolve_networks(*control.store(), spec);
  };
  Status inner = host_port({{"inner", {}}});
  EXPECT_EQ(inner.code(), Code::kInvalidArgument);
  EXPECT_NE(inner.message().find("attached only to internal networks"), std::string::npos) << inner.message();
  EXPECT_TRUE(host_port({{"inner", {}}, {"test", {}}}).ok());
  EXPECT_TRUE(host_port({}).ok());  // no network: the gateway bridge alone
  // Through the API: by name, stored by id; an unknown network is a 404.
  json spec = {{"Name", "x"}, {"TaskTemplate", {{"ContainerSpec", {{"Image", "busybox"}}}, {"Networks", {{{"Target", "test"}, {"Aliases", {"ex"}}}}}}}};
  auto made = call("POST", "/v1.41/services/create", spec.dump());
  EXPECT_EQ(made.status, 201) << made.body;
  auto x = control.store()->find_service("x");
  ASSERT_TRUE(x.ok());
  ASSERT_EQ(x->spec.task_template.networks.size(), 1u);
  EXPECT_EQ(x->spec.task_template.networks[0].target, id);
  EXPECT_EQ(x->spec.task_template.networks[0].aliases, (std::vector<std::string>{"ex"}));
  spec["Name"] = "y";
  spec["TaskTemplate"]["Networks"][0]["Target"] = "nope";
  auto missing = call("POST", "/v1.41/services/create", spec.dump());
  EXPECT_EQ(missing.status, 404) << missing.body;
  EXPECT_EQ(call("DELETE", "/v1.41/services/x").status, 200);

  EXPECT_EQ(call("DELETE", "/v1.41/services/web").status, 200);
  EXPECT_EQ(call("DELETE", "/v1.41/networks/test").status, 204);
}

// `network rm` and a service create that attaches the network each decide
// on their manager's cache: whichever commits second fails, never both
// succeed (a service on a missing network).
TEST_F(NetworkRoutesTest, NetworkRmAndAServiceCreateOnItCannotBothSucceed) {
  std::string id = create({{"Name", "test"}, {"Driver", "overlay"}});
  Store other(control.backend());  // another manager
  ASSERT_TRUE(other.start().ok());
  auto service = [](const std::string& sid, const std::string& name, const std::string& network) {
    Service s;
    s.id = sid + std::string(25 - sid.size(), 's');
    s.spec.name = name;
    s.spec.task_template.container_spec.image = "busybox:latest";
    s.spec.task_template.networks = {{network, {}}};
    return s;
  };
  // The rm found the network unused; another manager attaches a service to
  // it before the rm's delete: the rm looks again and finds it in use.
  Service web = service("web", "web", id);
  int checks = 0;
  Status rm = remove_unused_network(*control.store(), id, [&] {
    if (checks++ > 0) return;
    Status made = commit_with_networks(other, web.spec, web.spec.task_template.networks,
                                       [&](Batch& b) { b.create(web); });
    EXPECT_TRUE(made.ok()) << made.message();
  });
  EXPECT_EQ(rm.code(), Code::kFailedPrecondition) << rm.message();
  EXPECT_NE(rm.message().find("in use by service web"), std::string::npos) << rm.message();
  EXPECT_EQ(checks, 1) << "found in use on the second look, before any delete";
  EXPECT_TRUE(control.store()->find_network(id).ok());
  ASSERT_TRUE(control.store()->service(web.id).has_value());
  EXPECT_EQ(call("DELETE", "/v1.41/services/web").status, 200);

  // The other order: a service create resolved the network (by name); the
  // other manager's rm commits before the create does: the create is a 404.
  Service api_svc = service("api", "api", "test");
  const auto asked = api_svc.spec.task_template.networks;
  ASSERT_TRUE(resolve_networks(*control.store(), api_svc.spec).ok());
  EXPECT_EQ(api_svc.spec.task_template.networks[0].target, id);
  Status made = commit_with_networks(*control.store(), api_svc.spec, asked, [&](Batch& b) {
    b.create(api_svc);
    ASSERT_TRUE(other.sync().ok());  // it sees web gone
    Status gone = remove_unused_network(other, id);
    EXPECT_TRUE(gone.ok()) << gone.message();
  });
  EXPECT_EQ(made.code(), Code::kNotFound) << made.message();
  EXPECT_NE(made.message().find("network test not found"), std::string::npos) << made.message();
  ASSERT_TRUE(control.store()->sync().ok());
  EXPECT_FALSE(control.store()->service(api_svc.id).has_value());
  EXPECT_FALSE(control.store()->find_network(id).ok());
  other.stop();
}

// A task that has not stopped on a node that is down keeps the network in
// use, and the refusal says for how long.
TEST_F(NetworkRoutesTest, RmSaysWhyATaskOnADownNodeHoldsTheNetwork) {
  std::string id = create({{"Name", "test"}, {"Driver", "overlay"}});
  Batch b;
  Node n;
  n.id = "node2";
  n.state = NodeState::kDown;
  b.create(n);
  Task t;
  t.id = "task1";
  t.service_id = "gone";
  t.node_id = "node2";
  t.desired_state = TaskState::kRemove;
  t.status.state = TaskState::kRunning;
  t.networks = {{id, "test", {"10.0.1.2/24"}, {}}};
  b.create(t);
  ASSERT_TRUE(control.store()->commit(b).ok());
  auto busy = call("DELETE", "/v1.41/networks/test");
  EXPECT_EQ(busy.status, 400);
  EXPECT_NE(message(busy).find("1 of them on nodes that are down"), std::string::npos) << busy.body;
  EXPECT_NE(message(busy).find("24 hours"), std::string::npos) << busy.body;
}

TEST_F(NetworkRoutesTest, ListFiltersAndPrune) {
  create({{"Name", "a"}, {"Driver", "overlay"}, {"Labels", {{"env", "prod"}}}});
  create({{"Name", "b"}, {"Driver", "overlay"}});
  service_on("web", "a");
  auto names = [&](const std::string& query) {
    std::vector<std::string> out;
    auto r = call("GET", "/v1.41/networks" + query);
    EXPECT_EQ(r.status, 200) << r.body;
    for (const auto& n : body(r)) out.push_back(n["Name"]);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names(""), (V{"a", "b", "ingress"}));
  EXPECT_EQ(names("?filters=%7B%22name%22%3A%7B%22a%22%3Atrue%7D%7D"), (V{"a"}));
  EXPECT_EQ(names("?filters=%7B%22label%22%3A%7B%22env%3Dprod%22%3Atrue%7D%7D"), (V{"a"}));
  EXPECT_EQ(names("?filters=%7B%22type%22%3A%7B%22builtin%22%3Atrue%7D%7D"), (V{"ingress"}));
  EXPECT_EQ(names("?filters=%7B%22dangling%22%3A%7B%22true%22%3Atrue%7D%7D"), (V{"b", "ingress"}));
  EXPECT_EQ(call("GET", "/v1.41/networks?filters=%7B%22bogus%22%3A%7B%22x%22%3Atrue%7D%7D").status, 400);

  auto r = call("POST", "/v1.41/networks/prune");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body(r)["NetworksDeleted"], json::array({"b"}));  // not a (in use), not ingress
  EXPECT_EQ(names(""), (V{"a", "ingress"}));
}

// Each init on a fresh store (FakeControl keeps its store across a leave).
TEST(NetworkPoolTest, InitTakesTheDefaultAddressPool) {
  FakeClock clock;
  FakeContainers containers;
  auto fresh_init = [&](const std::string& body) {
    FakeControl control{clock};
    Api api{control, &containers, clock};
    return api.handle(make_request("POST", "/v1.41/swarm/init", body)).status;
  };
  EXPECT_EQ(fresh_init(R"({"DefaultAddrPool":["10.1.2.3/16"]})"), 400);
  EXPECT_EQ(fresh_init(R"({"SubnetSize":8})"), 400);
  EXPECT_EQ(fresh_init(R"({"DefaultAddrPool":["0.0.0.0/0"]})"), 400);
  EXPECT_EQ(fresh_init(R"({"DefaultAddrPool":["127.0.0.0/8"]})"), 400);
  EXPECT_EQ(fresh_init(R"({"SubnetSize":26})"), 400);
  EXPECT_EQ(fresh_init(R"({"DefaultAddrPool":["10.0.0.0/8","10.5.0.0/16"]})"), 400);
  EXPECT_EQ(fresh_init(R"({"DefaultAddrPool":["10.0.0.0/16"],"SubnetSize":8})"), 400);
  FakeControl control{clock};
  Api api{control, &containers, clock};
  auto call = [&](const std::string& m, const std::string& t, const std::string& b = "") {
    return api.handle(make_request(m, t, b));
  };
  auto inspect = [&](const std::string& ref) { return json::parse(call("GET", "/v1.41/networks/" + ref).body); };
  auto good = call("POST", "/v1.41/swarm/init", R"({"DefaultAddrPool":["172.30.0.0/16"],"SubnetSize":20})");
  ASSERT_EQ(good.status, 200) << good.body;
  EXPECT_EQ(inspect("ingress")["IPAM"]["Config"][0]["Subnet"], "172.30.0.0/20");
  EXPECT_EQ(call("POST", "/v1.41/networks/create", R"({"Name":"n","Driver":"overlay"})").status, 201);
  EXPECT_EQ(inspect("n")["IPAM"]["Config"][0]["Subnet"], "172.30.16.0/20");
  auto swarm = json::parse(call("GET", "/v1.41/swarm").body);
  EXPECT_EQ(swarm["DefaultAddrPool"], json::array({"172.30.0.0/16"}));
  EXPECT_EQ(swarm["SubnetSize"], 20);
}

}  // namespace
}  // namespace shoal::api
