#include "manager/api/api.h"

#include <gtest/gtest.h>

#include "manager/api/api_test_util.h"
#include "manager/api/filters.h"
#include "manager/api/router.h"
#include "manager/api/validation.h"

namespace shoal::api {
namespace {

using testing::FakeContainers;
using testing::FakeControl;
using testing::make_request;

constexpr char kSpec[] = R"({"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest","Args":["sleep","100"]}},)"
                         R"("Mode":{"Replicated":{"Replicas":3}}})";

std::string spec_with(const std::string& name, const std::string& image, int replicas) {
  return R"({"Name":")" + name + R"(","TaskTemplate":{"ContainerSpec":{"Image":")" + image +
         R"("}},"Mode":{"Replicated":{"Replicas":)" + std::to_string(replicas) + "}}}";
}

class ApiTest : public ::testing::Test {
 protected:
  http::Response call(const std::string& method, const std::string& target, const std::string& body = "") {
    return api.handle(make_request(method, target, body));
  }
  json body(const http::Response& r) { return json::parse(r.body); }
  std::string message(const http::Response& r) { return body(r).value("message", ""); }
  void init() { ASSERT_EQ(call("POST", "/v1.41/swarm/init", "{}").status, 200); }
  // A Ready worker node "host2" in the store, as a join would leave it.
  Node add_ready_worker() {
    Node w;
    w.id = "worker2bbbbbbbbbbbbbbbbbb";
    w.description.hostname = "host2";
    w.state = NodeState::kReady;
    Batch b;
    b.create(w);
    EXPECT_TRUE(control.store()->commit(b).ok());
    return w;
  }
  std::string create(const std::string& spec = kSpec) {
    auto r = call("POST", "/v1.41/services/create", spec);
    EXPECT_EQ(r.status, 201) << r.body;
    clock.advance(std::chrono::seconds(1));  // services list in creation order
    return body(r).value("ID", "");
  }
  Service service(const std::string& ref) { return *control.store()->find_service(ref); }
  void add_task(const std::string& id, const Service& s, uint64_t slot, TaskState state,
                TaskState desired = TaskState::kRunning, const std::string& node = "node1aaaaaaaaaaaaaaaaaaaa") {
    Task t;
    t.id = id;
    t.service_id = s.id;
    t.service_name = s.spec.name;
    t.slot = slot;
    t.node_id = node;
    t.spec = s.spec.task_template;
    t.spec_version = s.spec_version;
    t.status.state = state;
    t.desired_state = desired;
    t.created_at = clock.now();
    clock.advance(std::chrono::seconds(1));
    Batch b;
    b.create(t);
    ASSERT_TRUE(control.store()->commit(b).ok());
  }

  FakeClock clock;
  FakeControl control{clock};
  FakeContainers containers;
  Api api{control, &containers, clock};
};

// ---- routing, versions, headers

TEST(RouterTest, ParsesVersionPrefix) {
  auto p = parse_api_path("/v1.41/services/web/update/");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->path, "/services/web/update");
  EXPECT_EQ(p->parts, (std::vector<std::string>{"services", "web", "update"}));
  EXPECT_EQ(parse_api_path("/v1.24/info")->path, "/info");
  EXPECT_EQ(parse_api_path("/info")->path, "/info");
  auto too_new = parse_api_path("/v1.47/info");
  ASSERT_FALSE(too_new.ok());
  EXPECT_EQ(too_new.status().message(), "client version 1.47 is too new. Maximum supported API version is 1.41");
  EXPECT_FALSE(parse_api_path("/v2.0/info").ok());
}

TEST_F(ApiTest, PingHasDockerHeaders) {
  auto r = call("HEAD", "/_ping");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.headers["Api-Version"], "1.41");
  EXPECT_EQ(r.headers["Docker-Experimental"], "false");
  EXPECT_EQ(r.headers["Ostype"], "linux");
  EXPECT_EQ(r.headers["Swarm"], "inactive");
  EXPECT_EQ(r.headers["Server"].rfind("shoal/", 0), 0u);
  r = call("GET", "/v1.41/_ping");
  EXPECT_EQ(r.body, "OK");
  init();
  EXPECT_EQ(call("GET", "/_ping").headers["Swarm"], "active/manager");
}

