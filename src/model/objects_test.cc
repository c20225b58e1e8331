#include "model/objects.h"

#include <gtest/gtest.h>

namespace shoal {
namespace {

using std::chrono::seconds;

// Bodies captured from the docker CLI 28 (`docker service create ...`).
constexpr char kCliCreateFull[] =
    R"({"Name":"web","Labels":{"x":"y"},"TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest","Args":["sleep","100"],)"
    R"("Env":["A=1"],"Init":false,"StopGracePeriod":2000000000,"DNSConfig":{}},"Resources":{"Limits":{},"Reservations":{}},)"
    R"("RestartPolicy":{"Condition":"on-failure","Delay":5000000000,"MaxAttempts":0},"Placement":{"Constraints":)"
    R"(["node.role==manager"]},"ForceUpdate":0},"Mode":{"Replicated":{"Replicas":3}},"EndpointSpec":{"Mode":"vip",)"
    R"("Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]}})";
constexpr char kCliCreateMinimal[] =
    R"({"Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest","Init":false,"DNSConfig":{}},)"
    R"("Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0},"Mode":{"Replicated":{}},)"
    R"("EndpointSpec":{"Mode":"vip"}})";
constexpr char kCliCreateGlobal[] =
    R"({"Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest","Init":false,"DNSConfig":{}},)"
    R"("Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0},"Mode":{"Global":{}},)"
    R"("UpdateConfig":{"Parallelism":2,"Delay":3000000000,"FailureAction":"pause","Monitor":5000000000,)"
    R"("MaxFailureRatio":0,"Order":"stop-first"},"EndpointSpec":{"Mode":"vip"}})";

TEST(ObjectsTest, ParsesCliCreateBody) {
  auto s = json::parse(kCliCreateFull).get<ServiceSpec>();
  EXPECT_EQ(s.name, "web");
  EXPECT_EQ(s.labels.at("x"), "y");
  const auto& c = s.task_template.container_spec;
  EXPECT_EQ(c.image, "busybox:latest");
  EXPECT_EQ(c.args, (std::vector<std::string>{"sleep", "100"}));
  EXPECT_EQ(c.env, (std::vector<std::string>{"A=1"}));
  ASSERT_TRUE(c.stop_grace_period.has_value());
  EXPECT_EQ(*c.stop_grace_period, seconds(2));
  EXPECT_EQ(s.task_template.restart_policy.condition, "on-failure");
  ASSERT_TRUE(s.task_template.restart_policy.delay.has_value());
  EXPECT_EQ(*s.task_template.restart_policy.delay, seconds(5));
  EXPECT_EQ(s.task_template.placement.constraints, (std::vector<std::string>{"node.role==manager"}));
  EXPECT_EQ(s.mode, ServiceModeKind::kReplicated);
  EXPECT_EQ(s.replicas, 3u);
  EXPECT_FALSE(s.update_config.has_value());
  ASSERT_EQ(s.endpoint_spec.ports.size(), 1u);
  EXPECT_EQ(s.endpoint_spec.ports[0].target_port, 80u);
  EXPECT_EQ(s.endpoint_spec.ports[0].published_port, 8080u);
  EXPECT_EQ(s.endpoint_spec.ports[0].publish_mode, "ingress");
}

TEST(ObjectsTest, ParsesMinimalCliBodyWithDefaults) {
  auto s = json::parse(kCliCreateMinimal).get<ServiceSpec>();
  EXPECT_EQ(s.name, "");
  EXPECT_EQ(s.replicas, 1u);  // "Replicated":{} means 1, as in Docker
  EXPECT_EQ(s.task_template.restart_policy.condition, "any");
  EXPECT_FALSE(s.task_template.restart_policy.delay.has_value());
  EXPECT_FALSE(s.task_template.container_spec.stop_grace_period.has_value());
  EXPECT_EQ(s.endpoint_spec.mode, "vip");
}

