#include "cli/registry_login.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/base64.h"

namespace shoal::cli {
namespace {

nlohmann::json decoded(const Result<std::string>& header) {
  EXPECT_TRUE(header.ok()) << header.status().message();
  return nlohmann::json::parse(*base64_decode(*header));
}

TEST(RegistryLogin, TheRegistrysEntryOfDockerLoginsConfig) {
  std::string cfg = R"({"auths":{"other:5000":{"auth":")" + base64_encode("bob:x") + R"("},
                      "https://reg.example:5000":{"auth":")" + base64_encode("alice:pa:ss") + R"("}}})";
  auto j = decoded(registry_auth_from_config("reg.example:5000/app:1", cfg, "config.json"));
  EXPECT_EQ(j["username"], "alice");
  EXPECT_EQ(j["password"], "pa:ss");  // split at the first colon, as Docker does
  EXPECT_EQ(j["serveraddress"], "reg.example:5000");
  auto hub = decoded(registry_auth_from_config(
      "busybox", R"({"auths":{"https://index.docker.io/v1/":{"auth":")" + base64_encode("h:p") + R"("}}})", "c"));
  EXPECT_EQ(hub["username"], "h");
}

TEST(RegistryLogin, NoEntrySendsNoCredentials) {
  auto j = decoded(registry_auth_from_config("reg:5000/app", R"({"auths":{}})", "c"));
  EXPECT_EQ(j, (nlohmann::json{{"serveraddress", "reg:5000"}}));
  EXPECT_EQ(decoded(registry_auth_from_config("reg:5000/app", "", "c")), j);
}

TEST(RegistryLogin, HelpersAndBadFilesAreClearErrors) {
  auto helper = registry_auth_from_config("reg:5000/app", R"({"credsStore":"desktop"})", "/h/config.json");
  EXPECT_EQ(helper.status().code(), Code::kUnimplemented);
  EXPECT_NE(helper.status().message().find("/h/config.json keeps the credentials of reg:5000 in a credential helper"),
            std::string::npos)
      << helper.status().message();
  EXPECT_EQ(registry_auth_from_config("reg:5000/app", "{not json", "c").status().code(), Code::kInvalidArgument);
  auto bad = registry_auth_from_config("reg:5000/app", R"({"auths":{"reg:5000":{"auth":"bm9jb2xvbg=="}}})", "c");
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);  // base64 of "nocolon"
  EXPECT_EQ(registry_auth_from_config("UPPER/case", "", "c").status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace shoal::cli