TEST_F(ApiTest, VersionPrefixAndErrors) {
  EXPECT_EQ(call("GET", "/v1.41/version").status, 200);
  EXPECT_EQ(call("GET", "/v1.30/version").status, 200);
  EXPECT_EQ(call("GET", "/version").status, 200);
  auto r = call("GET", "/v1.47/version");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(message(r), "client version 1.47 is too new. Maximum supported API version is 1.41");
  EXPECT_EQ(r.headers["Api-Version"], "1.41");
  r = call("GET", "/v1.41/nosuchthing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(message(r), "page not found");
  EXPECT_EQ(call("PUT", "/v1.41/services").status, 404);
}

TEST_F(ApiTest, VersionShape) {
  auto j = body(call("GET", "/v1.41/version"));
  EXPECT_EQ(j["ApiVersion"], "1.41");
  EXPECT_EQ(j["MinAPIVersion"], "1.12");
  EXPECT_EQ(j["Os"], "linux");
  EXPECT_EQ(j["KernelVersion"], "6.1.0");
  EXPECT_EQ(j["Components"][0]["Name"], "Engine");
  EXPECT_EQ(j["Version"].get<std::string>().rfind("20.10", 0), 0u);
}

TEST_F(ApiTest, InfoBeforeAndAfterInit) {
  auto j = body(call("GET", "/v1.41/info"));
  EXPECT_EQ(j["Swarm"]["LocalNodeState"], "inactive");
  EXPECT_EQ(j["Swarm"]["ControlAvailable"], false);
  EXPECT_EQ(j["NCPU"], 2);
  EXPECT_EQ(j["Containers"], 3);
  EXPECT_EQ(j["ContainersRunning"], 2);
  EXPECT_EQ(j["ContainersStopped"], 1);
  EXPECT_EQ(j["Name"], "host1");
  EXPECT_EQ(j["Driver"], "overlay2");
  init();
  j = body(call("GET", "/v1.41/info"));
  EXPECT_EQ(j["Swarm"]["LocalNodeState"], "active");
  EXPECT_EQ(j["Swarm"]["NodeID"], "node1aaaaaaaaaaaaaaaaaaaa");
  EXPECT_EQ(j["Swarm"]["NodeAddr"], "127.0.0.1");
  EXPECT_EQ(j["Swarm"]["ControlAvailable"], true);
  EXPECT_EQ(j["Swarm"]["Nodes"], 1);
  EXPECT_EQ(j["Swarm"]["Managers"], 1);
  EXPECT_EQ(j["Swarm"]["RemoteManagers"][0]["Addr"], "127.0.0.1:2377");
  EXPECT_EQ(j["Swarm"]["Cluster"]["ID"], "cluster1");
  EXPECT_FALSE(j["Swarm"]["Cluster"].contains("JoinTokens"));
  EXPECT_EQ(j.dump().find("SECRET-KEY"), std::string::npos);
}

// ---- swarm

TEST_F(ApiTest, SwarmRoutesBeforeInitAre503WithDockerWording) {
  for (const char* path : {"/v1.41/swarm", "/v1.41/services", "/v1.41/nodes", "/v1.41/tasks", "/v1.41/services/x",
                           "/v1.41/tasks/x", "/v1.41/nodes/x"}) {
    auto r = call("GET", path);
    EXPECT_EQ(r.status, 503) << path;
    EXPECT_EQ(message(r), kNotSwarmManager) << path;
  }
  EXPECT_EQ(call("POST", "/v1.41/services/create", kSpec).status, 503);
  auto r = call("POST", "/v1.41/swarm/leave");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(message(r), "This node is not part of a swarm");
}

TEST_F(ApiTest, SwarmInitParsesRequestAndRefusesTwice) {
  auto r = call("POST", "/v1.41/swarm/init",
                R"({"ListenAddr":"0.0.0.0:2377","AdvertiseAddr":"10.0.0.5","DataPathAddr":"","DataPathPort":0,)"
                R"("ForceNewCluster":false,"Spec":{"Labels":null},"AutoLockManagers":false,"Availability":"",)"
                R"("DefaultAddrPool":null,"SubnetSize":0})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body(r), "node1aaaaaaaaaaaaaaaaaaaa");
  EXPECT_EQ(control.last_init.advertise_addr, "10.0.0.5");
  r = call("POST", "/v1.41/swarm/init", "{}");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(message(r), kAlreadyInSwarm);
}

TEST_F(ApiTest, SwarmInitBadInput) {
  EXPECT_EQ(call("POST", "/v1.41/swarm/init", "{").status, 400);
  EXPECT_EQ(call("POST", "/v1.41/swarm/init", R"({"SubnetSize":31})").status, 400);
  EXPECT_EQ(call("POST", "/v1.41/swarm/init", R"({"AutoLockManagers":true})").status, 400);
  EXPECT_FALSE(control.active());
}

TEST_F(ApiTest, SwarmInitRefusesPoolAndDataPathSettingsItCannotHonour) {
  // What `docker swarm init` (docker CLI 20.10) sends with no flags.
  const std::string defaults =
      R"({"ListenAddr":"0.0.0.0:2377","AdvertiseAddr":"","DataPathAddr":"","DataPathPort":0,"ForceNewCluster":false,)"
      R"("Spec":{"Labels":null,"Orchestration":{},"Raft":{"ElectionTick":0,"HeartbeatTick":0},"Dispatcher":{},)"
      R"("CAConfig":{},"TaskDefaults":{},"EncryptionConfig":{"AutoLockManagers":false}},"AutoLockManagers":false,)"
      R"("Availability":"","DefaultAddrPool":[],"SubnetSize":24})";
  for (const auto& [patch, expect] : std::vector<std::pair<std::string, std::string>>{
           {R"({"SubnetSize":26})", "SubnetSize 26: --default-addr-pool-mask-length must be from 16 to 24"},
           {R"({"SubnetSize":31})", "SubnetSize 31: --default-addr-pool-mask-length must be from 16 to 24"},
           {R"({"DataPathPort":4790})", "DataPathPort 4790 is not supported"},
           {R"({"datapathport":70000})", "DataPathPort 70000 is not supported"}}) {
    json b = json::parse(defaults), p = json::parse(patch);
    for (const auto& [key, v] : p.items()) {  // a lower-case spelling replaces the field
      std::string canon = key == "forcenewcluster" ? "ForceNewCluster" : key == "datapathport" ? "DataPathPort" : "";
      if (!canon.empty()) b.erase(canon);
    }
    b.merge_patch(p);
    auto r = call("POST", "/v1.41/swarm/init", b.dump());
    EXPECT_EQ(r.status, 400) << patch << " -> " << r.body;
    EXPECT_NE(message(r).find(expect), std::string::npos) << patch << " -> " << r.body;
    EXPECT_FALSE(control.active());
  }
  // Docker's own defaults, spelled out, are what shoal does: accepted.
  json b = json::parse(defaults);
  b.merge_patch(json::parse(R"({"DefaultAddrPool":["10.0.0.0/8"],"SubnetSize":24,"DataPathPort":4789})"));
  auto r = call("POST", "/v1.41/swarm/init", b.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  r = call("GET", "/v1.41/swarm");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(body(r)["SubnetSize"], 24);
  EXPECT_EQ(body(r)["DataPathPort"], 4789);
}

TEST_F(ApiTest, SwarmInitWithTheDockerCliDefaultsWorks) {
  auto r = call("POST", "/v1.41/swarm/init",
                R"({"ListenAddr":"0.0.0.0:2377","AdvertiseAddr":"","DataPathAddr":"","DataPathPort":0,)"
                R"("ForceNewCluster":false,"Spec":{"Labels":null,"Orchestration":{},"Raft":{"ElectionTick":0,)"
                R"("HeartbeatTick":0},"Dispatcher":{},"CAConfig":{},"TaskDefaults":{},)"
                R"("EncryptionConfig":{"AutoLockManagers":false}},"AutoLockManagers":false,"Availability":"",)"
                R"("DefaultAddrPool":[],"SubnetSize":24})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(control.active());
}

TEST_F(ApiTest, SwarmInspectHidesCaKeyAndShowsTokens) {
  init();
  auto r = call("GET", "/v1.41/swarm");
  ASSERT_EQ(r.status, 200);
  auto j = body(r);
  EXPECT_EQ(j["ID"], "cluster1");
  EXPECT_EQ(j["JoinTokens"]["Worker"], "SWMTKN-1-digest-workersecret");
  EXPECT_EQ(j["TLSInfo"]["TrustRoot"], "CERT");
  EXPECT_EQ(r.body.find("SECRET-KEY"), std::string::npos);
  EXPECT_EQ(r.body.find("Shoal"), std::string::npos);
}

TEST_F(ApiTest, JoinTokensAreNotStoredWithTheObjects) {
  init();
  ASSERT_EQ(call("GET", "/v1.41/swarm").status, 200);
  auto all = control.backend().range("/", true);
  ASSERT_TRUE(all.ok());
  ASSERT_FALSE(all->kvs.empty());
  for (const auto& kv : all->kvs) {
    EXPECT_EQ(kv.value.find("workersecret"), std::string::npos) << kv.key;
    EXPECT_EQ(kv.value.find("managersecret"), std::string::npos) << kv.key;
    EXPECT_EQ(kv.value.find("SECRET-KEY"), std::string::npos) << kv.key;
  }
  ASSERT_TRUE(control.store()->cluster());
  EXPECT_EQ(to_api(*control.store()->cluster()).dump().find("SWMTKN"), std::string::npos);
}

TEST_F(ApiTest, SwarmUpdateRotatesTokensAndChecksVersion) {
  init();
  auto j = body(call("GET", "/v1.41/swarm"));
  std::string v = std::to_string(j["Version"]["Index"].get<uint64_t>());
  json spec = j["Spec"];
  spec["Orchestration"]["TaskHistoryRetentionLimit"] = 2;
  auto r = call("POST", "/v1.41/swarm/update?version=" + v + "&rotateWorkerToken=true&rotateManagerToken=false",
                spec.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  auto c = *control.store()->cluster();
  EXPECT_EQ(c.spec.task_history_retention_limit, 2);
  auto t = body(call("GET", "/v1.41/swarm"))["JoinTokens"];
  EXPECT_NE(t["Worker"], "SWMTKN-1-digest-workersecret");
  EXPECT_EQ(t["Worker"].get<std::string>().rfind("SWMTKN-1-digest-", 0), 0u);
  EXPECT_EQ(t["Manager"], "SWMTKN-1-digest-managersecret");
  EXPECT_EQ(control.join_tokens()->worker, t["Worker"]);
  r = call("POST", "/v1.41/swarm/update?version=" + v, spec.dump());
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(message(r).find("out of sequence"), std::string::npos);
  EXPECT_EQ(call("GET", "/v1.41/swarm/unlockkey").status, 404);
}

TEST_F(ApiTest, SwarmSpecIsAppliedOrRefused) {
  // What `docker swarm init --task-history-limit 3 --dispatcher-heartbeat 7s` sends (docker CLI 28).
  const std::string init_body =
      R"({"ListenAddr":"0.0.0.0:2377","AdvertiseAddr":"","DataPathAddr":"","DataPathPort":0,"ForceNewCluster":false,)"
      R"("Spec":{"Labels":null,"Orchestration":{"TaskHistoryRetentionLimit":3},"Raft":{"ElectionTick":0,)"
      R"("HeartbeatTick":0},"Dispatcher":{"HeartbeatPeriod":7000000000},"CAConfig":{},"TaskDefaults":{},)"
      R"("EncryptionConfig":{"AutoLockManagers":false}},"AutoLockManagers":false,"Availability":"",)"
      R"("DefaultAddrPool":[],"SubnetSize":24})";
  for (const auto& [patch, expect] : std::vector<std::pair<std::string, std::string>>{
           {R"({"Spec":{"Raft":{"SnapshotInterval":5000}}})", "Raft.SnapshotInterval 5000 is not supported"},
           {R"({"Spec":{"CAConfig":{"NodeCertExpiry":172800000000000}}})", "CAConfig.NodeCertExpiry"},
           {R"({"Spec":{"TaskDefaults":{"LogDriver":{"Name":"json-file"}}}})", "TaskDefaults.LogDriver"},
           {R"({"Spec":{"EncryptionConfig":{"AutoLockManagers":true}}})", "EncryptionConfig.AutoLockManagers"},
           {R"({"Availability":"drain"})", "Availability \"drain\""},
           {R"({"Spec":{"Orchestration":{"TaskHistoryRetentionLimit":"x"}}})",
            "invalid Orchestration.TaskHistoryRetentionLimit: must be an integer"}}) {
    json b = json::parse(init_body);
    b.merge_patch(json::parse(patch));
    auto r = call("POST", "/v1.41/swarm/init", b.dump());
    EXPECT_EQ(r.status, 400) << patch << " -> " << r.body;
    EXPECT_NE(message(r).find(expect), std::string::npos) << patch << " -> " << r.body;
  }
  // The request's own keys match without regard to case too: not ignored.
  auto lower = call("POST", "/v1.41/swarm/init", R"({"autoLockManagers":true})");
  EXPECT_EQ(lower.status, 400) << lower.body;
  EXPECT_NE(message(lower).find("autolock is not supported"), std::string::npos) << lower.body;
  lower = call("POST", "/v1.41/swarm/init", R"({"subnetSize":4294967320})");
  EXPECT_EQ(lower.status, 400) << lower.body;
  EXPECT_NE(message(lower).find("SubnetSize"), std::string::npos) << lower.body;
  ASSERT_EQ(call("POST", "/v1.41/swarm/init", init_body).status, 200);
  auto c = *control.store()->cluster();
  EXPECT_EQ(c.spec.task_history_retention_limit, 3);
  EXPECT_EQ(c.spec.heartbeat_period, std::chrono::seconds(7));
  auto j = body(call("GET", "/v1.41/swarm"));
  EXPECT_EQ(j["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"], 3);
  EXPECT_EQ(j["Spec"]["Dispatcher"]["HeartbeatPeriod"], 7000000000LL);
  // The inspected spec sent back passes; a change the running swarm cannot apply is refused.
  std::string v = std::to_string(j["Version"]["Index"].get<uint64_t>());
  json spec = j["Spec"];
  spec["Labels"] = {{"a", "b"}};
  ASSERT_EQ(call("POST", "/v1.41/swarm/update?version=" + v, spec.dump()).status, 200);
  EXPECT_EQ(control.store()->cluster()->spec.labels.at("a"), "b");
  j = body(call("GET", "/v1.41/swarm"));
  v = std::to_string(j["Version"]["Index"].get<uint64_t>());
  spec = j["Spec"];
  spec["Dispatcher"]["HeartbeatPeriod"] = 9000000000LL;  // applied by every dispatcher at once
  auto r = call("POST", "/v1.41/swarm/update?version=" + v, spec.dump());
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(control.store()->cluster()->spec.heartbeat_period, std::chrono::seconds(9));
  j = body(call("GET", "/v1.41/swarm"));
  v = std::to_string(j["Version"]["Index"].get<uint64_t>());
  spec = j["Spec"];
  spec["Raft"]["ElectionTick"] = 20;
  r = call("POST", "/v1.41/swarm/update?version=" + v, spec.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(message(r).find("Raft.ElectionTick 20 is not supported"), std::string::npos) << r.body;
}

TEST_F(ApiTest, SwarmLeave) {
  init();
  EXPECT_EQ(call("POST", "/v1.41/swarm/leave").status, 400);
  EXPECT_EQ(call("POST", "/v1.41/swarm/leave?force=1").status, 200);
  EXPECT_FALSE(control.active());
  EXPECT_EQ(call("GET", "/v1.41/services").status, 503);
}

// ---- nodes

TEST_F(ApiTest, NodesListInspectAndFilters) {
  init();
  auto r = call("GET", "/v1.41/nodes");
  ASSERT_EQ(r.status, 200);
  auto j = body(r);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["Description"]["Hostname"], "host1");
  EXPECT_EQ(j[0]["ManagerStatus"]["Leader"], true);
  EXPECT_EQ(body(call("GET", R"(/v1.41/nodes?filters={"role":{"worker":true}})")).size(), 0u);
  EXPECT_EQ(body(call("GET", R"(/v1.41/nodes?filters={"role":{"manager":true}})")).size(), 1u);
  EXPECT_EQ(body(call("GET", R"(/v1.41/nodes?filters={"name":{"host1":true}})")).size(), 1u);
  EXPECT_EQ(body(call("GET", R"(/v1.41/nodes?filters={"id":{"node1":true}})")).size(), 1u);
  EXPECT_EQ(body(call("GET", R"(/v1.41/nodes?filters={"label":{"zone=a":true}})")).size(), 0u);
  EXPECT_EQ(call("GET", R"(/v1.41/nodes?filters={"color":{"red":true}})").status, 400);
  EXPECT_EQ(call("GET", R"(/v1.41/nodes?filters={"role":{"boss":true}})").status, 400);
  EXPECT_EQ(call("GET", "/v1.41/nodes?filters=notjson").status, 400);
  EXPECT_EQ(body(call("GET", "/v1.41/nodes/host1"))["ID"], "node1aaaaaaaaaaaaaaaaaaaa");
  EXPECT_EQ(body(call("GET", "/v1.41/nodes/node1"))["ID"], "node1aaaaaaaaaaaaaaaaaaaa");
  r = call("GET", "/v1.41/nodes/nosuchnode");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(message(r), "node nosuchnode not found");
}

// A client-controlled id is echoed in bounded form: the fuzzer found a 404
// that quoted a whole multi-kilobyte task ref back.
TEST_F(ApiTest, LongRefsAreNotEchoedWhole) {
  init();
  std::string ref(5000, 'a');
  for (const char* kind : {"tasks", "nodes", "services"}) {
    auto r = call("GET", std::string("/v1.41/") + kind + "/" + ref);
    EXPECT_EQ(r.status, 404) << kind;
    EXPECT_LT(message(r).size(), 200u) << kind << ": " << message(r).substr(0, 300);
  }
}

// The net under every site: a message that quotes client input whole is cut
// so that the body stays under 4 KiB even when every byte is escaped.
TEST(ErrorResponse, AnUnboundedMessageIsCut) {
  auto r = error_response(400, "invalid thing: " + std::string(100000, '\0'));
  EXPECT_EQ(r.status, 400);
  EXPECT_LT(r.body.size(), 4096u);
  EXPECT_NE(r.body.find("message cut: 100015 bytes"), std::string::npos) << r.body.substr(0, 200);
  // Cut on a character boundary: the JSON stays valid UTF-8.
  std::string utf8;
  for (int i = 0; i < 1000; ++i) utf8 += "\xc3\xa9";
  auto j = nlohmann::json::parse(error_response(400, "x" + utf8).body);
  EXPECT_EQ(j["message"].get<std::string>().find("\xef\xbf\xbd"), std::string::npos);  // no U+FFFD
  EXPECT_EQ(error_response(404, "short").body, "{\"message\":\"short\"}\n");
  // shoald's own 5xx text (a log tail) keeps 2 KiB.
  auto internal = json::parse(error_response(500, std::string(1500, 'e') + std::string(5000, 'f')).body);
  EXPECT_EQ(internal["message"].get<std::string>().substr(0, 1500), std::string(1500, 'e'));
  EXPECT_LT(internal["message"].get<std::string>().size(), 2100u);
}

TEST_F(ApiTest, NodeUpdate) {
  init();
  auto n = body(call("GET", "/v1.41/nodes/host1"));
  std::string v = std::to_string(n["Version"]["Index"].get<uint64_t>());
  // What `docker node update --availability drain --label-add zone=a` sends.
  auto r = call("POST", "/v1.41/nodes/host1/update?version=" + v,
                R"({"Labels":{"zone":"a"},"Role":"manager","Availability":"drain"})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto node = *control.store()->node("node1aaaaaaaaaaaaaaaaaaaa");
  EXPECT_EQ(node.spec.availability, NodeAvailability::kDrain);
  EXPECT_EQ(node.spec.labels.at("zone"), "a");
  EXPECT_EQ(body(call("GET", R"(/v1.41/nodes?filters={"node.label":{"zone=a":true}})")).size(), 1u);
  r = call("POST", "/v1.41/nodes/host1/update?version=" + v, R"({"Role":"manager","Availability":"active"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(message(r).find("out of sequence"), std::string::npos);
  v = std::to_string(node.version);
  r = call("POST", "/v1.41/nodes/host1/update?version=" + v, R"({"Role":"worker","Availability":"active"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(message(r).find("attempting to demote the last manager of the swarm"), std::string::npos);
  EXPECT_EQ(call("POST", "/v1.41/nodes/host1/update?version=" + v, R"({"Availability":"sleepy"})").status, 400);
  EXPECT_EQ(call("POST", "/v1.41/nodes/host1/update?version=" + v, "{").status, 400);
  EXPECT_EQ(call("POST", "/v1.41/nodes/host1/update", "{}").status, 400);
  EXPECT_EQ(call("POST", "/v1.41/nodes/zzz/update?version=1", "{}").status, 404);
  // Keys in any case, as Go decodes them (the Python SDK's style): applied, not ignored.
  v = std::to_string(body(call("GET", "/v1.41/nodes/host1"))["Version"]["Index"].get<uint64_t>());
  r = call("POST", "/v1.41/nodes/host1/update?version=" + v,
           R"({"role":"manager","availability":"pause","labels":{"zone":"b"}})");
  ASSERT_EQ(r.status, 200) << r.body;
  node = *control.store()->node("node1aaaaaaaaaaaaaaaaaaaa");
  EXPECT_EQ(node.spec.availability, NodeAvailability::kPause);
  EXPECT_EQ(node.spec.labels.at("zone"), "b");
}

// --force-new-cluster on a node outside a swarm is a plain init (as Docker);
// on a manager it is the node's recovery (a host without one: 501).
TEST_F(ApiTest, SwarmInitForceNewClusterInitsOrRecovers) {
  auto r = call("POST", "/v1.41/swarm/init", R"({"ForceNewCluster":true})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(control.active());
  r = call("POST", "/v1.41/swarm/init", R"({"forcenewcluster":true})");
  EXPECT_EQ(r.status, 501) << r.body;
  EXPECT_NE(message(r).find("--force-new-cluster"), std::string::npos);
  EXPECT_EQ(call("POST", "/v1.41/swarm/init", "{}").status, 503);  // already in a swarm
}

// A host whose node cannot start or stop the manager role (the API tests'
// FakeControl) stores no role change: 501, saying so.
TEST_F(ApiTest, NodePromoteAndDemoteAreRefusedWhereTheHostCannotChangeRoles) {
  init();
  Node w = add_ready_worker();
  auto n = *control.store()->node(w.id);
  auto r = call("POST", "/v1.41/nodes/host2/update?version=" + std::to_string(n.version), R"({"Role":"manager"})");
  EXPECT_EQ(r.status, 501) << r.body;
  EXPECT_NE(message(r).find("not implemented"), std::string::npos);
  EXPECT_EQ(control.store()->node(w.id)->spec.role, NodeRole::kWorker);
}

TEST_F(ApiTest, NodeDelete) {
  init();
  Node w = add_ready_worker();
  auto r = call("DELETE", "/v1.41/nodes/host1");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(message(r).find("must be demoted"), std::string::npos);
  EXPECT_EQ(call("DELETE", "/v1.41/nodes/host2").status, 400);  // not down
  EXPECT_EQ(call("DELETE", "/v1.41/nodes/host2?force=1").status, 200);
  EXPECT_FALSE(control.store()->node(w.id).has_value());
}

// ---- services: create

TEST_F(ApiTest, CreateServiceHappyPath) {
  init();
  auto r = call("POST", "/v1.41/services/create", kSpec);
  ASSERT_EQ(r.status, 201) << r.body;
  auto j = body(r);
  EXPECT_EQ(j["ID"].get<std::string>().size(), 25u);
  EXPECT_TRUE(j["Warnings"].is_null());
  Service s = service("web");
  EXPECT_EQ(s.id, j["ID"]);
  EXPECT_EQ(s.spec_version, 1u);
  EXPECT_EQ(s.spec.replicas, 3u);
  EXPECT_EQ(s.created_at, clock.now());
  EXPECT_EQ(s.updated_at, s.created_at);
  // Stored as sent: no UpdateConfig or RollbackConfig added.
  EXPECT_FALSE(s.spec.update_config.has_value());
  EXPECT_FALSE(s.spec.rollback_config.has_value());
}

TEST_F(ApiTest, CreateFromDockerCliBodyWithoutNameGetsAGeneratedName) {
  init();
  // `docker service create -d busybox` (docker CLI 28).
  std::string id = create(
      R"({"Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest","Init":false,"DNSConfig":{}},)"
      R"("Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0},"Mode":{"Replicated":{}},)"
      R"("EndpointSpec":{"Mode":"vip"}})");
  Service s = service(id);
  EXPECT_TRUE(validate_service_name(s.spec.name).ok()) << s.spec.name;
  EXPECT_NE(s.spec.name.find('_'), std::string::npos);
  EXPECT_EQ(s.spec.replicas, 1u);
}

TEST_F(ApiTest, CreateRejectsBadInput) {
  init();
  struct Case {
    std::string body;
    int status;
    std::string message_part;
  };
  std::vector<Case> cases = {
      {R"({"Name": )", 400, "line 1, column"},
      {"", 400, "empty"},
      {"[1,2]", 400, "JSON object"},
      {spec_with("-bad name", "busybox", 1), 400, "invalid name"},
      {spec_with("a.b", "busybox", 1), 400, "invalid name"},
      {spec_with(std::string(64, 'a'), "busybox", 1), 400, "63 characters"},
      {spec_with("neg", "busybox", -1), 400, "invalid Mode.Replicated.Replicas -1: must be a non-negative integer"},
      {spec_with("noimg", "", 1), 400, "Image is empty"},
      {spec_with("badimg", "Bad::Image", 1), 400, "invalid reference format"},
      {R"({"Name":"r","TaskTemplate":{"ContainerSpec":{"Image":"busybox"},"RestartPolicy":{"Condition":"sometimes"}}})",
       400, "RestartPolicy.Condition"},
      {R"({"Name":"d","TaskTemplate":{"ContainerSpec":{"Image":"busybox","StopGracePeriod":-5}}})", 400,
       "StopGracePeriod"},
      {R"({"Name":"u","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"UpdateConfig":{"Parallelism":-1}})", 400,
       "UpdateConfig.Parallelism"},
      {R"({"Name":"u","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"UpdateConfig":{"FailureAction":"explode"}})",
       400, "FailureAction"},
      {R"({"Name":"u","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"RollbackConfig":{"Delay":"5s"}})", 400,
       "RollbackConfig.Delay"},
      {R"({"Name":"t","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Args":"sleep"}}})", 400, "Args"},
      {R"({"Name":"m","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Mode":{"Replicated":{},"Global":{}}})", 400,
       "not both"},
      {R"({"Name":"p","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"EndpointSpec":{"Ports":[{"TargetPort":0}]}})",
       400, "invalid EndpointSpec.Ports TargetPort 0: must be 1-65535"},
      {R"({"Name":"c","TaskTemplate":{"ContainerSpec":{"Image":"busybox"},"Placement":{"Constraints":["nonsense"]}}})",
       400, ""},
  };
  for (const auto& c : cases) {
    auto r = call("POST", "/v1.41/services/create", c.body);
    EXPECT_EQ(r.status, c.status) << c.body << " -> " << r.body;
    EXPECT_NE(message(r).find(c.message_part), std::string::npos) << c.body << " -> " << r.body;
  }
  EXPECT_TRUE(control.store()->services().empty());
}