TEST(ObjectsTest, ParsesGlobalWithUpdateConfig) {
  auto s = json::parse(kCliCreateGlobal).get<ServiceSpec>();
  EXPECT_EQ(s.mode, ServiceModeKind::kGlobal);
  ASSERT_TRUE(s.update_config.has_value());
  EXPECT_EQ(s.update_config->parallelism, 2u);
  EXPECT_EQ(s.update_config->delay, seconds(3));
  EXPECT_EQ(s.update_config->monitor, seconds(5));
  EXPECT_EQ(s.update_config->failure_action, "pause");
  EXPECT_EQ(s.update_config->order, "stop-first");
  json j = s;
  EXPECT_TRUE(j["Mode"].contains("Global"));
  EXPECT_FALSE(j["Mode"].contains("Replicated"));
}

TEST(ObjectsTest, ServiceRoundTripKeepsEverything) {
  Service s;
  s.id = "abc";
  s.version = 42;
  s.created_at = Time(seconds(1700000000)) + std::chrono::nanoseconds(123456789);
  s.updated_at = Time(seconds(1700000100));
  s.spec = json::parse(kCliCreateFull).get<ServiceSpec>();
  s.spec.task_template.container_spec.command = {"/bin/sh"};
  s.spec.task_template.container_spec.user = "nobody";
  s.spec.task_template.container_spec.tty = true;
  s.spec.task_template.resources.limits.memory_bytes = 1 << 20;
  s.spec.task_template.resources.limits.pids = 50;
  s.spec.task_template.resources.reservations.nano_cpus = 500000000;
  s.spec.task_template.networks = {{"net1", {"alias"}}};
  s.spec.task_template.force_update = 3;
  s.spec.rollback_config = UpdateConfig{};
  s.previous_spec = s.spec;
  s.previous_spec->replicas = 1;
  s.update_status = UpdateStatus{"updating", Time(seconds(1700000200)), std::nullopt, "update in progress"};
  s.spec_version = 7;

  s.endpoint_ports = s.spec.endpoint_spec.ports;  // Endpoint.Ports: as the manager assigned them
  json j = to_stored(s);
  Service back = from_stored<Service>(j);
  EXPECT_EQ(to_stored(back), j);
  EXPECT_EQ(back.endpoint_ports, s.endpoint_ports);
  EXPECT_EQ(back.id, "abc");
  EXPECT_EQ(back.version, 42u);
  EXPECT_EQ(back.created_at, s.created_at);
  EXPECT_EQ(back.spec_version, 7u);
  EXPECT_EQ(back.previous_spec->replicas, 1u);
  EXPECT_EQ(back.update_status->state, "updating");
  EXPECT_FALSE(back.update_status->completed_at.has_value());
  EXPECT_EQ(back.spec.task_template.networks[0].aliases, (std::vector<std::string>{"alias"}));
  EXPECT_EQ(back.spec.task_template.resources.limits.pids, 50);

  // Docker's shape.
  EXPECT_EQ(j["Version"]["Index"], 42);
  EXPECT_EQ(j["CreatedAt"], "2023-11-14T22:13:20.123456789Z");
  EXPECT_EQ(j["Spec"]["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"], 2000000000);
  EXPECT_EQ(j["Spec"]["Mode"]["Replicated"]["Replicas"], 3);
  EXPECT_EQ(j["Endpoint"]["Spec"]["Mode"], "vip");  // given by the client: kept
  EXPECT_EQ(j["Endpoint"]["Spec"]["Ports"][0]["TargetPort"], 80);
  EXPECT_EQ(j["Endpoint"]["Ports"][0]["PublishedPort"], 8080);
  EXPECT_EQ(j["ShoalSpecVersion"], 7);
  json api = to_api(s);
  EXPECT_FALSE(api.contains("ShoalSpecVersion"));
  EXPECT_TRUE(api.contains("PreviousSpec"));
}

