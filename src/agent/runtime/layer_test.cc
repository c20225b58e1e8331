// unpack_archive against crafted hostile archives: each attack fails with
// an error naming it and writes nothing outside the destination; a sentinel
// file and directory next to the destination stay untouched. Every test
// runs twice: with openat2 and with the hand-written walk.
#include "agent/runtime/layer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/runtime/test_tar.h"
#include "os/safe_path.h"

namespace shoal::runtime {
namespace {

namespace fs = std::filesystem;
using testing::TarEntry;
using testing::write_tar_file;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class LayerTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    os::force_walk_for_testing(GetParam());
    base_ = fs::temp_directory_path() / ("shoal-layer-test-" + std::to_string(getpid()));
    fs::remove_all(base_);
    fs::create_directories(dest());
    fs::create_directories(outside());
    std::ofstream(outside() + "/sentinel") << "untouched";
  }
  void TearDown() override {
    os::force_walk_for_testing(false);
    fs::remove_all(base_);
  }
  std::string dest() const { return base_ + "/dest"; }
  std::string outside() const { return base_ + "/outside"; }
  std::string tar() const { return base_ + "/in.tar"; }

  // Unpacks entries; returns the status.
  Status unpack(const std::vector<TarEntry>& entries, UnpackOptions opts = {}) {
    write_tar_file(tar(), entries);
    if (opts.label.empty()) opts.label = "layer sha256:test";
    return unpack_archive(tar(), dest(), opts);
  }
  // The attack failed with `needle` in its message and left outside() as it was.
  void expect_refused(const Status& st, const std::string& needle) {
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.message();
    EXPECT_NE(st.message().find(needle), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("layer sha256:test"), std::string::npos) << st.message();
    expect_outside_untouched();
  }
  void expect_outside_untouched() {
    EXPECT_EQ(slurp(outside() + "/sentinel"), "untouched");
    struct stat s {};
    ASSERT_EQ(lstat((outside() + "/sentinel").c_str(), &s), 0);
    EXPECT_EQ(s.st_nlink, 1u);
    EXPECT_TRUE(S_ISREG(s.st_mode));
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(outside())) n += e.path().filename() != "sentinel";
    EXPECT_EQ(n, 0u) << "something was written next to the sentinel";
    char v[8];
    EXPECT_LT(getxattr(outside().c_str(), "trusted.overlay.opaque", v, sizeof v), 0);
    EXPECT_FALSE(fs::exists(base_ + "/escape"));
    EXPECT_FALSE(fs::exists("/escape-shoal-layer-test"));
  }

  std::string base_;
};

INSTANTIATE_TEST_SUITE_P(Resolution, LayerTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "HandWalk" : "Openat2"; });

TEST_P(LayerTest, DotDotAndAbsoluteNamesAreRefused) {
  expect_refused(unpack({{"../escape", "x"}}), "entry '../escape' that leaves the layer");
  expect_refused(unpack({{"a/../../escape", "x"}}), "that leaves the layer");
  expect_refused(unpack({{"/escape-shoal-layer-test", "x"}}), "absolute path");
  expect_refused(unpack({{"ok", "1"}, {"h", "../outside/sentinel", 'h'}}), "outside the layer");
  expect_refused(unpack({{"h", outside() + "/sentinel", 'h'}}), "outside the layer");
  expect_refused(unpack({{std::string(5000, 'a'), "x"}}), "longer than 4096");
}

TEST_P(LayerTest, NothingIsWrittenThroughASymlink) {
  // A symlink entry, then an entry through it: absolute, relative, nested.
  expect_refused(unpack({{"evil", outside(), 'l'}, {"evil/pwned", "x"}}), "goes through a symlink");
  fs::remove_all(dest());
  fs::create_directories(dest());
  expect_refused(unpack({{"evil", "../outside", 'l'}, {"evil/pwned", "x"}}), "goes through a symlink");
  fs::remove_all(dest());
  fs::create_directories(dest());
  expect_refused(unpack({{"a/", "", 'd'}, {"a/b", "/", 'l'}, {"a/b" + outside() + "/pwned", "x"}}),
                 "goes through a symlink");
  fs::remove_all(dest());
  fs::create_directories(dest());
  expect_refused(unpack({{"evil", outside(), 'l'}, {"evil/sub/", "", 'd'}}), "goes through a symlink");
  fs::remove_all(dest());
  fs::create_directories(dest());
  expect_refused(unpack({{"evil", outside(), 'l'}, {"evil/l2", "/", 'l'}}), "goes through a symlink");
}

TEST_P(LayerTest, HardLinksStayInsideTheLayer) {
  expect_refused(unpack({{"l", outside(), 'l'}, {"h", "l/sentinel", 'h'}}), "reached through a symlink");
  fs::remove_all(dest());
  fs::create_directories(dest());
  expect_refused(unpack({{"h", "missing", 'h'}}), "which the layer lacks");
  fs::remove_all(dest());
  fs::create_directories(dest());
  // A link to a symlink links the symlink itself, not what it points to.
  ASSERT_TRUE(unpack({{"l", outside() + "/sentinel", 'l'}, {"h", "l", 'h'}, {"f", "data"}, {"g", "f", 'h'}}).ok());
  struct stat s {};
  ASSERT_EQ(lstat((dest() + "/h").c_str(), &s), 0);
  EXPECT_TRUE(S_ISLNK(s.st_mode));
  ASSERT_EQ(lstat((dest() + "/g").c_str(), &s), 0);
  EXPECT_EQ(s.st_nlink, 2u);
  expect_outside_untouched();
}

