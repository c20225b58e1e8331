// Key and certificate files are never reached through a symlink (a planted
// link cannot redirect a read or a write), and must be private and ours.
#include "manager/ca/key_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "manager/ca/etcd_certs.h"
#include "manager/ca/sealed.h"

namespace shoal::ca {
namespace {

namespace fs = std::filesystem;

class KeyFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("shoal-keyfiles-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& path, const std::string& data, mode_t mode) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
    chmod(path.c_str(), mode);
  }
  std::string dir_;
};

TEST_F(KeyFilesTest, ReadsOnlyPrivateRegularFiles) {
  write(dir_ + "/key", "k", 0600);
  EXPECT_EQ(*read_private_file(dir_ + "/key", true), "k");
  EXPECT_EQ(read_private_file(dir_ + "/none", true).status().code(), Code::kNotFound);
  fs::create_symlink(dir_ + "/key", dir_ + "/link");
  auto r = read_private_file(dir_ + "/link", true);
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("symlink"), std::string::npos) << r.status().message();
  chmod((dir_ + "/key").c_str(), 0640);
  EXPECT_NE(read_private_file(dir_ + "/key", true).status().message().find("chmod 0600"), std::string::npos);
  EXPECT_TRUE(read_private_file(dir_ + "/key", false).ok());  // a certificate may be 0644
  ASSERT_EQ(mkfifo((dir_ + "/fifo").c_str(), 0600), 0);
  EXPECT_NE(read_private_file(dir_ + "/fifo", true).status().message().find("not a regular file"), std::string::npos);
  write(dir_ + "/big", std::string(100, 'x'), 0600);
  EXPECT_FALSE(read_private_file(dir_ + "/big", true, 10).ok());
}

TEST_F(KeyFilesTest, SealKeyIsNotReadOrWrittenThroughASymlink) {
  auto key = create_seal_key(dir_ + "/real/seal.key");
  ASSERT_TRUE(key.ok()) << key.status().message();
  fs::create_directories(dir_ + "/manager");
  fs::create_symlink(dir_ + "/real/seal.key", dir_ + "/manager/seal.key");
  auto r = read_seal_key(dir_ + "/manager/seal.key");
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("symlink"), std::string::npos) << r.status().message();
  // A symlinked key directory does not take the new key elsewhere.
  fs::create_directories(dir_ + "/elsewhere");
  fs::create_directory_symlink(dir_ + "/elsewhere", dir_ + "/linked");
  EXPECT_FALSE(create_seal_key(dir_ + "/linked/seal.key").ok());
  EXPECT_TRUE(fs::is_empty(dir_ + "/elsewhere"));
}

TEST_F(KeyFilesTest, EtcdCertsAreNotWrittenOrCheckedThroughSymlinks) {
  auto root = create_root_ca();
  ASSERT_TRUE(root.ok());
  fs::create_directories(dir_ + "/elsewhere");
  fs::create_directory_symlink(dir_ + "/elsewhere", dir_ + "/certs");
  Status st = write_etcd_certs(dir_ + "/certs", "c1", {});
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(fs::is_empty(dir_ + "/elsewhere"));
  fs::remove(dir_ + "/certs");
  ASSERT_TRUE(write_etcd_certs(dir_ + "/certs", "c1", {}).ok());
  EtcdCertFiles f = etcd_cert_files(dir_ + "/certs");
  ASSERT_TRUE(check_etcd_certs(f).ok());
  // A key or a certificate replaced by a link to a file with the same content: refused.
  for (const std::string& path : {f.client_key, f.member_cert}) {
    fs::rename(path, dir_ + "/elsewhere/moved");
    fs::create_symlink(dir_ + "/elsewhere/moved", path);
    Status c = check_etcd_certs(f);
    EXPECT_NE(c.message().find("symlink"), std::string::npos) << path << ": " << c.message();
    fs::remove(path);
    fs::rename(dir_ + "/elsewhere/moved", path);
    EXPECT_TRUE(check_etcd_certs(f).ok());
  }
}

}  // namespace
}  // namespace shoal::ca