TEST_F(ApiTest, CreateIgnoresUnknownFieldsAndRejectsDuplicates) {
  init();
  create(R"({"Name":"web","Future":{"x":1},"TaskTemplate":{"ContainerSpec":{"Image":"busybox","Whatever":true}}})");
  auto r = call("POST", "/v1.41/services/create", kSpec);
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(message(r).find("name conflicts with an existing object"), std::string::npos);
  EXPECT_EQ(control.store()->services().size(), 1u);
}

// ---- services: list, inspect

TEST_F(ApiTest, ListServicesWithFiltersAndStatus) {
  init();
  std::string web = create();
  create(R"({"Name":"db","Labels":{"tier":"back"},"TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Mode":{"Global":{}}})");
  Service s = service(web);
  add_task("t1", s, 1, TaskState::kRunning);
  add_task("t2", s, 2, TaskState::kRunning);
  add_task("t3", s, 3, TaskState::kPreparing);
  add_task("t0", s, 1, TaskState::kShutdown, TaskState::kShutdown);

  auto j = body(call("GET", "/v1.41/services"));
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["Spec"]["Name"], "web");  // creation order
  EXPECT_FALSE(j[0].contains("ServiceStatus"));
  EXPECT_FALSE(j[0].contains("ShoalSpecVersion"));

  j = body(call("GET", "/v1.41/services?status=true"));
  EXPECT_EQ(j[0]["ServiceStatus"]["RunningTasks"], 2);
  EXPECT_EQ(j[0]["ServiceStatus"]["DesiredTasks"], 3);
  EXPECT_EQ(j[1]["ServiceStatus"]["RunningTasks"], 0);
  EXPECT_EQ(j[1]["ServiceStatus"]["DesiredTasks"], 1);  // global: one eligible node

  auto names = [&](const std::string& filters) {
    std::vector<std::string> out;
    for (const auto& s : body(call("GET", "/v1.41/services?filters=" + http::url_encode(filters))))
      out.push_back(s["Spec"]["Name"]);
    return out;
  };
  EXPECT_EQ(names(R"({"name":{"we":true}})"), std::vector<std::string>{"web"});
  EXPECT_EQ(names(R"({"id":{")" + web.substr(0, 5) + R"(":true}})"), std::vector<std::string>{"web"});
  EXPECT_EQ(names(R"({"mode":{"global":true}})"), std::vector<std::string>{"db"});
  EXPECT_EQ(names(R"({"label":{"tier=back":true}})"), std::vector<std::string>{"db"});
  EXPECT_EQ(names(R"({"label":{"tier":true}})"), std::vector<std::string>{"db"});
  EXPECT_EQ(names(R"({"name":["db"]})"), std::vector<std::string>{"db"});
  auto r = call("GET", "/v1.41/services?filters=" + http::url_encode(R"({"colour":{"red":true}})"));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(message(r).find("invalid filter 'colour'"), std::string::npos);
  EXPECT_EQ(call("GET", "/v1.41/services?filters=" + http::url_encode(R"({"mode":{"jobs":true}})")).status, 400);
}

