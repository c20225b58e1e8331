#include "os/process.h"

#include <gtest/gtest.h>

namespace shoal::os {

TEST(Process, RunCaptureReturnsOutputOrError) {
  auto r = run_capture({"sh", "-c", "echo hi; echo oops >&2"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "hi\n");
  auto f = run_capture({"sh", "-c", "echo bad >&2; exit 3"});
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("bad"), std::string::npos);
  EXPECT_EQ(*run_capture({"cat"}, "input"), "input");
}

TEST(Process, SpawnAndWait) {
  auto pid = spawn({{"sh", "-c", "exit 7"}});
  ASSERT_TRUE(pid.ok());
  EXPECT_EQ(*wait_pid(*pid, std::chrono::seconds(5)), 7);
  auto sleeper = spawn({{"sleep", "100"}});
  ASSERT_TRUE(sleeper.ok());
  EXPECT_TRUE(process_alive(*sleeper));
  EXPECT_EQ(wait_pid(*sleeper, std::chrono::milliseconds(50)).status().code(), Code::kDeadlineExceeded);
  kill(*sleeper, SIGKILL);
  EXPECT_EQ(*wait_pid(*sleeper, std::chrono::seconds(5)), 128 + SIGKILL);
}

}  // namespace shoal::os
