#include "model/spec_schema.h"

#include <gtest/gtest.h>

namespace shoal {
namespace {

Status apply(const char* text) {
  ClusterSpec spec;
  return apply_swarm_spec(nlohmann::json::parse(text), spec);
}

TEST(SwarmSpec, HeartbeatPeriodIsBoundedBothWays) {
  EXPECT_TRUE(apply(R"({"Dispatcher": {"HeartbeatPeriod": 0}})").ok());  // the default
  EXPECT_TRUE(apply(R"({"Dispatcher": {"HeartbeatPeriod": 5000000000}})").ok());
  Status low = apply(R"({"Dispatcher": {"HeartbeatPeriod": 10}})");
  EXPECT_EQ(low.code(), Code::kInvalidArgument);
  Status high = apply(R"({"Dispatcher": {"HeartbeatPeriod": 9000000000000000000}})");
  EXPECT_EQ(high.code(), Code::kInvalidArgument);
  EXPECT_NE(high.message().find("Dispatcher.HeartbeatPeriod"), std::string::npos);
}

TEST(SwarmSpec, TaskHistoryRetentionLimitIsBounded) {
  EXPECT_TRUE(apply(R"({"Orchestration": {"TaskHistoryRetentionLimit": 10}})").ok());
  EXPECT_EQ(apply(R"({"Orchestration": {"TaskHistoryRetentionLimit": -1}})").code(), Code::kInvalidArgument);
  EXPECT_EQ(apply(R"({"Orchestration": {"TaskHistoryRetentionLimit": 99999999999}})").code(),
            Code::kInvalidArgument);
}

// A ServiceSpec's ContainerSpec, canonicalised and checked as the API does.
Status service_with_container(const char* container) {
  auto j = nlohmann::json::parse(std::string(R"({"TaskTemplate":{"ContainerSpec":)") + container + "}}");
  auto canonical = canonical_service_spec(j);
  if (!canonical.ok()) return canonical.status();
  return check_supported_service_spec(*canonical);
}

TEST(ServiceSpec, HealthcheckKeysMatchWithoutRegardToCase) {
  // --no-healthcheck, in every spelling Go's decoder reads the same way.
  EXPECT_TRUE(service_with_container(R"({"Healthcheck":{"Test":["NONE"]}})").ok());
  EXPECT_TRUE(service_with_container(R"({"healthcheck":{"test":["NONE"]}})").ok());
  EXPECT_TRUE(service_with_container(R"({"HEALTHCHECK":{"Test":["NONE"],"interval":0,"Retries":0}})").ok());
  EXPECT_TRUE(service_with_container(R"({"healthcheck":{"test":[]}})").ok());
  // A check to run is refused the same in every spelling.
  for (const char* c : {R"({"Healthcheck":{"Test":["CMD","true"]}})", R"({"healthcheck":{"test":["CMD","true"]}})",
                        R"({"healthcheck":{"test":["NONE"],"interval":5000000000}})"}) {
    Status st = service_with_container(c);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << c;
    EXPECT_NE(st.message().find("TaskTemplate.ContainerSpec.Healthcheck is not supported"), std::string::npos) << c;
  }
  // Its fields are typed like the rest of the spec.
  Status st = service_with_container(R"({"healthcheck":{"test":"NONE"}})");
  EXPECT_EQ(st.message(), "invalid TaskTemplate.ContainerSpec.Healthcheck.Test: must be a list of strings");
  st = service_with_container(R"({"Healthcheck":{"Test":["NONE"],"test":["CMD","true"]}})");
  EXPECT_NE(st.message().find("given twice"), std::string::npos) << st.message();
}

TEST(ServiceSpec, DnsConfigKeysMatchWithoutRegardToCase) {
  EXPECT_TRUE(service_with_container(R"({"dnsconfig":{"nameservers":[]}})").ok());
  Status st = service_with_container(R"({"dnsconfig":{"nameservers":["1.1.1.1"]}})");
  EXPECT_NE(st.message().find("TaskTemplate.ContainerSpec.DNSConfig is not supported"), std::string::npos);
}

}  // namespace
}  // namespace shoal
