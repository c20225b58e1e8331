#include "common/files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace shoal {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override { fs::create_directories(dir); }
  void TearDown() override { fs::remove_all(dir); }
  std::string dir = fs::temp_directory_path() / ("shoal-files-test-" + std::to_string(getpid()));
};

TEST_F(FilesTest, AtomicWriteReplacesWholeAndLeavesNoTemp) {
  ASSERT_TRUE(write_file_atomic(dir + "/f", "first").ok());
  ASSERT_TRUE(write_file_atomic(dir + "/f", "second", 0600).ok());
  EXPECT_EQ(slurp(dir + "/f"), "second");
  struct stat st {};
  ASSERT_EQ(stat((dir + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}), 1) << "no temp file left";
}

TEST_F(FilesTest, PlainWriteTruncates) {
  ASSERT_TRUE(write_file(dir + "/g", "a longer text").ok());
  ASSERT_TRUE(write_file(dir + "/g", "short").ok());
  EXPECT_EQ(slurp(dir + "/g"), "short");
}

TEST_F(FilesTest, ErrorsNameThePath) {
  Status st = write_file(dir + "/missing/dir/h", "x");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(dir + "/missing/dir/h"), std::string::npos) << st.message();
  st = write_file_atomic(dir + "/missing/dir/h", "x");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(dir + "/missing/dir/h"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace shoal

namespace shoal {
namespace {

TEST(DurableRename, MovesAndSyncsAndSaysWhatFailed) {
  namespace fs = std::filesystem;
  const std::string dir = fs::temp_directory_path() / ("shoal-rename-test-" + std::to_string(getpid()));
  fs::create_directories(dir + "/a");
  fs::create_directories(dir + "/b");
  std::ofstream(dir + "/a/x") << "1";
  ASSERT_TRUE(rename_durable(dir + "/a/x", dir + "/b/y").ok());
  EXPECT_TRUE(fs::exists(dir + "/b/y"));
  EXPECT_FALSE(fs::exists(dir + "/a/x"));
  Status st = rename_durable(dir + "/a/none", dir + "/b/z");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("renaming " + dir + "/a/none"), std::string::npos) << st.message();
  EXPECT_TRUE(sync_dir(dir).ok());
  EXPECT_FALSE(sync_dir(dir + "/missing").ok());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace shoal
