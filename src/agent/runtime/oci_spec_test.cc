// The OCI spec's security settings (Docker's defaults, seccomp, no_new_privs)
// and the untrusted reads of an image's /etc/passwd and /etc/group.
#include "agent/runtime/oci_spec.h"

#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/runtime/seccomp.h"
#include "agent/runtime/test_seccomp.h"

namespace shoal::runtime {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class OciSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("shoal-oci-test-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(rootfs() + "/etc");
    std::ofstream(rootfs() + "/etc/passwd") << "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n";
    std::ofstream(rootfs() + "/etc/group") << "root:x:0:\napp:x:1000:\nstaff:x:50:app\n";
    config_.id = "c1";
    config_.command = {"/bin/sh"};
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string rootfs() const { return dir_ + "/bundle/rootfs"; }
  Result<json> spec() { return build_oci_spec(config_, ImageConfig{}, dir_, "h"); }

  std::string dir_;
  ContainerConfig config_;
};

TEST_F(OciSpecTest, DockersDefaultCapabilitiesMaskedAndReadOnlyPaths) {
  EXPECT_EQ(default_capabilities(),
            (std::vector<std::string>{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
                                      "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
                                      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}));
  config_.seccomp = ContainerConfig::Seccomp::kUnconfined;
  auto s = spec();
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ((*s)["process"]["capabilities"]["bounding"].size(), 14u);
  const json& masked = (*s)["linux"]["maskedPaths"];
  for (const char* p : {"/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"}) {
    EXPECT_NE(std::find(masked.begin(), masked.end(), p), masked.end()) << p;
  }
  EXPECT_EQ((*s)["linux"]["readonlyPaths"],
            json({"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}));
  EXPECT_FALSE((*s)["linux"].contains("seccomp")) << "unconfined";
  EXPECT_EQ((*s)["process"]["noNewPrivileges"], false);
}

// Docker 20.10: a private cgroup namespace on cgroup v2 hosts, the host's on
// cgroup v1 and hybrid ones.
TEST_F(OciSpecTest, CgroupNamespaceAsDockerPicksIt) {
  auto has_cgroupns = [&]() {
    auto s = spec();
    EXPECT_TRUE(s.ok()) << s.status().message();
    for (const auto& n : (*s)["linux"]["namespaces"]) {
      if (n["type"] == "cgroup") return true;
    }
    return false;
  };
  config_.seccomp = ContainerConfig::Seccomp::kUnconfined;
  config_.private_cgroupns = true;
  EXPECT_TRUE(has_cgroupns());
  config_.private_cgroupns = false;
  EXPECT_FALSE(has_cgroupns());
  config_.private_cgroupns.reset();
  struct statfs fs {};
  ASSERT_EQ(statfs("/sys/fs/cgroup", &fs), 0);
  bool unified = fs.f_type == CGROUP2_SUPER_MAGIC;
  EXPECT_EQ(host_cgroup_unified(), unified);
  EXPECT_EQ(has_cgroupns(), unified) << "the host's cgroup layout decides by default";
}

TEST_F(OciSpecTest, NoNewPrivilegesWhenAsked) {
  config_.seccomp = ContainerConfig::Seccomp::kUnconfined;
  config_.no_new_privileges = true;
  auto s = spec();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)["process"]["noNewPrivileges"], true);
}

TEST_F(OciSpecTest, ACustomProfileIsTranslatedAndABadOneRefused) {
  config_.seccomp = ContainerConfig::Seccomp::kCustom;
  config_.seccomp_profile =
      R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1},)"
      R"({"names":["chroot"],"action":"SCMP_ACT_ERRNO","excludes":{"caps":["CAP_SYS_CHROOT"]}}]})";
  auto s = spec();
  ASSERT_TRUE(s.ok()) << s.status().message();
  const json& sc = (*s)["linux"]["seccomp"];
  EXPECT_EQ(sc["defaultAction"], "SCMP_ACT_ALLOW");
  ASSERT_EQ(sc["syscalls"].size(), 1u) << "chroot's rule is excluded: the container holds CAP_SYS_CHROOT";
  EXPECT_EQ(sc["syscalls"][0]["names"], json({"mkdir", "mkdirat"}));
  EXPECT_EQ(sc["syscalls"][0]["errnoRet"], 1);
  config_.seccomp_profile = R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"]}]})";
  auto bad = spec();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("invalid custom seccomp profile: syscalls[0].action"), std::string::npos)
      << bad.status().message();
}