TEST(ObjectsTest, OmitsEmptyOptionalFieldsLikeGo) {
  ServiceSpec s;
  s.name = "x";
  s.task_template.container_spec.image = "busybox";
  json j = s;
  const json& cs = j["TaskTemplate"]["ContainerSpec"];
  for (const char* k : {"Command", "Args", "Env", "Dir", "User", "Hostname", "Groups", "TTY", "StopSignal",
                        "StopGracePeriod", "Labels"}) {
    EXPECT_FALSE(cs.contains(k)) << k;
  }
  EXPECT_FALSE(j.contains("UpdateConfig"));
  EXPECT_FALSE(j.contains("RollbackConfig"));
  EXPECT_FALSE(j["TaskTemplate"].contains("Networks"));
  // Nothing the client did not give: no platform, no defaults.
  EXPECT_FALSE(j["TaskTemplate"].contains("RestartPolicy"));
  EXPECT_FALSE(j["TaskTemplate"].contains("Placement"));
  EXPECT_FALSE(j["TaskTemplate"].contains("Resources"));
  EXPECT_FALSE(j["TaskTemplate"].contains("Runtime"));
  EXPECT_FALSE(j.contains("EndpointSpec"));
  EXPECT_FALSE(j.contains("Labels"));
  EXPECT_EQ(j["Mode"]["Replicated"]["Replicas"], 1);
}

TEST(ObjectsTest, TaskRoundTripAndStates) {
  Task t;
  t.id = "t1";
  t.version = 9;
  t.service_id = "s1";
  t.service_name = "web";
  t.slot = 2;
  t.node_id = "n1";
  t.labels = {{"a", "b"}};
  t.spec.container_spec.image = "busybox";
  t.status.state = TaskState::kRunning;
  t.status.message = "started";
  t.status.timestamp = Time(seconds(1700000000));
  t.status.container_status = ContainerStatus{"c0ffee", 123, 0};
  t.desired_state = TaskState::kShutdown;
  t.spec_version = 4;
  t.restarts = {{Time(seconds(1700000000) + std::chrono::nanoseconds(5)), 3}, {Time(seconds(1700000060)), 1}};
  json j = to_stored(t);
  EXPECT_EQ(to_stored(from_stored<Task>(j)), j);
  ASSERT_EQ(from_stored<Task>(j).restarts.size(), 2u);
  EXPECT_EQ(from_stored<Task>(j).restarts[0].at, t.restarts[0].at);
  EXPECT_EQ(from_stored<Task>(j).restarts[0].count, 3u);
  EXPECT_EQ(j["Status"]["State"], "running");
  EXPECT_EQ(j["Status"]["ContainerStatus"]["ContainerID"], "c0ffee");
  EXPECT_EQ(j["Status"]["ContainerStatus"]["PID"], 123);
  EXPECT_TRUE(j["Status"]["PortStatus"].is_object());
  EXPECT_FALSE(j["Status"].contains("Err"));
  EXPECT_EQ(j["DesiredState"], "shutdown");
  EXPECT_EQ(j["Slot"], 2);
  EXPECT_EQ(j["ShoalServiceName"], "web");
  json api = to_api(t);
  EXPECT_FALSE(api.contains("ShoalServiceName"));
  EXPECT_FALSE(api.contains("ShoalSpecVersion"));
  EXPECT_FALSE(api.contains("ShoalRestarts"));

  Task global;
  global.id = "t2";
  json g = to_api(global);
  EXPECT_FALSE(g.contains("Slot"));
  EXPECT_FALSE(g.contains("NodeID"));
  EXPECT_FALSE(g["Status"].contains("ContainerStatus"));

  for (const char* name : {"new", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running",
                           "complete", "shutdown", "failed", "rejected", "remove", "orphaned"}) {
    TaskState st;
    ASSERT_TRUE(parse_task_state(name, &st)) << name;
    EXPECT_STREQ(task_state_name(st), name);
  }
  TaskState st;
  EXPECT_FALSE(parse_task_state("bogus", &st));
  EXPECT_LT(TaskState::kRunning, TaskState::kComplete);
  EXPECT_TRUE(is_terminal(TaskState::kFailed));
  EXPECT_FALSE(is_terminal(TaskState::kRunning));
}

