#include "cli/inspect_order.h"

#include <gtest/gtest.h>

namespace shoal::cli {
namespace {

using nlohmann::ordered_json;

TEST(InspectOrder, ServiceFieldsFollowDockerStructOrder) {
  // The daemon sends keys sorted; docker prints them in struct order.
  auto in = ordered_json::parse(R"({"CreatedAt":"c","Endpoint":{"Spec":{"Mode":"vip"}},"ID":"x",
    "Spec":{"EndpointSpec":{"Mode":"vip","Ports":[{"PublishMode":"ingress","Protocol":"tcp","TargetPort":80}]},
            "Labels":{},"Mode":{"Replicated":{"Replicas":1}},"Name":"web",
            "TaskTemplate":{"ContainerSpec":{"Image":"busybox","Args":["a"]},"ForceUpdate":0}},
    "Version":{"Index":3},"Zzz":1})");
  auto out = docker_key_order(in, "Service");
  EXPECT_EQ(out.dump(),
            R"({"ID":"x","Version":{"Index":3},"CreatedAt":"c","Spec":{"Name":"web","Labels":{},)"
            R"("TaskTemplate":{"ContainerSpec":{"Image":"busybox","Args":["a"]},"ForceUpdate":0},)"
            R"("Mode":{"Replicated":{"Replicas":1}},"EndpointSpec":{"Mode":"vip","Ports":[{"Protocol":"tcp",)"
            R"("TargetPort":80,"PublishMode":"ingress"}]}},"Endpoint":{"Spec":{"Mode":"vip"}},"Zzz":1})");
}

TEST(InspectOrder, NodeAndUnknownTypes) {
  auto in = ordered_json::parse(R"({"Status":{"Addr":"a","State":"ready"},"ID":"n","ManagerStatus":{"Addr":"a","Leader":true}})");
  EXPECT_EQ(docker_key_order(in, "Node").dump(),
            R"({"ID":"n","Status":{"State":"ready","Addr":"a"},"ManagerStatus":{"Leader":true,"Addr":"a"}})");
  EXPECT_EQ(docker_key_order(in, "").dump(), in.dump());
}

}  // namespace
}  // namespace shoal::cli
