#include "cli/progress.h"

#include <gtest/gtest.h>

#include <sstream>

namespace shoal::cli {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

json service(int replicas, const std::string& update_state = "") {
  json s = {{"ID", "svc1"},
            {"Spec", {{"Name", "web"}, {"Mode", {{"Replicated", {{"Replicas", replicas}}}}},
                      {"TaskTemplate", {{"ContainerSpec", {{"Image", "busybox:latest"}}}}}}}};
  if (!update_state.empty()) s["UpdateStatus"] = {{"State", update_state}, {"Message", "m"}};
  return s;
}

json task(int slot, const std::string& state, const std::string& err = "") {
  json t = {{"ID", "t" + std::to_string(slot)},
            {"Slot", slot},
            {"NodeID", "n1"},
            {"DesiredState", "running"},
            {"Spec", {{"ContainerSpec", {{"Image", "busybox:latest"}}}}},
            {"Status", {{"State", state}}}};
  if (!err.empty()) t["Status"]["Err"] = err;
  return t;
}

const json kNodes = json::array({{{"ID", "n1"}, {"Status", {{"State", "ready"}}}}});

std::string text(const ProgressTracker& t) {
  std::string s;
  for (const auto& l : t.lines()) s += l.id + ": " + l.text + "\n";
  return s;
}

TEST(Progress, Bars) {
  EXPECT_EQ(progress_bar("running"), "[==================================================>]");
  EXPECT_EQ(progress_bar("new"), "[=====>                                             ]");
  EXPECT_EQ(slot_line_text(task(1, "running")), "running   [==================================================>]");
  EXPECT_EQ(slot_line_text(task(1, "failed", "task: non-zero exit (1)")), "task: non-zero exit (1)");
}

TEST(Progress, ConvergesAfterMonitorPeriod) {
  ProgressTracker t;
  auto t0 = Clock::now();
  auto step = t.update(service(2), json::array({task(1, "preparing"), task(2, "new")}), kNodes, t0);
  EXPECT_FALSE(step.done);
  EXPECT_EQ(text(t),
            std::string("overall progress: 0 out of 2 tasks\n") +
            "1/2: preparing " + progress_bar("preparing") + "\n" +
            "2/2: new       " + progress_bar("new") + "\n");
  step = t.update(service(2), json::array({task(1, "running"), task(2, "running")}), kNodes, t0 + std::chrono::seconds(1));
  EXPECT_FALSE(step.done);
  EXPECT_EQ(text(t),
            "overall progress: 2 out of 2 tasks\n"
            "1/2: running   [==================================================>]\n"
            "2/2: running   [==================================================>]\n"
            "verify: Waiting 5 seconds to verify that tasks are stable...\n");
  step = t.update(service(2), json::array({task(1, "running"), task(2, "running")}), kNodes, t0 + std::chrono::seconds(4));
  EXPECT_FALSE(step.done);
  EXPECT_EQ(t.lines().back().text, "Waiting 2 seconds to verify that tasks are stable...");
  step = t.update(service(2), json::array({task(1, "running"), task(2, "running")}), kNodes, t0 + std::chrono::seconds(6));
  EXPECT_TRUE(step.done);
  EXPECT_EQ(t.lines().back().text, "Service converged");
}

TEST(Progress, FailureResetsVerification) {
  ProgressTracker t;
  auto t0 = Clock::now();
  t.update(service(1), json::array({task(1, "running")}), kNodes, t0);
  auto step = t.update(service(1), json::array({task(1, "failed", "task: non-zero exit (1)")}), kNodes,
                       t0 + std::chrono::seconds(2));
  EXPECT_FALSE(step.done);
  EXPECT_EQ(text(t),
            "overall progress: 0 out of 1 tasks\n"
            "1/1: task: non-zero exit (1)\n"
            "verify: Detected task failure\n");
}

TEST(Progress, UpdatingIsNotConvergedAndPausedIsAnError) {
  ProgressTracker t;
  auto t0 = Clock::now();
  auto step = t.update(service(1, "updating"), json::array({task(1, "running")}), kNodes, t0);
  EXPECT_FALSE(step.done);
  for (const auto& l : t.lines()) EXPECT_NE(l.id, "verify");
  step = t.update(service(1, "paused"), json::array({task(1, "running")}), kNodes, t0);
  EXPECT_FALSE(step.error.ok());
  EXPECT_EQ(step.error.message(), "service update paused: m");
}

TEST(Progress, ShorterMonitorShortensVerification) {
  ProgressTracker t;
  json s = service(1);
  s["Spec"]["UpdateConfig"] = {{"Monitor", 1000000000}};
  auto t0 = Clock::now();
  t.update(s, json::array({task(1, "running")}), kNodes, t0);
  auto step = t.update(s, json::array({task(1, "running")}), kNodes, t0 + std::chrono::milliseconds(1100));
  EXPECT_TRUE(step.done);
}

TEST(Progress, OutdatedTasksAreIgnoredWhenCurrentOnesExist) {
  ProgressTracker t;
  json old = task(2, "running");
  old["Spec"]["ContainerSpec"]["Image"] = "busybox:old";
  t.update(service(2), json::array({task(1, "running"), old}), kNodes, Clock::now());
  EXPECT_EQ(t.lines()[0].text, "1 out of 2 tasks");
}

TEST(Progress, PrinterPlainPrintsChangesOnly) {
  std::ostringstream out;
  ProgressPrinter p(out, false);
  p.render({{"overall progress", "0 out of 1 tasks"}, {"1/1", ""}});
  p.render({{"overall progress", "0 out of 1 tasks"}, {"1/1", "running"}});
  p.render({{"overall progress", "1 out of 1 tasks"}, {"1/1", "running"}});
  EXPECT_EQ(out.str(), "overall progress: 0 out of 1 tasks\n1/1: running\noverall progress: 1 out of 1 tasks\n");
}

TEST(Progress, PrinterTtyRedrawsInPlace) {
  std::ostringstream out;
  ProgressPrinter p(out, true);
  p.render({{"a", "1"}, {"b", "2"}});
  p.render({{"a", "1"}, {"b", "3"}});
  EXPECT_EQ(out.str(), "\033[2K\ra: 1 \n\033[2K\rb: 2 \n\033[2A\033[2K\ra: 1 \n\033[2K\rb: 3 \n");
}

}  // namespace
}  // namespace shoal::cli
