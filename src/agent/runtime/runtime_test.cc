// Real containers with runc (needs root). The test binary doubles as the shim.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/runtime/image_store.h"
#include "agent/runtime/runc_runtime.h"
#include "agent/runtime/shim.h"
#include "common/ids.h"

namespace shoal::runtime {
namespace {

namespace fs = std::filesystem;

std::string busybox_tar() {
  for (std::string p : {"images/out/busybox.tar", "../images/out/busybox.tar"}) {
    if (fs::exists(p)) return fs::absolute(p).string();
  }
  return "";
}

class RuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    tar_ = busybox_tar();
    if (tar_.empty()) GTEST_SKIP() << "run images/build.sh first";
    root_ = "/tmp/shoal-rt-test-" + std::to_string(getpid());
    images_ = std::make_unique<ImageStore>(root_);
    ASSERT_TRUE(images_->open().ok());
    ASSERT_TRUE(images_->import_rootfs(tar_, "busybox").ok());
    runtime_ = std::make_unique<RuncRuntime>(RuncRuntimeOptions{root_, "", ""}, *images_);
  }
  void TearDown() override {
    if (!runtime_) return;
    auto all = runtime_->list();
    if (all.ok())
      for (auto& c : *all) {
        (void)runtime_->kill(c.id, SIGKILL);
        for (int i = 0; i < 200 && runtime_->state(c.id)->status == ContainerStatus::kRunning; ++i)
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        (void)runtime_->remove(c.id);
      }
    fs::remove_all(root_);
  }
  ContainerConfig config(std::vector<std::string> args) {
    ContainerConfig c;
    c.id = new_container_id();
    c.name = "test";
    c.image = "busybox";
    c.args = std::move(args);
    return c;
  }
  ContainerState wait_exited(const std::string& id) {
    for (int i = 0; i < 1000; ++i) {
      auto st = runtime_->state(id);
      if (st.ok() && st->status == ContainerStatus::kExited) return *st;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "container did not exit";
    return {};
  }
  std::string log(const std::string& id) {
    std::ifstream in(runtime_->log_path(id));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string tar_, root_;
  std::unique_ptr<ImageStore> images_;
  std::unique_ptr<RuncRuntime> runtime_;
};

TEST_F(RuntimeTest, RunsToCompletionWithExitCodeAndLogs) {
  auto c = config({"sh", "-c", "echo hi; echo $FOO; id -u; pwd; hostname; exit 3"});
  c.env = {"FOO=bar"};
  c.user = "65534";
  c.dir = "/tmp";
  c.hostname = "myhost";
  ASSERT_TRUE(runtime_->create(c).ok());
  ASSERT_TRUE(runtime_->start(c.id).ok());
  auto st = wait_exited(c.id);
  EXPECT_EQ(st.exit_code, 3);
  std::string l = log(c.id);
  EXPECT_NE(l.find("\"log\":\"hi\\n\""), std::string::npos) << l;
  EXPECT_NE(l.find("bar"), std::string::npos) << l;
  EXPECT_NE(l.find("65534"), std::string::npos) << l;
  EXPECT_NE(l.find("/tmp"), std::string::npos) << l;
  EXPECT_NE(l.find("myhost"), std::string::npos) << l;
}

TEST_F(RuntimeTest, StopHonoursGraceThenKills) {
  auto c = config({"sh", "-c", "trap '' TERM; while true; do sleep 1; done"});
  ASSERT_TRUE(runtime_->create(c).ok());
  ASSERT_TRUE(runtime_->start(c.id).ok());
  EXPECT_EQ(runtime_->state(c.id)->status, ContainerStatus::kRunning);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(runtime_->stop(c.id, std::chrono::seconds(1)).ok());
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, std::chrono::milliseconds(900));
  EXPECT_EQ(runtime_->state(c.id)->exit_code, 137);
}

TEST_F(RuntimeTest, KillOfTheProcessIsRecordedAndContainersSurviveARestart) {
  auto c = config({"sleep", "1000"});
  ASSERT_TRUE(runtime_->create(c).ok());
  ASSERT_TRUE(runtime_->start(c.id).ok());
  // A new runtime over the same root (shoald restarted) sees it running.
  RuncRuntime again(RuncRuntimeOptions{root_, "", ""}, *images_);
  auto listed = again.list();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].status, ContainerStatus::kRunning);
  ::kill((*listed)[0].pid, SIGKILL);
  EXPECT_EQ(wait_exited(c.id).exit_code, 137);
}

TEST_F(RuntimeTest, UnknownImageIsNotFoundWithAdvice) {
  auto c = config({"true"});
  c.image = "nosuch:1";
  Status st = runtime_->create(c);
  EXPECT_EQ(st.code(), Code::kNotFound);
  EXPECT_NE(st.message().find("shoal image load"), std::string::npos);
}

TEST_F(RuntimeTest, MissingExecutableFailsToStartReadably) {
  auto c = config({"/no/such/binary"});
  ASSERT_TRUE(runtime_->create(c).ok());
  Status st = runtime_->start(c.id);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no such"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace shoal::runtime

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "__shim") == 0) return shoal::runtime::shim_main(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
