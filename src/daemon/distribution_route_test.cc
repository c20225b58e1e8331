#include "daemon/distribution_route.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/image_puller.h"
#include "agent/registry_client.h"
#include "agent/runtime/image_store.h"
#include "agent/runtime/test_tar.h"
#include "daemon/images_routes.h"

namespace shoal::daemon {
namespace {

std::string sha256_digest(const std::string& s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), md, &n, EVP_sha256(), nullptr);
  std::string out = "sha256:";
  char hex[3];
  for (unsigned int i = 0; i < n; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", md[i]);
    out += hex;
  }
  return out;
}

// A store in a fresh directory; registries named in these tests are on
// 127.0.0.1:1 (nothing listens): no test reaches any network.
class DistributionTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(images.open().ok()); }
  http::Response get(const std::string& name, agent::ImagePuller* p) {
    http::Exchange ex;
    ex.request.method = "GET";
    ex.request.path = "/v1.41/distribution/" + name + "/json";
    ex.respond = [this](http::Response r) { got = std::move(r); };
    EXPECT_TRUE(serve_image_routes(images, ex, p)) << name;
    return got;
  }
  // An imported image named `ref`; its id.
  std::string import(const std::string& ref) {
    std::string tar = dir.path + "/rootfs.tar";
    runtime::testing::TarEntry e;
    e.path = "hello";
    e.content = "hi";
    runtime::testing::write_tar_file(tar, {e});
    auto id = images.import_rootfs(tar, ref);
    EXPECT_TRUE(id.ok()) << id.status().message();
    return id.ok() ? *id : "";
  }
  struct RemovedAtEnd {  // declared first: destroyed after the store
    std::string path;
    ~RemovedAtEnd() { std::filesystem::remove_all(path); }
  } dir{std::filesystem::temp_directory_path() / ("shoal-distribution-test-" + std::to_string(getpid()))};
  runtime::ImageStore images{dir.path};
  agent::RegistryClient registry;
  agent::ImagePuller puller{images, registry};
  http::Response got;
};

TEST_F(DistributionTest, BadNamesUnreachableRegistriesAndNoRegistryClient) {
  auto r = get("Bad Name", &puller);
  EXPECT_EQ(r.status, 400) << r.body;
  r = get("127.0.0.1:1/app:1", &puller);
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_NE(r.body.find("unreachable"), std::string::npos) << r.body;
  r = get("127.0.0.1:1/app:1", nullptr);
  EXPECT_EQ(r.status, 501) << r.body;
}

// Local first: a local image without a registry digest for the name is a
// 404 saying so (the unreachable registry it names is never asked: that
// would be a 502); one with a digest whose manifest the store kept is
// answered from the store.
TEST_F(DistributionTest, ALocalImageIsAnsweredFromTheStoreWithoutTheRegistry) {
  if (geteuid() != 0) GTEST_SKIP() << "the image store unpacks with owners: needs root";
  const std::string id = import("127.0.0.1:1/app:1");
  auto r = get("127.0.0.1:1/app:1", &puller);
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_NE(r.body.find("no registry digest to pin"), std::string::npos) << r.body;
  auto src = images.push_source(id);
  ASSERT_TRUE(src.ok()) << src.status().message();
  const std::string digest = sha256_digest(src->manifest);
  ASSERT_TRUE(images.add_digest(id, "127.0.0.1:1/app@" + digest).ok());
  // Another repository's digest does not count for this name.
  ASSERT_TRUE(images.tag(id, "127.0.0.1:1/other:1").ok());
  EXPECT_EQ(get("127.0.0.1:1/other:1", &puller).status, 404);
  for (const std::string& name : std::vector<std::string>{"127.0.0.1:1/app:1", "127.0.0.1:1/app@" + digest, "127.0.0.1:1/app:1@" + digest}) {
    r = get(name, &puller);
    ASSERT_EQ(r.status, 200) << name << " -> " << r.body;
    auto j = nlohmann::json::parse(r.body);
    EXPECT_EQ(j["Descriptor"]["digest"], digest) << name;
    EXPECT_EQ(j["Descriptor"]["size"], src->manifest.size());
    EXPECT_EQ(j["Descriptor"]["mediaType"], src->manifest_media_type);
    ASSERT_EQ(j["Platforms"].size(), 1u);
    EXPECT_EQ(j["Platforms"][0]["os"], "linux");
  }
}

}  // namespace
}  // namespace shoal::daemon