TEST_F(ApiTest, InspectServiceByIdNamePrefix) {
  init();
  std::string id = create();
  EXPECT_EQ(body(call("GET", "/v1.41/services/" + id))["ID"], id);
  EXPECT_EQ(body(call("GET", "/v1.41/services/web"))["ID"], id);
  EXPECT_EQ(body(call("GET", "/v1.41/services/" + id.substr(0, 4)))["ID"], id);
  auto r = call("GET", "/v1.41/services/nosuchservice");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(message(r), "service nosuchservice not found");
  auto j = body(call("GET", "/v1.41/services/web?insertDefaults=false"));
  EXPECT_FALSE(j["Spec"]["TaskTemplate"]["ContainerSpec"].contains("StopGracePeriod"));
  j = body(call("GET", "/v1.41/services/web?insertDefaults=true"));
  EXPECT_EQ(j["Spec"]["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"], 10000000000LL);
  EXPECT_EQ(j["Spec"]["TaskTemplate"]["RestartPolicy"]["Delay"], 5000000000LL);
  EXPECT_EQ(j["Spec"]["UpdateConfig"]["Monitor"], 5000000000LL);
}

// ---- services: the spec as Docker decodes it, refused fields, round trip

TEST_F(ApiTest, DecodesKeysWithoutRegardToCaseAsGoDoes) {
  init();
  // The Docker SDK for Python's spelling.
  create(R"({"name":"py","taskTemplate":{"containerSpec":{"image":"busybox"}},"mode":{"replicated":{"Replicas":5}}})");
  EXPECT_EQ(service("py").spec.replicas, 5u);
  create(R"({"Name":"g","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Mode":{"global":{}}})");
  EXPECT_EQ(service("g").spec.mode, ServiceModeKind::kGlobal);
  // Unknown keys are ignored, as Go does; a known one of the wrong type is a 400 naming it.
  create(R"({"Name":"u","Bogus":1,"TaskTemplate":{"ContainerSpec":{"Image":"busybox","Whatever":{}}}})");
  EXPECT_FALSE(body(call("GET", "/v1.41/services/u"))["Spec"].contains("Bogus"));
  auto r = call("POST", "/v1.41/services/create",
                R"({"Name":"w","TaskTemplate":{"containerspec":{"Image":"busybox","env":"A=1"}}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(message(r), "invalid TaskTemplate.ContainerSpec.Env: must be a list of strings");
  // Two spellings of one field: Go keeps the later, which the parsed object
  // cannot tell, so neither may silently win (here an empty Mounts would have
  // hidden a refused one).
  r = call("POST", "/v1.41/services/create",
           R"({"Name":"dupe-spelling","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Mounts":[],)"
           R"("mounts":[{"Type":"tmpfs","Target":"/x"}]}}})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(message(r), "invalid TaskTemplate.ContainerSpec.Mounts: given twice, as \"Mounts\" and \"mounts\"; give it once");
  EXPECT_EQ(call("GET", "/v1.41/services/dupe-spelling").status, 404);
}

TEST_F(ApiTest, RefusesFieldsNotAppliedYetAndPassesEmptyOnes) {
  init();
  const std::string head = R"({"Name":"x","TaskTemplate":{)";
  // {TaskTemplate's contents (some close it to reach the ServiceSpec), what the message names}
  std::vector<std::pair<std::string, std::string>> cases = {
      {R"("ContainerSpec":{"Image":"busybox","Mounts":[{"Type":"tmpfs","Target":"/x"}]})",
       "TaskTemplate.ContainerSpec.Mounts is not supported by shoal yet"},
      {R"("ContainerSpec":{"Image":"busybox","Secrets":[{"SecretName":"s"}]})", "TaskTemplate.ContainerSpec.Secrets"},
      {R"("ContainerSpec":{"Image":"busybox","Configs":[{"ConfigName":"c"}]})", "TaskTemplate.ContainerSpec.Configs"},
      {R"("ContainerSpec":{"Image":"busybox","Healthcheck":{"Test":["CMD","true"]}})",
       "TaskTemplate.ContainerSpec.Healthcheck"},
      {R"("ContainerSpec":{"Image":"busybox","Hosts":["1.2.3.4 a"]})", "TaskTemplate.ContainerSpec.Hosts"},
      {R"("ContainerSpec":{"Image":"busybox","DNSConfig":{"Nameservers":["1.1.1.1"]}})",
       "TaskTemplate.ContainerSpec.DNSConfig"},
      {R"("ContainerSpec":{"Image":"busybox","Init":true})", "TaskTemplate.ContainerSpec.Init"},
      {R"("ContainerSpec":{"Image":"busybox","TTY":true})", "TaskTemplate.ContainerSpec.TTY"},
      {R"("ContainerSpec":{"Image":"busybox","Groups":["g"]})", "TaskTemplate.ContainerSpec.Groups"},
      {R"("ContainerSpec":{"Image":"busybox","Sysctls":{"a":"1"}})", "TaskTemplate.ContainerSpec.Sysctls"},
      {R"("ContainerSpec":{"Image":"busybox","CapabilityAdd":["CAP_NET_ADMIN"]})",
       "TaskTemplate.ContainerSpec.CapabilityAdd"},
      {R"("ContainerSpec":{"Image":"busybox","Ulimits":[{"Name":"nofile","Soft":1,"Hard":1}]})",
       "TaskTemplate.ContainerSpec.Ulimits"},
      {R"("ContainerSpec":{"Image":"busybox","Isolation":"hyperv"})",
       "TaskTemplate.ContainerSpec.Isolation \"hyperv\" is not supported"},
      {R"("ContainerSpec":{"Image":"busybox","Privileges":{"SELinuxContext":{"User":"u"}}})",
       "TaskTemplate.ContainerSpec.Privileges.SELinuxContext"},
      // Docker expands templates in these; shoal would pass them on verbatim.
      {R"("ContainerSpec":{"Image":"busybox","Hostname":"{{.Node.Hostname}}"})",
       "TaskTemplate.ContainerSpec.Hostname \"{{.Node.Hostname}}\" is not supported"},
      {R"("ContainerSpec":{"Image":"busybox","Env":["A=1","SLOT={{.Task.Slot}}"]})",
       "TaskTemplate.ContainerSpec.Env \"SLOT={{.Task.Slot}}\" is not supported"},
      {R"("ContainerSpec":{"Image":"busybox"},"Networks":[{"Target":"n","DriverOpts":{"a":"b"}}])",
       "TaskTemplate.Networks[0].DriverOpts"},
      {R"("ContainerSpec":{"Image":"busybox"},"LogDriver":{"Name":"json-file"})", "TaskTemplate.LogDriver"},
      {R"("ContainerSpec":{"Image":"busybox"},"Placement":{"Preferences":[{"Spread":{}}]})",
       "TaskTemplate.Placement.Preferences"},
      {R"("ContainerSpec":{"Image":"busybox"},"Resources":{"Reservations":{"GenericResources":[{}]}})",
       "TaskTemplate.Resources.Reservations.GenericResources"},
      {R"("ContainerSpec":{"Image":"busybox"},"Runtime":"plugin")", "TaskTemplate.Runtime \"plugin\""},
      {R"("ContainerSpec":{"Image":"busybox"}},"Mode":{"ReplicatedJob":{}},"X":{)", "ReplicatedJob"},
      {R"("ContainerSpec":{"Image":"busybox"}},"UpdateConfig":{"FailureAction":"rollback"},"X":{)",
       "UpdateConfig.FailureAction \"rollback\""},
      {R"("ContainerSpec":{"Image":"busybox"}},"UpdateConfig":{"MaxFailureRatio":0.5},"X":{)",
       "UpdateConfig.MaxFailureRatio 0.5"},
      {R"("ContainerSpec":{"Image":"busybox"}},"RollbackConfig":{"Order":"start-first"},"X":{)",
       "RollbackConfig.Order"},
      {R"("ContainerSpec":{"Image":"busybox"}},"EndpointSpec":{"Ports":[{"TargetPort":80,"PublishMode":"other"}]},"X":{)",
       "EndpointSpec.Ports[0].PublishMode \"other\""},
      {R"("ContainerSpec":{"Image":"busybox"}},"EndpointSpec":{"Ports":[{"TargetPort":80,"Protocol":"sctp"}]},"X":{)",
       "EndpointSpec.Ports[0].Protocol \"sctp\""},
      {R"("ContainerSpec":{"Image":"busybox"}},"Networks":[{"Target":"n"}],"X":{)", "Networks is not supported"},
  };
  for (const auto& [part, expect] : cases) {
    std::string b = head + part + "}}";
    auto r = call("POST", "/v1.41/services/create", b);
    EXPECT_EQ(r.status, 400) << b << " -> " << r.body;
    EXPECT_NE(message(r).find(expect), std::string::npos) << b << " -> " << r.body;
    EXPECT_NE(message(r).find("not supported by shoal yet"), std::string::npos) << r.body;
  }
  EXPECT_TRUE(control.store()->services().empty());
  // Empty and default values pass (what the CLI and SDKs send every time).
  create(R"({"Name":"e","TaskTemplate":{"ContainerSpec":{"Image":"busybox","Mounts":[],"Secrets":null,)"
         R"("Init":false,"TTY":false,"DNSConfig":{"Nameservers":[]},"Isolation":"default","Privileges":)"
         R"({"CredentialSpec":null,"SELinuxContext":null},"Healthcheck":{"Test":["NONE"]}},"Networks":[],)"
         R"("Runtime":"container","Placement":{"Platforms":[]}},"RollbackConfig":{"Parallelism":1,)"
         R"("FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"stop-first"},)"
         R"("EndpointSpec":{"Mode":"vip","Ports":[]}})");
}

