// ServiceSpec building from flags, compared with what the docker CLI (28.2,
// API 1.41) sent for the same flags (captured on a unix socket).
#include "cli/service_spec.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace shoal::cli {
namespace {

using nlohmann::json;

json create(const std::vector<std::string>& args) {
  FlagSet fs("shoal service create", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new service");
  add_service_create_flags(fs);
  Status st = fs.parse(args);
  EXPECT_TRUE(st.ok()) << st.message();
  auto spec = build_create_spec(fs);
  EXPECT_TRUE(spec.ok()) << spec.status().message();
  return spec.ok() ? *spec : json();
}

TEST(ServiceSpec, MinimalMatchesDocker) {
  json want = json::parse(R"({"Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest","Init":false,"DNSConfig":{}},"Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0},"Mode":{"Replicated":{}},"EndpointSpec":{"Mode":"vip"}})");
  EXPECT_EQ(create({"busybox"}), want);
}

TEST(ServiceSpec, GlobalWithTargetOnlyPort) {
  json want = json::parse(R"({"Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"nginx:latest","Init":false,"DNSConfig":{}},"Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0},"Mode":{"Global":{}},"EndpointSpec":{"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishMode":"ingress"}]}})");
  EXPECT_EQ(create({"--mode", "global", "-p", "80", "nginx"}), want);
}

TEST(ServiceSpec, EveryFlagMatchesDocker) {
  json got = create({"--name", "web", "--replicas", "3", "-e", "A=1", "--env", "B=2", "-w", "/w", "-u", "nobody",
                     "--hostname", "h", "-l", "a=b", "--container-label", "c=d", "--restart-condition", "on-failure",
                     "--restart-delay", "3s", "--restart-max-attempts", "4", "--restart-window", "1m",
                     "--update-parallelism", "2", "--update-delay", "10s", "--update-monitor", "4s",
                     "--update-failure-action", "rollback", "--update-order", "start-first",
                     "--update-max-failure-ratio", "0.5", "--rollback-parallelism", "3", "--rollback-delay", "1s",
                     "--rollback-monitor", "2s", "--rollback-failure-action", "continue", "--rollback-order",
                     "stop-first", "--rollback-max-failure-ratio", "0.2", "--stop-grace-period", "2s",
                     "--stop-signal", "SIGUSR1", "--constraint", "node.role==manager", "--limit-cpu", "1.5",
                     "--limit-memory", "512M", "--reserve-cpu", "0.25", "--reserve-memory", "1g", "-p", "8080:80",
                     "-p", "published=53,target=53,protocol=udp,mode=host", "--network", "net1", "--endpoint-mode",
                     "dnsrr", "--entrypoint", "/bin/sh -c", "--read-only", "--init", "busybox", "sleep", "100"});
  json want = json::parse(R"({"Name":"web","Labels":{"a":"b"},"TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest","Labels":{"c":"d"},"Command":["/bin/sh","-c"],"Args":["sleep","100"],"Hostname":"h","Env":["A=1","B=2"],"Dir":"/w","User":"nobody","Init":true,"StopSignal":"SIGUSR1","ReadOnly":true,"StopGracePeriod":2000000000,"DNSConfig":{}},"Resources":{"Limits":{"NanoCPUs":1500000000,"MemoryBytes":536870912},"Reservations":{"NanoCPUs":250000000,"MemoryBytes":1073741824}},"RestartPolicy":{"Condition":"on-failure","Delay":3000000000,"MaxAttempts":4,"Window":60000000000},"Placement":{"Constraints":["node.role==manager"]},"Networks":[{"Target":"net1"}],"ForceUpdate":0},"Mode":{"Replicated":{"Replicas":3}},"UpdateConfig":{"Parallelism":2,"Delay":10000000000,"FailureAction":"rollback","Monitor":4000000000,"MaxFailureRatio":0.5,"Order":"start-first"},"RollbackConfig":{"Parallelism":3,"Delay":1000000000,"FailureAction":"continue","Monitor":2000000000,"MaxFailureRatio":0.2,"Order":"stop-first"},"EndpointSpec":{"Mode":"dnsrr","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"},{"Protocol":"udp","TargetPort":53,"PublishedPort":53,"PublishMode":"host"}]}})");
  EXPECT_EQ(got, want) << got.dump();
}

