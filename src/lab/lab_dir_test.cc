#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "lab/lab_internal.h"

namespace shoal::lab {
namespace {

namespace fs = std::filesystem;

class LabDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("shoal-lab-dir-test-" + std::to_string(getpid()));
    fs::create_directories(base_ + "/d");
    chmod((base_ + "/d").c_str(), 0700);
  }
  void TearDown() override { fs::remove_all(base_); }
  std::string base_;
};

// A pre-made lab dir someone else could change is refused, with the reason.
TEST_F(LabDirTest, OnlyAPrivateDirOfOurOwnIsTrusted) {
  std::string d = base_ + "/d";
  EXPECT_TRUE(check_lab_dir_trusted(d).ok());
  chmod(d.c_str(), 0777);
  Status st = check_lab_dir_trusted(d);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("writable by group or others (mode 0777)"), std::string::npos) << st.message();
  chmod(d.c_str(), 0720);
  EXPECT_FALSE(check_lab_dir_trusted(d).ok());
  chmod(d.c_str(), 0755);
  EXPECT_TRUE(check_lab_dir_trusted(d).ok());
  fs::create_directory_symlink(d, base_ + "/link");
  EXPECT_NE(check_lab_dir_trusted(base_ + "/link").message().find("symlink"), std::string::npos);
  if (geteuid() == 0) {  // another owner: only root can make one
    ASSERT_EQ(chown(d.c_str(), 65534, 65534), 0);
    st = check_lab_dir_trusted(d);
    EXPECT_NE(st.message().find("owned by uid 65534"), std::string::npos) << st.message();
  }
}

}  // namespace
}  // namespace shoal::lab
