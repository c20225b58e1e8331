#include "common/seccomp_profile.h"

#include <gtest/gtest.h>

namespace shoal {
namespace {

constexpr char kWhere[] = "TaskTemplate.ContainerSpec.Privileges.Seccomp";
constexpr char kDenyMkdir[] =
    R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]})";

TEST(SeccompOptions, ModesAndProfiles) {
  EXPECT_TRUE(validate_seccomp_options("", "", kWhere).ok());
  EXPECT_TRUE(validate_seccomp_options("default", "", kWhere).ok());
  EXPECT_TRUE(validate_seccomp_options("unconfined", "", kWhere).ok());
  EXPECT_TRUE(validate_seccomp_options("custom", kDenyMkdir, kWhere).ok());
  auto bad_mode = validate_seccomp_options("strict", "", kWhere);
  EXPECT_EQ(bad_mode.code(), Code::kInvalidArgument);
  EXPECT_NE(bad_mode.message().find(std::string(kWhere) + ".Mode"), std::string::npos) << bad_mode.message();
  auto no_profile = validate_seccomp_options("custom", "", kWhere);
  EXPECT_NE(no_profile.message().find(".Profile is empty"), std::string::npos) << no_profile.message();
  auto stray = validate_seccomp_options("default", kDenyMkdir, kWhere);
  EXPECT_NE(stray.message().find("set Mode to custom"), std::string::npos) << stray.message();
  auto broken = validate_seccomp_options("custom", R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"]}]})", kWhere);
  EXPECT_EQ(broken.code(), Code::kInvalidArgument);
  EXPECT_NE(broken.message().find(std::string("invalid ") + kWhere + ".Profile: syscalls[0].action"), std::string::npos)
      << broken.message();
}

TEST(SeccompOptions, AProfileMayComeBase64EncodedAsGoClientsSendIt) {
  // base64 of {"defaultAction":"SCMP_ACT_ALLOW"}
  const std::string b64 = "eyJkZWZhdWx0QWN0aW9uIjoiU0NNUF9BQ1RfQUxMT1cifQ==";
  auto text = seccomp_profile_text(b64);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, R"({"defaultAction":"SCMP_ACT_ALLOW"})");
  EXPECT_TRUE(validate_seccomp_options("custom", b64, kWhere).ok());
  EXPECT_EQ(*seccomp_profile_text("  {\"a\":1}"), "  {\"a\":1}");
  auto junk = validate_seccomp_options("custom", "not*base64", kWhere);
  EXPECT_NE(junk.message().find("neither a JSON object nor base64"), std::string::npos) << junk.message();
}

TEST(SeccompOptions, ErrorsDoNotEchoHugeInput) {
  std::string mode(100000, 'x');
  auto st = validate_seccomp_options(mode, "", kWhere);
  EXPECT_LT(st.message().size(), 300u);
  // A profile that is not JSON: nlohmann's "last read" would quote the whole token.
  st = validate_seccomp_options("custom", "{\"defaultAction\": \"" + std::string(500000, 'a'), kWhere);
  EXPECT_FALSE(st.ok());
  EXPECT_LT(st.message().size(), 600u);
}

}  // namespace
}  // namespace shoal