TEST(ServiceSpec, PartialPoliciesTakeSwarmDefaults) {
  json got = create({"--update-delay", "10s", "--restart-condition", "none", "--rollback-order", "start-first", "-p",
                     "8080:80/udp", "-p", "9000-9001:90-91", "-l", "x", "--stop-grace-period", "1m30s", "--replicas",
                     "0", "busybox:1.36"});
  json want = json::parse(R"({"Labels":{"x":""},"TaskTemplate":{"ContainerSpec":{"Image":"busybox:1.36","Init":false,"StopGracePeriod":90000000000,"DNSConfig":{}},"Resources":{"Limits":{},"Reservations":{}},"RestartPolicy":{"Condition":"none","Delay":5000000000,"MaxAttempts":0},"Placement":{},"ForceUpdate":0},"Mode":{"Replicated":{"Replicas":0}},"UpdateConfig":{"Parallelism":1,"Delay":10000000000,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"stop-first"},"RollbackConfig":{"Parallelism":1,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"start-first"},"EndpointSpec":{"Mode":"vip","Ports":[{"Protocol":"udp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"},{"Protocol":"tcp","TargetPort":90,"PublishedPort":9000,"PublishMode":"ingress"},{"Protocol":"tcp","TargetPort":91,"PublishedPort":9001,"PublishMode":"ingress"}]}})");
  EXPECT_EQ(got, want) << got.dump();
}

TEST(ServiceSpec, DigestImageHostPortAndZeroParallelism) {
  std::string img = "reg.io:5000/a/b@sha256:0123456789012345678901234567890123456789012345678901234567890123";
  json got = create({"--publish", "mode=host,target=80", "--restart-max-attempts", "3", "--update-parallelism", "0", img});
  json want = json::parse(R"({"Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":")" + img +
                          R"(","Init":false,"DNSConfig":{}},"Resources":{"Limits":{},"Reservations":{}},"RestartPolicy":{"Condition":"any","Delay":5000000000,"MaxAttempts":3},"Placement":{},"ForceUpdate":0},"Mode":{"Replicated":{}},"UpdateConfig":{"Parallelism":0,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"stop-first"},"EndpointSpec":{"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishMode":"host"}]}})");
  EXPECT_EQ(got, want) << got.dump();
}

TEST(ServiceSpec, Errors) {
  FlagSet fs("shoal service create", "", "");
  add_service_create_flags(fs);
  ASSERT_TRUE(fs.parse({"--mode", "global", "--replicas", "2", "busybox"}).ok());
  EXPECT_FALSE(build_create_spec(fs).ok());
  FlagSet fs2("shoal service create", "", "");
  add_service_create_flags(fs2);
  ASSERT_TRUE(fs2.parse({"--limit-memory", "lots", "busybox"}).ok());
  auto r = build_create_spec(fs2);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--limit-memory"), std::string::npos);
  EXPECT_FALSE(parse_publish("published=80").ok());
  EXPECT_FALSE(parse_publish("80-81:90").ok());
}

TEST(ServiceSpec, Helpers) {
  EXPECT_EQ(normalize_image("busybox"), "busybox:latest");
  EXPECT_EQ(normalize_image("localhost:5000/busybox"), "localhost:5000/busybox:latest");
  EXPECT_EQ(normalize_image("localhost:5000/busybox:v2"), "localhost:5000/busybox:v2");
  EXPECT_EQ(*shell_split("sh -c 'echo hi; sleep 1' \"a b\""),
            (std::vector<std::string>{"sh", "-c", "echo hi; sleep 1", "a b"}));
}

json update(json spec, const std::vector<std::string>& args) {
  FlagSet fs("shoal service update", "[OPTIONS] SERVICE", "Update a service");
  add_service_update_flags(fs);
  Status st = fs.parse(args);
  EXPECT_TRUE(st.ok()) << st.message();
  st = apply_update_flags(fs, spec);
  EXPECT_TRUE(st.ok()) << st.message();
  return spec;
}

TEST(ServiceSpec, UpdateFlags) {
  json base = create({"--name", "web", "--replicas", "2", "-e", "A=1", "-e", "B=2", "--constraint", "node.role==worker",
                      "busybox", "sleep", "1"});
  json s = update(base, {"--replicas", "5", "--image", "busybox:v2", "--env-add", "A=9", "--env-add", "C=3",
                         "--env-rm", "B", "--force", "--args", "sleep 2", "--constraint-add", "node.labels.x==y",
                         "--constraint-rm", "node.role==worker", "--update-delay", "2s", "--label-add", "k=v",
                         "--stop-grace-period", "3s", "web"});
  EXPECT_EQ(s["Mode"]["Replicated"]["Replicas"], 5);
  const json& cs = s["TaskTemplate"]["ContainerSpec"];
  EXPECT_EQ(cs["Image"], "busybox:v2");
  EXPECT_EQ(cs["Env"], json({"A=9", "C=3"}));
  EXPECT_EQ(cs["Args"], json({"sleep", "2"}));
  EXPECT_EQ(cs["StopGracePeriod"], 3000000000LL);
  EXPECT_EQ(s["TaskTemplate"]["ForceUpdate"], 1);
  EXPECT_EQ(s["TaskTemplate"]["Placement"]["Constraints"], json({"node.labels.x==y"}));
  EXPECT_EQ(s["UpdateConfig"]["Delay"], 2000000000LL);
  EXPECT_EQ(s["UpdateConfig"]["Parallelism"], 1);
  EXPECT_EQ(s["UpdateConfig"]["Order"], "stop-first");
  EXPECT_EQ(s["Labels"]["k"], "v");
  // Untouched fields stay.
  json same = update(base, {"web"});
  EXPECT_EQ(same, base);
}

