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

}  // namespace
}  // namespace shoal
