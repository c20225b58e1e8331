#include "daemon/images_routes.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>

#include <nlohmann/json.hpp>

#include "agent/image_puller.h"
#include "agent/registry_client.h"
#include "agent/runtime/image_store.h"
#include "agent/runtime/test_tar.h"
#include "http/client.h"
#include "http/server.h"

namespace shoal::daemon {

TEST(ImageRoutes, OnlyTheUploadRoutesGetTheUploadLimit) {
  runtime::ImageStore images("/nonexistent-rsec");  // limits() only: nothing is opened
  const auto cap = static_cast<uint64_t>(images.limits().max_upload_bytes);
  EXPECT_EQ(image_upload_body_limit(images, "POST", "/images/load"), cap);
  EXPECT_EQ(image_upload_body_limit(images, "POST", "/v1.41/images/create"), cap);
  EXPECT_EQ(image_upload_body_limit(images, "GET", "/v1.41/images/load"), 0u);
  EXPECT_EQ(image_upload_body_limit(images, "POST", "/v1.41/images/json"), 0u);
  EXPECT_EQ(image_upload_body_limit(images, "POST", "/v1.41/services/images/load"), 0u);
  EXPECT_EQ(image_upload_body_limit(images, "POST", "/v1.41x/images/load"), 0u);
  EXPECT_EQ(image_upload_body_limit(images, "POST", "/v/images/load"), 0u);
}

TEST(ImageRoutes, AHugePathIsNotARouteAndIsRejectedQuickly) {
  runtime::ImageStore images("/nonexistent-rsec");
  // std::regex recursed per character of the path (a stack overflow on a long one).
  http::Exchange ex;
  ex.request.method = "GET";
  ex.request.path = "/v1" + std::string(1 << 20, '1') + ".41/images/jsonx";
  bool answered = false;
  ex.respond = [&](http::Response) { answered = true; };
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(serve_image_routes(images, ex));
  EXPECT_FALSE(answered);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(ImageRoutes, AnApiVersionOutOfRangeIsLeftToTheRouter) {
  runtime::ImageStore images("/nonexistent-rsec");
  for (const char* path : {"/v9.99/images/load", "/v1.0/images/create", "/v1.41.0.0.1/images/json"}) {
    http::Exchange ex;
    ex.request.method = "POST";
    ex.request.path = path;
    bool answered = false;
    ex.respond = [&](http::Response) { answered = true; };
    EXPECT_FALSE(serve_image_routes(images, ex)) << path;  // the router's 400 names the version
    EXPECT_FALSE(answered) << path;
  }
}

// An ImageStore in a fresh directory, removed at the end, and a POST to
// /images/create whose answer lands in `got`.
class ImageImportTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(images.open().ok()); }
  http::Exchange import_exchange() {
    http::Exchange ex;
    ex.request.method = "POST";
    ex.request.path = "/v1.41/images/create";
    ex.respond = [this](http::Response r) { got = std::move(r); };
    return ex;
  }
  struct RemovedAtEnd {  // declared first: destroyed after the store
    std::string path;
    ~RemovedAtEnd() { std::filesystem::remove_all(path); }
  } dir{std::filesystem::temp_directory_path() / ("shoal-images-routes-test-" + std::to_string(getpid()))};
  runtime::ImageStore images{dir.path};
  http::Response got;
};

TEST_F(ImageImportTest, AChangeThatIsNotUtf8IsA400) {
  // Found by fuzz/api_fuzz.cc: the config JSON's dump() threw on it (a 500).
  http::Exchange ex = import_exchange();
  ex.request.query = {{"fromSrc", "-"}, {"repo", "x"}, {"changes", "CMD sh \xdc\xdc"}};
  ex.request.body = "not read: the change is refused first";
  EXPECT_TRUE(serve_image_routes(images, ex));
  EXPECT_EQ(got.status, 400);
  EXPECT_NE(got.body.find("not valid UTF-8"), std::string::npos) << got.body;
}

// `docker import --change A --change B` sends two "changes" parameters; each
// is applied (the query map kept only the last, so the first was dropped).
TEST_F(ImageImportTest, EveryChangeParameterIsApplied) {
  http::Exchange ex = import_exchange();
  ex.request.target = "/v1.41/images/create?fromSrc=-&repo=x&changes=CMD+sh+%DC%DC&changes=ENV+A%3D1";
  ex.request.query = http::parse_query(ex.request.target.substr(ex.request.target.find('?') + 1));
  ex.request.body = "not read: the first change is refused";
  EXPECT_TRUE(serve_image_routes(images, ex));
  EXPECT_EQ(got.status, 400) << got.body;
  EXPECT_NE(got.body.find("not valid UTF-8"), std::string::npos) << got.body;
}