// Placement.Platforms (what the docker CLI fills from GET /distribution):
// stored and shown as sent; a value that names no platform is a 400.
TEST_F(ApiTest, PlacementPlatformsAreStoredAndBadOnesRefused) {
  init();
  const char* cli =
      R"({"Name":"p","TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest"},"Placement":{"Platforms":)"
      R"([{"Architecture":"amd64","OS":"linux"},{"Architecture":"arm64","OS":"linux"},{"OS":"linux"}]}},)"
      R"("Mode":{"Replicated":{"Replicas":1}}})";
  create(cli);
  json spec = body(call("GET", "/v1.41/services/p"))["Spec"];
  EXPECT_EQ(spec["TaskTemplate"]["Placement"], json::parse(cli)["TaskTemplate"]["Placement"]);
  ASSERT_EQ(control.store()->services().size(), 1u);
  auto platforms = control.store()->services().front().spec.task_template.placement.platforms;
  ASSERT_EQ(platforms.size(), 3u);
  EXPECT_EQ(platforms[1].architecture, "arm64");
  EXPECT_EQ(platforms[2].os, "linux");
  const std::string head = R"({"Name":"q","TaskTemplate":{"ContainerSpec":{"Image":"busybox"},"Placement":{"Platforms":)";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"([{"OS":"linux","Architecture":"amd 64"}])", "TaskTemplate.Placement.Platforms[0].Architecture \"amd 64\""},
      {R"([{"OS":5}])", "TaskTemplate.Placement.Platforms[0].OS 5: must be a string"},
      {R"(["linux"])", "TaskTemplate.Placement.Platforms"},
  };
  for (const auto& [platforms_json, expect] : bad) {
    auto r = call("POST", "/v1.41/services/create", head + platforms_json + "}}}");
    EXPECT_EQ(r.status, 400) << platforms_json << " -> " << r.body;
    EXPECT_NE(message(r).find(expect), std::string::npos) << platforms_json << " -> " << r.body;
  }
  EXPECT_EQ(control.store()->services().size(), 1u);
}