TEST_P(LayerTest, LaterEntriesReplaceSymlinksWithoutFollowingThem) {
  ASSERT_TRUE(unpack({{"s", outside() + "/sentinel", 'l'}, {"s", "replaced"},
                      {"d", outside(), 'l'}, {"d/", "", 'd'}, {"d/x", "inside"}})
                  .ok());
  EXPECT_EQ(slurp(dest() + "/s"), "replaced");
  EXPECT_EQ(slurp(dest() + "/d/x"), "inside");
  EXPECT_TRUE(fs::is_directory(fs::symlink_status(dest() + "/d")));
  expect_outside_untouched();
}

TEST_P(LayerTest, WhiteoutsCannotNameNothingOrEscape) {
  expect_refused(unpack({{".wh..", ""}}), "whiteout of no file");
  expect_refused(unpack({{"a/.wh...", ""}}), "whiteout of no file");
  expect_refused(unpack({{".wh.", ""}}), "whiteout of no file");
  expect_refused(unpack({{".wh..wh.plnk", ""}}), "AUFS metadata");
  expect_refused(unpack({{"l", outside(), 'l'}, {"l/.wh.sentinel", ""}}), "goes through a symlink");
  fs::remove_all(dest());
  fs::create_directories(dest());
  expect_refused(unpack({{"l", outside(), 'l'}, {"l/.wh..wh..opq", ""}}), "goes through a symlink");
  fs::remove_all(dest());
  fs::create_directories(dest());
  expect_refused(unpack({{"../outside/.wh.sentinel", ""}}), "leaves the layer");
}