// Uploads are written to a 0600 spool file as they arrive, never held in
// memory: the handler gets Request::body_file and an empty body; one over the
// limit is a 413 and leaves no file.
TEST(ImageRoutes, UploadsAreStreamedToAPrivateSpoolFile) {
  namespace fs = std::filesystem;
  std::string dir = fs::temp_directory_path() / ("shoal-spool-test-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string sock = dir + "/api.sock";
  std::mutex mu;
  std::string got_file, got_content;
  size_t got_body = 99;
  unsigned got_mode = 0;
  http::ServerOptions so{{"unix://" + sock}, 1, 2};
  so.route_body_limit = [](const std::string&, const std::string& path) -> uint64_t { return path == "/up" ? 8 << 20 : 0; };
  so.route_body_spool = [&](const std::string& method, const std::string& path) {
    return method == "POST" && path == "/up" ? dir : std::string();
  };
  http::Server server(so, [&](http::Exchange ex) {
    {
      std::lock_guard lk(mu);
      got_file = ex.request.body_file;
      got_body = ex.request.body.size();
      struct stat st {};
      if (!got_file.empty() && stat(got_file.c_str(), &st) == 0) got_mode = st.st_mode & 0777;
      std::ifstream in(got_file, std::ios::binary);
      got_content.assign(std::istreambuf_iterator<char>(in), {});
      if (!got_file.empty()) unlink(got_file.c_str());
    }
    http::Response r;
    r.status = 200;
    ex.respond(r);
  });
  ASSERT_TRUE(server.start().ok());
  http::Client client("unix://" + sock);
  std::string body(3 << 20, 'x');
  body[12345] = 'y';
  auto r = client.request("POST", "/up", body);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->status, 200);
  {
    std::lock_guard lk(mu);
    EXPECT_EQ(got_body, 0u) << "the body was held in memory";
    EXPECT_EQ(got_file.rfind(dir + "/upload-", 0), 0u) << got_file;
    EXPECT_EQ(got_mode, 0600u);
    EXPECT_TRUE(got_content == body);
  }
  // Other routes keep their body in memory.
  r = client.request("POST", "/other", "small");
  ASSERT_TRUE(r.ok());
  {
    std::lock_guard lk(mu);
    EXPECT_TRUE(got_file.empty());
    EXPECT_EQ(got_body, 5u);
  }
  // Over the limit: 413, nothing left in the spool directory.
  r = client.request("POST", "/up", std::string(9 << 20, 'z'));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->status, 413);
  size_t left = 0;
  for (const auto& e : fs::directory_iterator(dir)) left += e.path().filename().string().rfind("upload-", 0) == 0;
  EXPECT_EQ(left, 0u);
  server.stop();
  fs::remove_all(dir);
}

}  // namespace shoal::daemon

namespace shoal::daemon {

// The pull route's input checks answer before any registry is asked; a node
// without a puller says it cannot pull (501), not "empty body".
TEST_F(ImageImportTest, PullRequestsAreCheckedBeforeTheRegistryIsAsked) {
  auto pull = [&](std::map<std::string, std::string> q, agent::ImagePuller* puller = nullptr) {
    http::Exchange ex = import_exchange();
    ex.request.query = std::move(q);
    EXPECT_TRUE(serve_image_routes(images, ex, puller));
    return got;
  };
  auto r = pull({{"fromImage", "busybox"}, {"tag", "latest"}});
  EXPECT_EQ(r.status, 501) << r.body;
  EXPECT_NE(r.body.find("cannot pull images"), std::string::npos) << r.body;
  agent::RegistryClient registry;
  agent::ImagePuller puller(images, registry);
  r = pull({{"fromImage", "busybox:1"}, {"tag", "2"}}, &puller);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("already names a tag or digest"), std::string::npos) << r.body;
  r = pull({{"fromImage", "Bad Name"}}, &puller);
  EXPECT_EQ(r.status, 400) << r.body;
  r = pull({{"fromImage", "busybox"}, {"fromSrc", "-"}}, &puller);
  EXPECT_EQ(r.status, 400) << r.body;
  r = pull({{"fromImage", "127.0.0.1:1/x"}, {"platform", "linux/s390x"}}, &puller);
  EXPECT_EQ(r.status, 501) << r.body;
  // A registry that is not there: the plain error answer, 503, before any stream.
  r = pull({{"fromImage", "127.0.0.1:1/x"}, {"tag", "1"}}, &puller);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("the registry http://127.0.0.1:1 is unreachable"), std::string::npos) << r.body;
}

TEST_F(ImageImportTest, TagInspectAndRemoveAnImage) {
  if (geteuid() != 0) GTEST_SKIP() << "the image store unpacks with owners: needs root";
  std::string tar = dir.path + "/rootfs.tar";
  runtime::testing::TarEntry e;
  e.path = "hello";
  e.content = "hi";
  runtime::testing::write_tar_file(tar, {e});
  auto id = images.import_rootfs(tar, "base:1");
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto call = [&](const std::string& method, const std::string& path, std::map<std::string, std::string> q = {}) {
    http::Exchange ex;
    ex.request.method = method;
    ex.request.path = path;
    ex.request.query = std::move(q);
    ex.respond = [this](http::Response r) { got = std::move(r); };
    EXPECT_TRUE(serve_image_routes(images, ex)) << method << " " << path;
    return got;
  };
  auto r = call("POST", "/v1.41/images/base:1/tag", {{"repo", "reg.example:5000/team/app"}, {"tag", "v2"}});
  EXPECT_EQ(r.status, 201) << r.body;
  r = call("GET", "/v1.41/images/reg.example:5000/team/app:v2/json");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["Id"], *id);
  EXPECT_EQ(j["RepoTags"].size(), 2u);
  EXPECT_EQ(j["RootFS"]["Layers"].size(), 1u);
  r = call("GET", "/v1.41/images/nope:1/json");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("No such image: nope:1"), std::string::npos) << r.body;
  r = call("DELETE", "/v1.41/images/base:1", {{"force", "1"}});
  EXPECT_EQ(r.status, 501) << r.body;
  r = call("DELETE", "/v1.41/images/base:1");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.find("Deleted"), std::string::npos) << r.body;  // still tagged reg.example:5000/team/app:v2
  r = call("DELETE", "/v1.41/images/reg.example:5000/team/app:v2");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"Deleted\":\"" + *id + "\""), std::string::npos) << r.body;
  r = call("POST", "/v1.41/images/x/push");
  EXPECT_EQ(r.status, 501) << r.body;
}

}  // namespace shoal::daemon