TEST(ObjectsTest, NodeShapeAndRoundTrip) {
  Node n;
  n.id = "n1";
  n.version = 3;
  n.spec.role = NodeRole::kManager;
  n.spec.availability = NodeAvailability::kDrain;
  n.spec.labels = {{"zone", "a"}};
  n.description.hostname = "host1";
  n.description.nano_cpus = 2000000000;
  n.description.memory_bytes = 1 << 30;
  n.description.engine_version = "20.10.24-shoal";
  n.state = NodeState::kReady;
  n.addr = "10.0.0.1";
  n.manager_status = ManagerStatus{true, "reachable", "10.0.0.1:2377"};
  n.description.os = "linux";
  n.description.architecture = "aarch64";
  json j = to_stored(n);
  EXPECT_EQ(to_stored(from_stored<Node>(j)), j);
  EXPECT_EQ(to_api(n), j);
  EXPECT_EQ(j["Description"]["Platform"]["Architecture"], "aarch64");
  EXPECT_EQ(j["Spec"]["Role"], "manager");
  EXPECT_EQ(j["Spec"]["Availability"], "drain");
  EXPECT_FALSE(j["Spec"].contains("Name"));
  EXPECT_EQ(j["Description"]["Hostname"], "host1");
  EXPECT_EQ(j["Description"]["Platform"]["OS"], "linux");
  EXPECT_EQ(j["Description"]["Resources"]["NanoCPUs"], 2000000000);
  EXPECT_EQ(j["Description"]["Engine"]["EngineVersion"], "20.10.24-shoal");
  EXPECT_EQ(j["Status"]["State"], "ready");
  EXPECT_EQ(j["Status"]["Addr"], "10.0.0.1");
  EXPECT_EQ(j["ManagerStatus"]["Leader"], true);
  EXPECT_EQ(j["ManagerStatus"]["Addr"], "10.0.0.1:2377");

  Node worker;
  worker.id = "n2";
  json w = to_api(worker);
  EXPECT_FALSE(w.contains("ManagerStatus"));
  EXPECT_FALSE(from_stored<Node>(w).manager_status.has_value());
  EXPECT_STREQ(node_role_name(NodeRole::kWorker), "worker");
  EXPECT_STREQ(node_availability_name(NodeAvailability::kPause), "pause");
  EXPECT_STREQ(node_state_name(NodeState::kDown), "down");
}

TEST(ObjectsTest, ClusterShapeHidesCaKeyFromApi) {
  Cluster c;
  c.id = "c1";
  c.version = 1;
  c.root_ca_cert = "-----BEGIN CERTIFICATE-----\n...";
  json j = to_stored(c);
  Cluster back = from_stored<Cluster>(j);
  EXPECT_EQ(to_stored(back), j);
  EXPECT_EQ(j["Spec"]["Name"], "default");
  EXPECT_EQ(j["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"], 5);
  EXPECT_EQ(j["Spec"]["Dispatcher"]["HeartbeatPeriod"], 5000000000LL);
  EXPECT_EQ(j["Spec"]["CAConfig"]["NodeCertExpiry"], 7776000000000000LL);
  EXPECT_EQ(j["TLSInfo"]["TrustRoot"], c.root_ca_cert);
  EXPECT_TRUE(j["TLSInfo"].contains("CertIssuerSubject"));
  EXPECT_TRUE(j["TLSInfo"].contains("CertIssuerPublicKey"));
  EXPECT_FALSE(j.contains("JoinTokens"));  // kept apart, sealed (docs/security.md)
  EXPECT_EQ(j["DefaultAddrPool"], json::array({"10.0.0.0/8"}));
  EXPECT_EQ(j["SubnetSize"], 24);
  EXPECT_EQ(j["DataPathPort"], 4789);
  json api = to_api(c);
  EXPECT_FALSE(api.dump().find("PRIVATE KEY") != std::string::npos);
  EXPECT_FALSE(api.contains("JoinTokens"));  // the API adds them from the sealed copy
  // A stored cluster written by an older shoald with tokens in the clear: not read back.
  j["JoinTokens"] = {{"Worker", "SWMTKN-1-aaa-w"}, {"Manager", "SWMTKN-1-aaa-m"}};
  EXPECT_EQ(to_stored(from_stored<Cluster>(j)).dump().find("SWMTKN"), std::string::npos);
}

