// Translation of Docker-format seccomp profiles into the OCI spec, with a
// small inline profile, and the real default profile when it is installed.
#include "agent/runtime/seccomp.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/runtime/test_seccomp.h"

namespace shoal::runtime {
namespace {

using nlohmann::json;

constexpr char kProfile[] = R"({
  "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
  "archMap": [
    {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
  "syscalls": [
    {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "always"},
    {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
     "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
    {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
    {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}},
    {"names": ["chroot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1, "errno": "EPERM",
     "excludes": {"caps": ["CAP_SYS_CHROOT"]}},
    {"names": ["bpf"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN", "CAP_BPF"]}},
    {"names": ["new_call"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.8"}},
    {"names": ["old_call"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.8"}}
  ]})";

SeccompProfile profile() {
  auto p = parse_seccomp_profile(kProfile);
  EXPECT_TRUE(p.ok()) << p.status().message();
  return *p;
}

// The names of every rule in a translated filter, in order.
std::vector<std::string> names(const json& oci) {
  std::vector<std::string> out;
  for (const auto& r : oci["syscalls"])
    for (const auto& n : r["names"]) out.push_back(n.get<std::string>() + ":" + r["action"].get<std::string>());
  return out;
}

TEST(Seccomp, KeepsDefaultActionErrnoAndTheHostArchitecturesFromArchMap) {
  json oci = to_oci_seccomp(profile(), {}, {"amd64", 6, 1});
  EXPECT_EQ(oci["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(oci["defaultErrnoRet"], 38);
  EXPECT_EQ(oci["architectures"], json({"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}));
  oci = to_oci_seccomp(profile(), {}, {"arm64", 6, 1});
  EXPECT_EQ(oci["architectures"], json({"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"}));
  oci = to_oci_seccomp(profile(), {}, {"riscv64", 6, 1});
  EXPECT_FALSE(oci.contains("architectures")) << "an architecture the map lacks: libseccomp's native one";
}

TEST(Seccomp, RulesFollowCapabilitiesArchesAndKernel) {
  auto with = names(to_oci_seccomp(profile(), {"CAP_SYS_CHROOT"}, {"amd64", 6, 1}));
  EXPECT_EQ(with, (std::vector<std::string>{"read:SCMP_ACT_ALLOW", "write:SCMP_ACT_ALLOW", "personality:SCMP_ACT_ALLOW",
                                            "arch_prctl:SCMP_ACT_ALLOW", "chroot:SCMP_ACT_ALLOW",
                                            "new_call:SCMP_ACT_ALLOW"}));
  auto without = names(to_oci_seccomp(profile(), {"CAP_SYS_ADMIN"}, {"arm64", 5, 4}));
  EXPECT_EQ(without, (std::vector<std::string>{"read:SCMP_ACT_ALLOW", "write:SCMP_ACT_ALLOW", "personality:SCMP_ACT_ALLOW",
                                               "chroot:SCMP_ACT_ERRNO", "old_call:SCMP_ACT_ALLOW"}))
      << "bpf needs every included capability; arch_prctl is amd64-only; old_call only before 5.8";
  auto both = names(to_oci_seccomp(profile(), {"CAP_SYS_ADMIN", "CAP_BPF"}, {"amd64", 5, 8}));
  EXPECT_NE(std::find(both.begin(), both.end(), "bpf:SCMP_ACT_ALLOW"), both.end());
  EXPECT_EQ(std::find(both.begin(), both.end(), "old_call:SCMP_ACT_ALLOW"), both.end()) << "5.8 is not before 5.8";
}

TEST(Seccomp, CarriesErrnoRetAndArguments) {
  json oci = to_oci_seccomp(profile(), {}, {"amd64", 6, 1});
  json personality, chroot;
  for (const auto& r : oci["syscalls"]) {
    if (r["names"][0] == "personality") personality = r;
    if (r["names"][0] == "chroot") chroot = r;
  }
  EXPECT_EQ(personality["args"], json::parse(R"([{"index":0,"value":8,"valueTwo":0,"op":"SCMP_CMP_EQ"}])"));
  EXPECT_EQ(chroot["errnoRet"], 1);
  EXPECT_FALSE(chroot.contains("errno")) << "podman's errno names are not part of the OCI spec";
  EXPECT_FALSE(personality.contains("errnoRet"));
}

TEST(Seccomp, MalformedProfilesAreClearErrors) {
  struct Case {
    const char* profile;
    const char* says;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"{", "not valid JSON"},
           {"[]", "must be a JSON object"},
           {R"({"syscalls":[]})", "defaultAction: missing"},
           {R"({"defaultAction":"SCMP_ACT_NOPE"})", "unknown action"},
           {R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]})",
            "not supported"},
           {R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"action":"SCMP_ACT_ERRNO"}]})", "syscalls[0].names"},
           {R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ERRNO"}]})",
            "either name or names"},
           {R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"op":"SCMP_CMP_EQ"}]}]})",
            "syscalls[0].args[0].index"},
           {R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"op":"EQ"}]}]})",
            "unknown comparison"},
           {R"({"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]})",
            "not both"},
           {R"({"defaultAction":"SCMP_ACT_ALLOW","architectures":["x86_64"]})", "unknown architecture"},
           {R"({"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/x.sock"})", "listenerPath"},
           {R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["a"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"five"}}]})",
            "minKernel"},
           {R"({"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":-1})", "defaultErrnoRet"},
       }) {
    auto p = parse_seccomp_profile(c.profile);
    ASSERT_FALSE(p.ok()) << c.profile;
    EXPECT_EQ(p.status().code(), Code::kInvalidArgument);
    EXPECT_NE(p.status().message().find(c.says), std::string::npos) << c.profile << " -> " << p.status().message();
  }
  std::string deep(100000, '[');
  auto p = parse_seccomp_profile(deep);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("deep"), std::string::npos);
}