TEST_P(LayerTest, WhiteoutsHideOnlyLowerLayers) {
  ASSERT_TRUE(unpack({{"etc/", "", 'd'}, {"etc/kept", "k"}, {"etc/.wh.kept", ""}, {"etc/.wh.gone", ""},
                      {"opq/.wh..wh..opq", ""}, {"opq/new", "n"}})
                  .ok());
  EXPECT_EQ(slurp(dest() + "/etc/kept"), "k");  // same layer: not hidden
  struct stat s {};
  ASSERT_EQ(lstat((dest() + "/etc/gone").c_str(), &s), 0);
  EXPECT_TRUE(S_ISCHR(s.st_mode));
  EXPECT_EQ(s.st_rdev, makedev(0, 0));
  char v[4] = {};
  ASSERT_EQ(getxattr((dest() + "/opq").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
  EXPECT_EQ(slurp(dest() + "/opq/new"), "n");
  EXPECT_FALSE(fs::exists(dest() + "/etc/.wh.gone"));
}

TEST_P(LayerTest, DeviceNodesOnlyBelowDevAndSkipped) {
  expect_refused(unpack({{"etc/sda", "", 'b'}}), "block device (8:0)");
  expect_refused(unpack({{"mem", "", 'c'}}), "character device (1:3)");
  UnpackStats stats;
  write_tar_file(tar(), {{"dev/", "", 'd'}, {"dev/null", "", 'c'}, {"dev/sda", "", 'b'}, {"fifo", "", 'p'}});
  ASSERT_TRUE(unpack_archive(tar(), dest(), {}, &stats).ok());
  EXPECT_EQ(stats.skipped_devices, 2);
  EXPECT_TRUE(fs::is_directory(dest() + "/dev"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(dest() + "/dev/null")));
  EXPECT_TRUE(fs::is_fifo(dest() + "/fifo"));
}

TEST_P(LayerTest, OwnersModesAndSetuidAreExactlyWhatTheEntrySays) {
  mode_t old = umask(077);
  Status st = unpack({{"suid", "x", 'f', 04755, 1000, 1000},
                      {"plain", "x", 'f', 0755, 1000, 1000},
                      {"sgid-dir/", "", 'd', 02775, 0, 50},
                      {"named", "x", 'f', 0640, 7, 8}});
  umask(old);
  ASSERT_TRUE(st.ok()) << st.message();
  struct stat s {};
  ASSERT_EQ(stat((dest() + "/suid").c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 07777, 04755u);
  ASSERT_EQ(stat((dest() + "/plain").c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 07777, 0755u);
  ASSERT_EQ(stat((dest() + "/sgid-dir").c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 07777, 02775u);
  if (geteuid() == 0) {
    ASSERT_EQ(stat((dest() + "/suid").c_str(), &s), 0);
    EXPECT_EQ(s.st_uid, 1000u);
    ASSERT_EQ(stat((dest() + "/named").c_str(), &s), 0);
    EXPECT_EQ(s.st_uid, 7u);
    EXPECT_EQ(s.st_gid, 8u);
  }
}

TEST_P(LayerTest, OnlyHarmlessXattrs) {
  expect_refused(unpack({{"d/", "", 'd', -1, 0, 0, {{"trusted.overlay.redirect", "/etc"}}}}),
                 "extended attribute 'trusted.overlay.redirect'");
  ASSERT_TRUE(unpack({{"f", "x", 'f', -1, 0, 0, {{"user.note", "hi"}}}}).ok());
  char v[8] = {};
  EXPECT_EQ(getxattr((dest() + "/f").c_str(), "user.note", v, sizeof v), 2);
}

TEST_P(LayerTest, SizeIsCapped) {
  UnpackOptions small;
  small.max_bytes = 4096;
  expect_refused(unpack({{"big", std::string(8192, 'z')}}, small), "more than 4096 bytes");
  expect_refused(unpack({{"a", std::string(3000, 'z')}, {"b", std::string(3000, 'z')}}, small),
                 "more than 4096 bytes");
  write_tar_file(tar(), {{"big", std::string(100000, 'z')}}, /*gzip=*/true);
  auto digest = sha256_uncompressed(tar(), 4096);
  EXPECT_EQ(digest.status().code(), Code::kInvalidArgument);
  EXPECT_NE(digest.status().message().find("more than 4096"), std::string::npos);
  EXPECT_TRUE(sha256_uncompressed(tar()).ok());
}

TEST_P(LayerTest, DigestsAndArchivesOfNonRegularFilesAreRefused) {
  fs::create_symlink("/dev/zero", base_ + "/zero");
  EXPECT_EQ(sha256_file(base_ + "/zero").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(sha256_uncompressed(base_ + "/zero").status().code(), Code::kInvalidArgument);
  ASSERT_EQ(mkfifo((base_ + "/fifo").c_str(), 0600), 0);
  EXPECT_EQ(sha256_file(base_ + "/fifo").status().code(), Code::kInvalidArgument);  // and does not hang
  EXPECT_EQ(unpack_archive(base_ + "/fifo", dest()).code(), Code::kInvalidArgument);
}

// read_file_in_root: what user resolution and the image store read.
TEST_P(LayerTest, ReadInRootStaysInRootAndReadsRegularFilesOnly) {
  fs::create_directories(dest() + "/etc");
  std::ofstream(dest() + "/etc/real") << "root:x:0:0::/root:/bin/sh\n";
  fs::create_symlink(outside() + "/sentinel", dest() + "/etc/passwd");  // absolute: taken as in the root
  fs::create_symlink("../../../../../../etc/real", dest() + "/etc/group");
  fs::create_symlink("/dev/zero", dest() + "/etc/zero");
  ASSERT_EQ(mkfifo((dest() + "/etc/fifo").c_str(), 0600), 0);
  auto passwd = os::read_file_in_root(dest(), "etc/passwd", 1 << 20);
  EXPECT_EQ(passwd.status().code(), Code::kNotFound) << "followed a link out of the root";
  auto group = os::read_file_in_root(dest(), "/etc/group", 1 << 20);
  ASSERT_TRUE(group.ok()) << group.status().message();
  EXPECT_EQ(*group, "root:x:0:0::/root:/bin/sh\n");
  EXPECT_EQ(os::read_file_in_root(dest(), "etc/fifo", 1 << 20).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(os::read_file_in_root(dest(), "etc", 1 << 20).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(os::read_file_in_root(dest(), "etc/real", 4).status().code(), Code::kInvalidArgument);
  // Without symlinks allowed, even the in-root link is refused.
  EXPECT_EQ(os::read_file_in_root(dest(), "etc/group", 1 << 20, os::Resolve::kNoSymlinks).status().code(),
            Code::kInvalidArgument);
  // /dev/zero in the root is whatever the root has there: nothing.
  EXPECT_EQ(os::read_file_in_root(dest(), "etc/zero", 1 << 20).status().code(), Code::kNotFound);
  fs::create_directories(dest() + "/dev");
  fs::create_symlink("/dev/zero", dest() + "/dev/zero");
  EXPECT_FALSE(os::read_file_in_root(dest(), "etc/zero", 1 << 20).ok());  // a loop, never the device
}

TEST_P(LayerTest, AValidLayerUnpacksCompletely) {
  UnpackStats stats;
  write_tar_file(tar(), {{"./", "", 'd'}, {"./bin/", "", 'd'}, {"./bin/busybox", "ELF"}, {"./bin/sh", "/bin/busybox", 'l'},
                         {"usr/lib/x", "1"}, {"lib", "usr/lib", 'l'}, {"bin/ash", "bin/busybox", 'h'}},
                 /*gzip=*/true);
  Status st = unpack_archive(tar(), dest(), {}, &stats);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(stats.bytes, 4);
  EXPECT_EQ(slurp(dest() + "/bin/ash"), "ELF");
  EXPECT_EQ(fs::read_symlink(dest() + "/bin/sh"), "/bin/busybox");
  EXPECT_EQ(fs::read_symlink(dest() + "/lib"), "usr/lib");
}

}  // namespace
}  // namespace shoal::runtime
