#include "cli/service_ps.h"

#include <gtest/gtest.h>

#include "cli/template.h"
#include "common/time.h"

namespace shoal::cli {
namespace {

using nlohmann::json;
using std::chrono::seconds;

const auto kNow = *parse_rfc3339("2026-11-25T10:00:00Z");

json task(const std::string& id, int slot, const std::string& state, const std::string& desired,
          const std::string& created, const std::string& ts, const std::string& err = "") {
  json t = {{"ID", id},
            {"ServiceID", "svc1"},
            {"NodeID", "node1"},
            {"CreatedAt", created},
            {"DesiredState", desired},
            {"Spec", {{"ContainerSpec", {{"Image", "nginx:1.11@sha256:abcd"}}}}},
            {"Status", {{"State", state}, {"Timestamp", ts}}}};
  if (slot) t["Slot"] = slot;
  if (!err.empty()) t["Status"]["Err"] = err;
  return t;
}

TEST(ServicePs, OrderingNamingAndHistory) {
  json tasks = json::array({
      task("t2aaaaaaaaaaaaaaaaaaaaaaa", 2, "running", "running", "2026-11-25T09:00:00Z", "2026-11-25T09:59:55Z"),
      task("t1old00000000000000000000", 1, "failed", "shutdown", "2026-11-25T09:00:00Z", "2026-11-25T09:58:00Z",
           "task: non-zero exit (137)"),
      task("t1new00000000000000000000", 1, "running", "running", "2026-11-25T09:58:05Z", "2026-11-25T09:59:59.5Z"),
  });
  auto rows = build_task_rows(tasks, {{"svc1", "web"}}, {{"node1", "host-a"}}, true, true, kNow);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["Name"], "web.1");
  EXPECT_EQ(rows[0]["ID"], "t1new0000000");
  EXPECT_EQ(rows[0]["CurrentState"], "Running less than a second ago");
  EXPECT_EQ(rows[1]["Name"], " \\_ web.1");
  EXPECT_EQ(rows[1]["DesiredState"], "Shutdown");
  EXPECT_EQ(rows[1]["CurrentState"], "Failed 2 minutes ago");
  EXPECT_EQ(rows[1]["Error"], "\"task: non-zero exit (137)\"");
  EXPECT_EQ(rows[2]["Name"], "web.2");
  EXPECT_EQ(rows[2]["Node"], "host-a");
  EXPECT_EQ(rows[2]["Image"], "nginx:1.11");
  EXPECT_EQ(rows[2]["CurrentState"], "Running 5 seconds ago");

  auto plain = build_task_rows(tasks, {{"svc1", "web"}}, {}, false, false, kNow);
  EXPECT_EQ(plain[1]["Name"], "web.1");
  EXPECT_EQ(plain[1]["Node"], "node1");
  EXPECT_EQ(plain[1]["ID"], "t1old00000000000000000000");
  EXPECT_EQ(plain[1]["Image"], "nginx:1.11@sha256:abcd");
}

TEST(ServicePs, ErrorTruncationAndGlobalNames) {
  json t = task("g1", 0, "rejected", "shutdown", "2026-11-25T09:00:00Z", "2026-11-25T08:59:00Z",
                "No such image: nosuchimage:1.0 (pull access denied)");
  auto rows = build_task_rows(json::array({t}), {{"svc1", "mon"}}, {}, true, true, kNow);
  EXPECT_EQ(rows[0]["Name"], "mon.node1");
  EXPECT_EQ(rows[0]["Error"], "\"No such image: nosuchimage:1.…\"");
  EXPECT_EQ(rows[0]["CurrentState"], "Rejected about an hour ago");
  auto full = build_task_rows(json::array({t}), {{"svc1", "mon"}}, {}, false, true, kNow);
  EXPECT_EQ(full[0]["Error"], "\"No such image: nosuchimage:1.0 (pull access denied)\"");
}

TEST(ServicePs, TableOutput) {
  json tasks = json::array({task("t1aaaaaaaaaaaaaaaaaaaaaaa", 1, "running", "running", "2026-11-25T09:00:00Z",
                                 "2026-11-25T09:59:55Z")});
  tasks[0]["Status"]["PortStatus"] = {{"Ports", {{{"Protocol", "tcp"}, {"TargetPort", 80}, {"PublishedPort", 8080}}}}};
  auto rows = build_task_rows(tasks, {{"svc1", "web"}}, {{"node1", "n1"}}, true, true, kNow);
  auto out = format_rows("", kTaskTableFormat, rows, task_headers());
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out,
            "ID             NAME      IMAGE        NODE      DESIRED STATE   CURRENT STATE           ERROR     PORTS\n"
            "t1aaaaaaaaaa   web.1     nginx:1.11   n1        Running         Running 5 seconds ago             *:8080->80/tcp\n");
}

TEST(ServiceLs, RowsAndPorts) {
  json services = json::parse(R"([
    {"ID":"zzzzzzzzzzzzzzzzzzzzzzzzz","Spec":{"Name":"web10","Mode":{"Replicated":{"Replicas":3}},
      "TaskTemplate":{"ContainerSpec":{"Image":"nginx:latest@sha256:1234"}}},
      "Endpoint":{"Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"},
                           {"Protocol":"tcp","TargetPort":81,"PublishedPort":8081,"PublishMode":"ingress"},
                           {"Protocol":"udp","TargetPort":53,"PublishedPort":53,"PublishMode":"ingress"},
                           {"Protocol":"tcp","TargetPort":22,"PublishedPort":2222,"PublishMode":"host"}]},
      "ServiceStatus":{"RunningTasks":2,"DesiredTasks":3}},
    {"ID":"aaaaaaaaaaaaaaaaaaaaaaaaa","Spec":{"Name":"web9","Mode":{"Global":{}},
      "TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest"}}},
      "ServiceStatus":{"RunningTasks":1,"DesiredTasks":1}}])");
  auto rows = build_service_rows(services);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["Name"], "web9");  // natural order: web9 < web10
  EXPECT_EQ(rows[0]["Mode"], "global");
  EXPECT_EQ(rows[0]["Replicas"], "1/1");
  EXPECT_EQ(rows[1]["ID"], "zzzzzzzzzzzz");
  EXPECT_EQ(rows[1]["Replicas"], "2/3");
  EXPECT_EQ(rows[1]["Image"], "nginx:latest");
  EXPECT_EQ(rows[1]["Ports"], "*:8080-8081->80-81/tcp, *:53->53/udp");
}

}  // namespace
}  // namespace shoal::cli