TEST(ServiceSpec, UpdateReplicasOnGlobalFails) {
  json base = create({"--mode", "global", "busybox"});
  FlagSet fs("shoal service update", "", "");
  add_service_update_flags(fs);
  ASSERT_TRUE(fs.parse({"--replicas", "3", "x"}).ok());
  EXPECT_FALSE(apply_update_flags(fs, base).ok());
}

}  // namespace
}  // namespace shoal::cli

namespace shoal::cli {
namespace {

Result<json> try_create(const std::vector<std::string>& args) {
  FlagSet fs("shoal service create", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new service");
  add_service_create_flags(fs);
  SHOAL_RETURN_IF_ERROR(fs.parse(args));
  return build_create_spec(fs);
}

TEST(ServiceSpec, SecurityOpts) {
  json cs = create({"--security-opt", "seccomp=unconfined", "--security-opt", "no-new-privileges", "busybox"})
                ["TaskTemplate"]["ContainerSpec"];
  EXPECT_EQ(cs["Privileges"], json::parse(R"({"Seccomp":{"Mode":"unconfined"},"NoNewPrivileges":true})"));
  cs = create({"--security-opt", "no-new-privileges=false", "busybox"})["TaskTemplate"]["ContainerSpec"];
  EXPECT_FALSE(cs.contains("Privileges"));
  const std::string file = ::testing::TempDir() + "/shoal-profile.json";
  const std::string profile = R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]})";
  std::ofstream(file) << profile;
  cs = create({"--security-opt", "seccomp=" + file, "busybox"})["TaskTemplate"]["ContainerSpec"];
  EXPECT_EQ(cs["Privileges"]["Seccomp"]["Mode"], "custom");
  EXPECT_EQ(cs["Privileges"]["Seccomp"]["Profile"], profile);
  std::ofstream(file, std::ios::trunc) << R"({"defaultAction":"ALLOW"})";
  auto bad = try_create({"--security-opt", "seccomp=" + file, "busybox"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("invalid seccomp profile"), std::string::npos) << bad.status().message();
  auto missing = try_create({"--security-opt", "seccomp=/no/such/profile.json", "busybox"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/no/such/profile.json"), std::string::npos);
  auto other = try_create({"--security-opt", "apparmor=x", "busybox"});
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("not supported"), std::string::npos);
  std::remove(file.c_str());
}

TEST(ServiceSpec, UpdateSecurityOpts) {
  json base = create({"--name", "web", "--security-opt", "no-new-privileges", "busybox"});
  json s = update(base, {"--security-opt", "seccomp=unconfined", "web"});
  EXPECT_EQ(s["TaskTemplate"]["ContainerSpec"]["Privileges"],
            json::parse(R"({"Seccomp":{"Mode":"unconfined"},"NoNewPrivileges":true})"));
  s = update(s, {"--security-opt", "no-new-privileges=false", "--security-opt", "seccomp=default", "web"});
  EXPECT_EQ(s["TaskTemplate"]["ContainerSpec"]["Privileges"], json::parse(R"({"Seccomp":{"Mode":"default"}})"));
}

}  // namespace
}  // namespace shoal::cli

namespace shoal::cli {
namespace {

// --network-rm takes a name, as docker's does: the stored spec holds ids.
TEST(ServiceSpec, NetworkRmByNameRemovesTheStoredId) {
  json spec = json::parse(R"({"TaskTemplate":{"Networks":[{"Target":"id-front"},{"Target":"id-back"}]}})");
  FlagSet fs("shoal service update", "[OPTIONS] SERVICE", "Update a service");
  add_service_update_flags(fs);
  ASSERT_TRUE(fs.parse({"--network-rm", "front", "web"}).ok());
  auto ids = [](const std::string& name) { return name == "front" ? std::string("id-front") : std::string(); };
  ASSERT_TRUE(apply_update_flags(fs, spec, ids).ok());
  EXPECT_EQ(spec["TaskTemplate"]["Networks"], json::parse(R"([{"Target":"id-back"}])"));
}

}  // namespace
}  // namespace shoal::cli