TEST_F(ApiTest, InspectReturnsTheSpecAsSent) {
  init();
  const char* cli =
      R"({"Name":"web","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest","Args":["sleep","1000"],)"
      R"("Init":false,"DNSConfig":{}},"Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0},)"
      R"("Mode":{"Replicated":{"Replicas":2}},"EndpointSpec":{"Mode":"vip"}})";
  create(cli);
  json spec = body(call("GET", "/v1.41/services/web"))["Spec"];
  EXPECT_EQ(spec, json::parse(cli));
  // Nothing added: no platform, no update or rollback config ...
  EXPECT_FALSE(spec["TaskTemplate"]["Placement"].contains("Platforms"));
  EXPECT_FALSE(spec.contains("UpdateConfig"));
  // ... unless insertDefaults=true, as Docker.
  json full = body(call("GET", "/v1.41/services/web?insertDefaults=true"))["Spec"];
  EXPECT_EQ(full["UpdateConfig"]["Parallelism"], 1);
  EXPECT_EQ(full["UpdateConfig"]["Order"], "stop-first");
  EXPECT_EQ(full["RollbackConfig"]["FailureAction"], "pause");
  EXPECT_EQ(full["TaskTemplate"]["ContainerSpec"]["Args"], json::array({"sleep", "1000"}));
  EXPECT_EQ(full["Mode"]["Replicated"]["Replicas"], 2);
  // Sent back unchanged by an update (the CLI's inspect-modify-update): no rollout.
  Service s = service("web");
  auto r = call("POST", "/v1.41/services/web/update?version=" + std::to_string(s.version), spec.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(service("web").spec_version, s.spec_version);
  EXPECT_EQ(body(call("GET", "/v1.41/services/web"))["Spec"], json::parse(cli));
}

TEST_F(ApiTest, CompletedTasksCountsTasksThatRanToCompletion) {
  init();
  create(R"({"Name":"once","TaskTemplate":{"ContainerSpec":{"Image":"busybox"},"RestartPolicy":{"Condition":"none"}},)"
         R"("Mode":{"Replicated":{"Replicas":2}}})");
  Service s = service("once");
  Batch b;
  for (uint64_t slot : {1, 2}) {
    Task t;
    t.id = "t" + std::to_string(slot);
    t.service_id = s.id;
    t.slot = slot;
    t.status.state = TaskState::kRunning;
    if (slot == 1) t.status.state = TaskState::kComplete;
    b.create(t);
  }
  ASSERT_TRUE(control.store()->commit(b).ok());
  auto list = body(call("GET", "/v1.41/services?status=true"));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["ServiceStatus"]["CompletedTasks"], 1);
  EXPECT_EQ(list[0]["ServiceStatus"]["DesiredTasks"], 2);
}