TEST(Seccomp, LoadingCachesAndNamesTheFileItCannotUse) {
  namespace fs = std::filesystem;
  const std::string dir = fs::temp_directory_path() / ("shoal-seccomp-test-" + std::to_string(getpid()));
  fs::create_directories(dir);
  auto missing = load_seccomp_profile(dir + "/none.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(dir + "/none.json"), std::string::npos);
  EXPECT_NE(missing.status().message().find("golang-github-containers-common"), std::string::npos);
  std::ofstream(dir + "/bad.json") << R"({"defaultAction": 3})";
  auto bad = load_seccomp_profile(dir + "/bad.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("malformed"), std::string::npos) << bad.status().message();
  std::ofstream(dir + "/good.json") << kProfile;
  auto first = load_seccomp_profile(dir + "/good.json");
  ASSERT_TRUE(first.ok()) << first.status().message();
  fs::remove(dir + "/good.json");
  auto second = load_seccomp_profile(dir + "/good.json");
  ASSERT_TRUE(second.ok()) << "parsed once, then served from the cache";
  EXPECT_EQ(first->get(), second->get());
  fs::remove_all(dir);
}

TEST(Seccomp, TheInstalledDefaultProfileTranslates) {
  SHOAL_REQUIRE_DEFAULT_SECCOMP_PROFILE();
  auto p = load_seccomp_profile();
  ASSERT_TRUE(p.ok()) << p.status().message();
  std::vector<std::string> caps = {"CAP_CHOWN", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE"};
  json oci = to_oci_seccomp(**p, caps, {"amd64", 6, 1});
  EXPECT_EQ(oci["defaultAction"], "SCMP_ACT_ERRNO");
  EXPECT_EQ(oci["architectures"][0], "SCMP_ARCH_X86_64");
  auto all = names(oci);
  auto has = [&](const std::string& n) { return std::find(all.begin(), all.end(), n) != all.end(); };
  EXPECT_TRUE(has("read:SCMP_ACT_ALLOW"));
  EXPECT_TRUE(has("chroot:SCMP_ACT_ALLOW")) << "CAP_SYS_CHROOT is held";
  EXPECT_FALSE(has("chroot:SCMP_ACT_ERRNO"));
  EXPECT_TRUE(has("bpf:SCMP_ACT_ERRNO")) << "CAP_SYS_ADMIN is not held";
  EXPECT_FALSE(has("bpf:SCMP_ACT_ALLOW"));
  EXPECT_FALSE(has("sync_file_range2:SCMP_ACT_ALLOW")) << "ppc64le only";
  for (const auto& r : oci["syscalls"]) {
    EXPECT_FALSE(r.contains("comment"));
    EXPECT_FALSE(r.contains("includes"));
  }
}

}  // namespace
}  // namespace shoal::runtime