TEST_F(OciSpecTest, TheDefaultProfileIsAppliedUnlessUnconfined) {
  SHOAL_REQUIRE_DEFAULT_SECCOMP_PROFILE();
  auto s = spec();
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_TRUE((*s)["linux"].contains("seccomp"));
  EXPECT_EQ((*s)["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_GT((*s)["linux"]["seccomp"]["syscalls"].size(), 10u);
  // As Docker's profile (Debian's is Podman's): without CAP_SYS_ADMIN no
  // unconditional unshare, setns, keyctl or clone; clone only without
  // namespace flags.
  bool clone_masked = false;
  for (const auto& r : (*s)["linux"]["seccomp"]["syscalls"]) {
    if (r["action"] != "SCMP_ACT_ALLOW") continue;
    for (const auto& n : r["names"]) {
      if (n == "clone" && r.contains("args")) clone_masked = r["args"][0]["op"] == "SCMP_CMP_MASKED_EQ";
      if (r.contains("args")) continue;
      for (const char* denied : {"unshare", "setns", "keyctl", "add_key", "request_key", "clone", "clone3"})
        EXPECT_NE(n, denied) << "allowed unconditionally";
    }
  }
  EXPECT_TRUE(clone_masked);
}

TEST_F(OciSpecTest, SignalNumbersAreRangeChecked) {
  EXPECT_EQ(*signal_number("SIGTERM"), 15);
  EXPECT_EQ(*signal_number("9"), 9);
  for (const char* bad : {"0", "65", "99999999999999999999", "SIGNOPE"}) {
    auto r = signal_number(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  }
}

TEST_F(OciSpecTest, ResolvesUsersAndGroups) {
  auto u = resolve_user("app", rootfs());
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(u->uid, 1000u);
  EXPECT_EQ(u->gid, 1000u);
  EXPECT_EQ(u->additional_gids, std::vector<uint32_t>{50});
  EXPECT_EQ(resolve_user("1234", rootfs())->gid, 0u);
  EXPECT_FALSE(resolve_user("4294967296", rootfs()).ok());
  EXPECT_FALSE(resolve_user("0:99999999999", rootfs()).ok());
}

TEST_F(OciSpecTest, HugeIdsInTheImagesPasswdDoNotThrow) {
  std::ofstream(rootfs() + "/etc/passwd", std::ios::trunc) << "big:x:99999999999999999999:1::/:/bin/sh\n";
  auto u = resolve_user("big", rootfs());
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.status().message().find("unable to find user big"), std::string::npos);
}

TEST_F(OciSpecTest, PasswdIsReadOnlyAsARegularFileInsideTheRootfs) {
  // A symlink to a device: refused, never read (it would never end).
  fs::remove(rootfs() + "/etc/passwd");
  fs::create_symlink("/dev/zero", rootfs() + "/etc/passwd");
  auto r = resolve_user("app", rootfs());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("symbolic link"), std::string::npos) << r.status().message();
  // A parent symlink pointing out of the rootfs resolves inside it.
  fs::remove(rootfs() + "/etc/passwd");
  fs::rename(rootfs() + "/etc", rootfs() + "/real-etc");
  fs::create_directories(dir_ + "/outside");
  std::ofstream(dir_ + "/outside/passwd") << "app:x:7:7::/:/bin/sh\n";
  fs::create_symlink(dir_ + "/outside", rootfs() + "/etc");
  r = resolve_user("app", rootfs());
  ASSERT_FALSE(r.ok()) << "read the host's file outside the rootfs: uid " << r->uid;
  EXPECT_NE(r.status().message().find("unable to find user app"), std::string::npos) << r.status().message();
  // A FIFO: refused without blocking.
  fs::remove(rootfs() + "/etc");
  fs::rename(rootfs() + "/real-etc", rootfs() + "/etc");
  ASSERT_EQ(mkfifo((rootfs() + "/etc/passwd").c_str(), 0644), 0);
  r = resolve_user("app", rootfs());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("regular file"), std::string::npos) << r.status().message();
  // Too large.
  fs::remove(rootfs() + "/etc/passwd");
  std::ofstream(rootfs() + "/etc/passwd") << std::string(5 << 20, '#');
  r = resolve_user("app", rootfs());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("4 MiB"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace shoal::runtime