TEST(ObjectsTest, ToleratesNullsAndMissingSections) {
  auto s = json::parse(R"({"Name":"n","TaskTemplate":{"ContainerSpec":{"Image":"a","Env":null,"Args":null},)"
                       R"("RestartPolicy":null},"Mode":null,"UpdateConfig":null,"EndpointSpec":null})")
               .get<ServiceSpec>();
  EXPECT_EQ(s.task_template.container_spec.image, "a");
  EXPECT_TRUE(s.task_template.container_spec.env.empty());
  EXPECT_EQ(s.replicas, 1u);
  EXPECT_FALSE(s.update_config.has_value());
  EXPECT_EQ(s.endpoint_spec.mode, "vip");
  EXPECT_FALSE(json(s).contains("Mode") && json(s)["Mode"].is_null());
  EXPECT_FALSE(json(s)["TaskTemplate"].contains("RestartPolicy"));
  auto t = from_stored<Task>(json::parse("{}"));
  EXPECT_EQ(t.desired_state, TaskState::kRunning);
  EXPECT_EQ(t.status.state, TaskState::kNew);
}

// No internal field ("Shoal*", the CA key) appears in any kind's API JSON,
// while the stored form keeps them.
bool has_internal_key(const json& j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key().rfind("Shoal", 0) == 0 || has_internal_key(*it)) return true;
    }
  } else if (j.is_array()) {
    for (const auto& e : j)
      if (has_internal_key(e)) return true;
  }
  return false;
}

TEST(ObjectsTest, ApiFormHasNoInternalFieldOfAnyKind) {
  Cluster c;
  Node n;
  n.id = "n";
  Service s;
  s.spec = json::parse(kCliCreateFull).get<ServiceSpec>();
  s.previous_spec = s.spec;
  s.spec_version = 3;
  Task t;
  t.service_name = "web";
  t.spec_version = 3;
  for (const json& api : {to_api(c), to_api(n), to_api(s), to_api(t)}) {
    EXPECT_FALSE(has_internal_key(api)) << api.dump();
    EXPECT_EQ(api.dump().find("PRIVATE KEY"), std::string::npos);
  }
  EXPECT_TRUE(has_internal_key(to_stored(s)));
  EXPECT_TRUE(has_internal_key(to_stored(t)));
  EXPECT_EQ(from_stored<Service>(to_stored(s)).spec_version, 3u);
  EXPECT_EQ(from_stored<Task>(to_stored(t)).service_name, "web");
}

// What the client sent comes back: spec in == spec out, for the bodies the
// docker CLI sends and for a minimal SDK-style one.
TEST(ObjectsTest, ServiceSpecRoundTripsAsSent) {
  for (const char* body : {kCliCreateFull, kCliCreateGlobal}) {
    json in = json::parse(body);
    EXPECT_EQ(json(in.get<ServiceSpec>()), in) << body;
  }
  // The CLI's "Replicated":{} reads back with the scale it means.
  json minimal = json::parse(kCliCreateMinimal);
  json out = minimal.get<ServiceSpec>();
  EXPECT_EQ(out["Mode"]["Replicated"]["Replicas"], 1);
  out["Mode"]["Replicated"].erase("Replicas");
  EXPECT_EQ(out, minimal);
  json sdk = json::parse(R"({"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},)"
                         R"("Mode":{"Replicated":{"Replicas":5}}})");
  EXPECT_EQ(json(sdk.get<ServiceSpec>()), sdk);
  // Stored and read back: still as sent.
  Service s;
  s.spec = json::parse(kCliCreateFull).get<ServiceSpec>();
  EXPECT_EQ(to_api(from_stored<Service>(to_stored(s)))["Spec"], json::parse(kCliCreateFull));
}

// Stored and received JSON is untrusted: a number outside a field's range (a
// huge float into an integer field, a negative into an unsigned one) is an
// error, never undefined behaviour (nlohmann's get<> does not check).
TEST(ObjectsJson, NumbersOutOfRangeAreErrorsNotUndefinedBehaviour) {
  EXPECT_THROW(from_stored<Task>(json::parse(R"({"Slot": 1e300})")), std::out_of_range);
  EXPECT_THROW(from_stored<Task>(json::parse(R"({"Version": {"Index": -1}})")), std::out_of_range);
  EXPECT_THROW(from_stored<Task>(json::parse(R"({"Version": {"Index": 1.5}})")), std::out_of_range);
  EXPECT_EQ(from_stored<Task>(json::parse(R"({"Version": {"Index": 7}})")).version, 7u);
}

}  // namespace
}  // namespace shoal
