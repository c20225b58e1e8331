#include "os/proc.h"

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "os/netns.h"

namespace shoal::os {
namespace {

TEST(Proc, StartTimeNamesOneProcess) {
  auto me = process_start_time(getpid());
  ASSERT_TRUE(me.ok());
  EXPECT_TRUE(same_process_alive(getpid(), *me));
  EXPECT_FALSE(same_process_alive(getpid(), *me + 1));  // a "reused" pid
  EXPECT_FALSE(process_start_time(0).ok());
  EXPECT_EQ(process_state(-5), 0);
}

TEST(Proc, ChildrenAndExecutable) {
  pid_t c = fork();
  if (c == 0) {
    pause();
    _exit(0);
  }
  auto kids = child_pids(getpid());
  EXPECT_NE(std::find(kids.begin(), kids.end(), c), kids.end());
  EXPECT_EQ(process_exe(c), process_exe(getpid()));
  kill(c, SIGKILL);
  waitpid(c, nullptr, 0);
  EXPECT_EQ(process_exe(c), "");
  EXPECT_FALSE(find_in_path("sh").empty());
  EXPECT_EQ(find_in_path("no-such-program-shoal"), "");
}

TEST(Proc, MountsUnderADirDeepestFirst) {
  auto m = mounts_under("/");
  ASSERT_FALSE(m.empty());
  EXPECT_EQ(m.back(), "/");
  EXPECT_TRUE(mounts_under("/no/such/dir/shoal").empty());
}

TEST(Netns, SpawnReportsAMissingNamespace) {
  SpawnOptions o;
  o.argv = {"true"};
  auto r = spawn_in_netns("/run/netns/no-such-ns-shoal", "", o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no-such-ns-shoal"), std::string::npos);
}

TEST(Netns, SpawnsWithAHostnameOfItsOwnAndReportsExecFailures) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (setns, unshare)";
  char dir[] = "/tmp/netns_test.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string out = std::string(dir) + "/out";
  SpawnOptions o;
  o.argv = {"hostname"};
  o.stdout_path = out;
  auto pid = spawn_in_netns("/proc/self/ns/net", "labnode", o);
  ASSERT_TRUE(pid.ok()) << pid.status().message();
  int status = 0;
  waitpid(*pid, &status, 0);
  std::ifstream in(out);
  std::string name;
  in >> name;
  EXPECT_EQ(name, "labnode");
  o.argv = {"/no/such/program"};
  auto bad = spawn_in_netns("/proc/self/ns/net", "", o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("exec"), std::string::npos);
  EXPECT_EQ(*run_in_netns("/proc/self/ns/net", {"sh", "-c", "exit 3"}), 3);
  unlink(out.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace shoal::os
