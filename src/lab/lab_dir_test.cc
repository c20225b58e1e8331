#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "lab/lab_internal.h"
#include "lab/lab_state.h"

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

// `down` and `exec` act as root on what lab.json names: a lab.json in a dir
// another user can write, or one naming dirs outside the lab, is not used.
TEST_F(LabDirTest, LabJsonIsBelievedOnlyInATrustedDirAndForItsOwnNodes) {
  std::string d = base_ + "/d";
  LabState s;
  s.dir = d;
  s.id = "abc";
  s.subnet = "198.18.3.0/24";
  s.bridge_netns = "shoal-abc-br";
  s.shoald = "/usr/bin/shoald";
  s.nodes = *plan_nodes(d, "abc", "198.18.3.0/24", 1, 1);
  ASSERT_TRUE(save_lab(s).ok());
  ASSERT_TRUE(load_lab(d).ok());
  chmod(d.c_str(), 0777);  // anyone could have written that lab.json
  EXPECT_EQ(load_lab(d).status().code(), Code::kFailedPrecondition);
  chmod(d.c_str(), 0700);
  LabState bad = s;
  bad.nodes[1].dir = "/etc";  // down would remove_all it
  ASSERT_TRUE(save_lab(bad).ok());
  EXPECT_NE(load_lab(d).status().message().find("outside"), std::string::npos);
  bad = s;
  bad.nodes[0].netns = "../../proc/1/ns/net";  // down would kill every process of the host's netns
  ASSERT_TRUE(save_lab(bad).ok());
  EXPECT_FALSE(load_lab(d).ok());
}

}  // namespace
}  // namespace shoal::lab
