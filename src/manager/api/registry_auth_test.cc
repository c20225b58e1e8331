// --with-registry-auth credentials are refused, not stored and ignored.
#include "manager/api/registry_auth.h"

#include <gtest/gtest.h>

#include "common/base64.h"

namespace shoal::api {
namespace {

http::Request with_auth(const std::string& header) {
  http::Request r;
  r.headers["X-Registry-Auth"] = header;
  return r;
}

TEST(RegistryAuth, CredentialsAreRefusedNothingIsFine) {
  EXPECT_TRUE(refuse_registry_auth(http::Request{}).ok());
  EXPECT_TRUE(refuse_registry_auth(with_auth(base64_encode("{}"))).ok());
  EXPECT_TRUE(refuse_registry_auth(with_auth(base64_encode(R"({"serveraddress":"reg:5000"})"))).ok());
  Status st = refuse_registry_auth(with_auth(base64_encode(R"({"username":"u","password":"p"})")));
  EXPECT_EQ(st.code(), Code::kUnimplemented);
  EXPECT_NE(st.message().find("--with-registry-auth is not supported yet"), std::string::npos) << st.message();
  // base64url without padding, as the docker CLI sends it.
  std::string url = base64_encode(R"({"identitytoken":"t0k"})");
  while (!url.empty() && url.back() == '=') url.pop_back();
  EXPECT_EQ(refuse_registry_auth(with_auth(url)).code(), Code::kUnimplemented);
  Status junk = refuse_registry_auth(with_auth("not base64 at all!"));
  EXPECT_EQ(junk.code(), Code::kInvalidArgument);
  // What is wrong with it, without echoing it.
  EXPECT_NE(junk.message().find("not base64: the character at offset 3"), std::string::npos) << junk.message();
  EXPECT_EQ(junk.message().find("at all!"), std::string::npos) << junk.message();
  EXPECT_EQ(refuse_registry_auth(with_auth(base64_encode("[1,2]"))).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace shoal::api