// ---- services: update, rollback, delete

TEST_F(ApiTest, ReplicasOnlyUpdateDoesNotRollTasks) {
  init();
  create();
  Service s = service("web");
  json spec = body(call("GET", "/v1.41/services/web"))["Spec"];
  spec["Mode"]["Replicated"]["Replicas"] = 5;
  auto r = call("POST", "/v1.41/services/" + s.id + "/update?version=" + std::to_string(s.version), spec.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(body(r)["Warnings"].is_null());
  Service after = service("web");
  EXPECT_EQ(after.spec.replicas, 5u);
  EXPECT_EQ(after.spec_version, 1u);
  EXPECT_FALSE(after.update_status.has_value());
  ASSERT_TRUE(after.previous_spec.has_value());
  EXPECT_EQ(after.previous_spec->replicas, 3u);
  EXPECT_GT(after.version, s.version);
}

TEST_F(ApiTest, ImageUpdateAndForceUpdateBumpSpecVersion) {
  init();
  create();
  Service s = service("web");
  json spec = body(call("GET", "/v1.41/services/web"))["Spec"];
  spec["TaskTemplate"]["ContainerSpec"]["Image"] = "busybox:1.36";
  // The docker CLI adds registryAuthFrom=spec.
  auto r = call("POST", "/v1.41/services/web/update?registryAuthFrom=spec&version=" + std::to_string(s.version),
                spec.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  Service after = service("web");
  EXPECT_EQ(after.spec_version, 2u);
  EXPECT_EQ(after.spec.task_template.container_spec.image, "busybox:1.36");
  ASSERT_TRUE(after.update_status.has_value());
  EXPECT_EQ(after.update_status->state, "updating");

  spec["TaskTemplate"]["ForceUpdate"] = 1;
  r = call("POST", "/v1.41/services/web/update?version=" + std::to_string(after.version), spec.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(service("web").spec_version, 3u);
}

TEST_F(ApiTest, UpdateErrors) {
  init();
  create();
  Service s = service("web");
  std::string v = std::to_string(s.version);
  json spec = body(call("GET", "/v1.41/services/web"))["Spec"];
  ASSERT_EQ(call("POST", "/v1.41/services/web/update?version=" + v, spec.dump()).status, 200);
  auto r = call("POST", "/v1.41/services/web/update?version=" + v, spec.dump());
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(message(r).find("update out of sequence"), std::string::npos);
  EXPECT_NE(message(r).find("inspect it again and retry"), std::string::npos);
  v = std::to_string(service("web").version);
  EXPECT_EQ(call("POST", "/v1.41/services/web/update", spec.dump()).status, 400);
  EXPECT_EQ(call("POST", "/v1.41/services/web/update?version=abc", spec.dump()).status, 400);
  EXPECT_EQ(call("POST", "/v1.41/services/nope/update?version=" + v, spec.dump()).status, 404);
  EXPECT_EQ(call("POST", "/v1.41/services/web/update?version=" + v, "{bad").status, 400);
  json renamed = spec;
  renamed["Name"] = "other";
  r = call("POST", "/v1.41/services/web/update?version=" + v, renamed.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(message(r).find("renaming services is not supported"), std::string::npos);
  json global = spec;
  global["Mode"] = {{"Global", json::object()}};
  EXPECT_EQ(call("POST", "/v1.41/services/web/update?version=" + v, global.dump()).status, 400);
  json neg = spec;
  neg["Mode"]["Replicated"]["Replicas"] = -2;
  EXPECT_EQ(call("POST", "/v1.41/services/web/update?version=" + v, neg.dump()).status, 400);
  json noimg = spec;
  noimg["TaskTemplate"]["ContainerSpec"]["Image"] = "";
  EXPECT_EQ(call("POST", "/v1.41/services/web/update?version=" + v, noimg.dump()).status, 400);
  EXPECT_EQ(service("web").version, std::stoull(v));  // nothing written
}

TEST_F(ApiTest, RollbackToPreviousSpec) {
  init();
  create();
  Service s = service("web");
  auto r = call("POST", "/v1.41/services/web/update?rollback=previous&version=" + std::to_string(s.version), kSpec);
  EXPECT_EQ(r.status, 400);  // nothing to roll back to
  EXPECT_NE(message(r).find("does not have a previous spec"), std::string::npos);
  json spec = body(call("GET", "/v1.41/services/web"))["Spec"];
  spec["TaskTemplate"]["ContainerSpec"]["Image"] = "busybox:1.36";
  ASSERT_EQ(call("POST", "/v1.41/services/web/update?version=" + std::to_string(s.version), spec.dump()).status, 200);
  s = service("web");
  r = call("POST", "/v1.41/services/web/update?rollback=previous&version=" + std::to_string(s.version), spec.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  Service after = service("web");
  EXPECT_EQ(after.spec.task_template.container_spec.image, "busybox:latest");
  EXPECT_EQ(after.previous_spec->task_template.container_spec.image, "busybox:1.36");
  EXPECT_EQ(after.spec_version, 3u);
  EXPECT_EQ(after.update_status->message, "manually requested rollback");
}

TEST_F(ApiTest, DeleteService) {
  init();
  create();
  EXPECT_EQ(call("DELETE", "/v1.41/services/web").status, 200);
  EXPECT_EQ(call("GET", "/v1.41/services/web").status, 404);
  EXPECT_EQ(call("DELETE", "/v1.41/services/web").status, 404);
  create();  // the name is free again
}

TEST_F(ApiTest, ServiceLogsNotImplementedYet) {
  init();
  create();
  auto r = call("GET", "/v1.41/services/web/logs?stdout=1");
  EXPECT_EQ(r.status, 501);
  EXPECT_FALSE(message(r).empty());
  EXPECT_EQ(call("GET", "/v1.41/services/nope/logs").status, 404);
}

// ---- tasks

TEST_F(ApiTest, TasksListFiltersAsTheDockerCliSendsThem) {
  init();
  create();
  create(spec_with("db", "busybox", 1));
  Service web = service("web"), db = service("db");
  add_task("t1aaaa", web, 1, TaskState::kRunning);
  add_task("t2aaaa", web, 2, TaskState::kRunning);
  add_task("t0aaaa", web, 1, TaskState::kShutdown, TaskState::kShutdown);
  add_task("d1aaaa", db, 1, TaskState::kPending, TaskState::kRunning, "");
  auto ids = [&](const std::string& filters) {
    std::vector<std::string> out;
    auto r = call("GET", "/v1.41/tasks?filters=" + http::url_encode(filters));
    EXPECT_EQ(r.status, 200) << filters << " -> " << r.body;
    if (r.status != 200) return out;
    for (const auto& t : body(r)) out.push_back(t["ID"]);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids("{}").size(), 4u);
  EXPECT_EQ(ids(R"({"service":{"web":true}})"), (V{"t1aaaa", "t2aaaa", "t0aaaa"}));
  EXPECT_EQ(ids(R"({"service":{")" + web.id + R"(":true}})").size(), 3u);
  EXPECT_EQ(ids(R"({"service":{"web":true},"desired-state":{"running":true}})"), (V{"t1aaaa", "t2aaaa"}));
  EXPECT_EQ(ids(R"({"desired-state":{"shutdown":true}})"), V{"t0aaaa"});
  EXPECT_EQ(ids(R"({"node":{"host1":true}})").size(), 3u);
  EXPECT_EQ(ids(R"({"node":{"node1aaaaaaaaaaaaaaaaaaaa":true}})").size(), 3u);
  EXPECT_EQ(ids(R"({"name":{"web.2":true}})"), V{"t2aaaa"});
  EXPECT_EQ(ids(R"({"name":{"db":true}})"), V{"d1aaaa"});
  EXPECT_EQ(ids(R"({"id":{"t1":true}})"), V{"t1aaaa"});
  EXPECT_EQ(ids(R"({"service":{"web":true},"_up-to-date":{"true":true}})").size(), 3u);
  // After an image update the old tasks are no longer up to date.
  json spec = body(call("GET", "/v1.41/services/web"))["Spec"];
  spec["TaskTemplate"]["ContainerSpec"]["Image"] = "busybox:1.36";
  ASSERT_EQ(call("POST", "/v1.41/services/web/update?version=" + std::to_string(web.version), spec.dump()).status, 200);
  EXPECT_EQ(ids(R"({"service":{"web":true},"_up-to-date":{"true":true}})").size(), 0u);

  auto r = call("GET", "/v1.41/tasks?filters=" + http::url_encode(R"({"service":{"nope":true}})"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(message(r), "service nope not found");
  EXPECT_EQ(call("GET", "/v1.41/tasks?filters=" + http::url_encode(R"({"node":{"nope":true}})")).status, 404);
  EXPECT_EQ(call("GET", "/v1.41/tasks?filters=" + http::url_encode(R"({"flavour":{"x":true}})")).status, 400);
  EXPECT_EQ(call("GET", "/v1.41/tasks?filters=" + http::url_encode(R"({"desired-state":{"dancing":true}})")).status, 400);

  auto t = body(call("GET", "/v1.41/tasks/t1aaaa"));
  EXPECT_EQ(t["ServiceID"], web.id);
  EXPECT_EQ(t["Slot"], 1);
  EXPECT_EQ(t["Status"]["State"], "running");
  EXPECT_EQ(t["DesiredState"], "running");
  EXPECT_FALSE(t.contains("ShoalServiceName"));
  EXPECT_EQ(body(call("GET", "/v1.41/tasks/d1"))["ID"], "d1aaaa");
  EXPECT_EQ(call("GET", "/v1.41/tasks/t").status, 400);  // ambiguous
  EXPECT_EQ(call("GET", "/v1.41/tasks/nosuchtask").status, 404);
}

// ---- containers

TEST_F(ApiTest, ContainersListAndKill) {
  ContainerSummary c;
  c.id = std::string(64, 'a');
  c.names = {"/web.1.t1aaaa"};
  c.image = "busybox:latest";
  c.command = "sleep 100";
  c.created = 1700000000;
  c.state = "running";
  c.status = "Up 5 seconds";
  c.labels = {{"com.docker.swarm.service.name", "web"}, {"com.docker.swarm.task.id", "t1aaaa"}};
  ContainerSummary dead = c;
  dead.id = std::string(64, 'b');
  dead.names = {"/web.1.t0aaaa"};
  dead.state = "exited";
  dead.status = "Exited (137) 3 seconds ago";
  containers.containers = {c, dead};

  auto j = body(call("GET", "/v1.41/containers/json"));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["Id"], c.id);
  EXPECT_EQ(j[0]["Names"][0], "/web.1.t1aaaa");
  EXPECT_EQ(j[0]["State"], "running");
  EXPECT_EQ(j[0]["Status"], "Up 5 seconds");
  EXPECT_EQ(j[0]["Labels"]["com.docker.swarm.service.name"], "web");
  EXPECT_EQ(body(call("GET", "/v1.41/containers/json?all=1")).size(), 2u);

  EXPECT_EQ(call("POST", "/v1.41/containers/aaaa/kill").status, 204);
  EXPECT_EQ(call("POST", "/v1.41/containers/web.1.t1aaaa/kill?signal=SIGTERM").status, 204);
  EXPECT_EQ(call("POST", "/v1.41/containers/aaaa/kill?signal=9").status, 204);
  ASSERT_EQ(containers.killed.size(), 3u);
  EXPECT_EQ(containers.killed[0].second, 9);
  EXPECT_EQ(containers.killed[1].second, 15);
  EXPECT_EQ(call("POST", "/v1.41/containers/aaaa/kill?signal=BOGUS").status, 400);
  // The CI fuzz run found the signal quoted whole (a 30 KiB query parameter echoed back).
  auto long_sig = call("POST", "/v1.41/containers/aaaa/kill?signal=99" + std::string(20000, 'x'));
  EXPECT_EQ(long_sig.status, 400);
  EXPECT_LT(message(long_sig).size(), 300u) << message(long_sig).substr(0, 400);
  auto r = call("POST", "/v1.41/containers/zzzz/kill");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(message(r), "No such container: zzzz");
}

TEST_F(ApiTest, ContainersListFiltersAndLimit) {
  ContainerSummary web;
  web.id = "aaaa" + std::string(60, '1');
  web.names = {"/web.1.t1"};
  web.created = 1700000001;
  web.state = "running";
  web.labels = {{"com.docker.swarm.service.name", "web"}};
  ContainerSummary db = web;
  db.id = "bbbb" + std::string(60, '2');
  db.names = {"/db.1.t2"};
  db.created = 1700000002;
  db.labels = {{"com.docker.swarm.service.name", "db"}};
  ContainerSummary old = web;
  old.id = "aacc" + std::string(60, '3');
  old.names = {"/web.1.t0"};
  old.created = 1700000000;
  old.state = "exited";
  containers.containers = {web, db, old};
  auto ids = [&](const std::string& query) {
    std::vector<std::string> out;
    for (const auto& c : body(call("GET", "/v1.41/containers/json" + query))) out.push_back(c["Id"].get<std::string>().substr(0, 4));
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids(""), (V{"bbbb", "aaaa"})) << "newest first, running only";
  EXPECT_EQ(ids(R"(?filters={"name":{"web":true}})"), (V{"aaaa"}));
  EXPECT_EQ(ids(R"(?all=1&filters={"name":{"web":true}})"), (V{"aaaa", "aacc"}));
  EXPECT_EQ(ids(R"(?all=1&filters={"id":{"aa":true}})"), (V{"aaaa", "aacc"}));
  EXPECT_EQ(ids(R"(?filters={"label":{"com.docker.swarm.service.name=db":true}})"), (V{"bbbb"}));
  EXPECT_EQ(ids(R"(?filters={"status":{"exited":true}})"), (V{"aacc"})) << "status looks at all";
  EXPECT_EQ(ids("?limit=2"), (V{"bbbb", "aaaa"}));
  EXPECT_EQ(ids("?limit=1"), (V{"bbbb"}));
  EXPECT_EQ(call("GET", R"(/v1.41/containers/json?filters={"ancestor":{"x":true}})").status, 400);
  EXPECT_EQ(call("GET", "/v1.41/containers/json?limit=x").status, 400);
  EXPECT_EQ(call("GET", "/v1.41/containers/json?size=1").status, 501);
}

TEST(ApiNoContainersTest, WithoutLocalContainers) {
  FakeClock clock;
  FakeControl control{clock};
  Api api{control, nullptr, clock};
  EXPECT_EQ(api.handle(make_request("GET", "/v1.41/containers/json")).body, "[]\n");
  EXPECT_EQ(api.handle(make_request("POST", "/v1.41/containers/x/kill")).status, 404);
}

// ---- pieces

TEST(FiltersTest, ParsesBothShapes) {
  auto f = parse_filters(R"({"name":{"a":true,"b":false},"id":["x","y"]})");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->at("name"), std::vector<std::string>{"a"});
  EXPECT_EQ(f->at("id"), (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(parse_filters("").ok());
  EXPECT_FALSE(parse_filters(R"({"name":"a"})").ok());
  EXPECT_FALSE(parse_filters(R"({"x":{"a":true}})", {"name"}).ok());
  EXPECT_TRUE(label_matches({{"k", "v"}}, "k"));
  EXPECT_TRUE(label_matches({{"k", "v"}}, "k=v"));
  EXPECT_FALSE(label_matches({{"k", "v"}}, "k=w"));
}

TEST(ValidationTest, ServiceNamesFollowDocker) {
  for (const char* ok : {"web", "Web", "a", "my-svc_2", "a1"}) EXPECT_TRUE(validate_service_name(ok).ok()) << ok;
  for (const char* bad : {"", "-a", "a-", "a.b", "a b", "_a", "é"}) EXPECT_FALSE(validate_service_name(bad).ok()) << bad;
  EXPECT_TRUE(validate_service_name(std::string(63, 'a')).ok());
  std::set<std::string> taken = {"x"};
  std::string n = generate_service_name([&](const std::string& s) { return taken.count(s) > 0; });
  EXPECT_TRUE(validate_service_name(n).ok()) << n;
}

}  // namespace
}  // namespace shoal::api
