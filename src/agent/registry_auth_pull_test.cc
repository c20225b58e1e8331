// --with-registry-auth on the agent: a task's credentials (Task::registry_auth,
// from its assignment) reach its image pull. A registry on loopback that
// wants basic auth records the Authorization header of each request.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>

#include "agent/image_puller.h"
#include "agent/registry_client.h"
#include "agent/runtime/image_store.h"
#include "agent/runtime_executor.h"
#include "common/base64.h"
#include "http/server.h"
#include "model/session_messages.h"

namespace shoal::agent {
namespace {

namespace fs = std::filesystem;

// 401 with a Basic challenge unless the request carries `want`; a manifest
// it does not have (404) otherwise: enough to see what the pull sent.
class BasicAuthRegistry {
 public:
  explicit BasicAuthRegistry(std::string want) : want_(std::move(want)) {
    http::ServerOptions o;
    o.listen = {"tcp://127.0.0.1:0"};
    server_ = std::make_unique<http::Server>(o, [this](http::Exchange ex) { serve(std::move(ex)); });
    EXPECT_TRUE(server_->start().ok());
  }
  std::string domain() const { return "127.0.0.1:" + std::to_string(server_->bound_ports().at(0)); }
  std::vector<std::string> seen() {
    std::lock_guard lk(mu_);
    return seen_;
  }

 private:
  void serve(http::Exchange ex) {
    std::string given = ex.request.headers.count("Authorization") ? ex.request.headers.at("Authorization") : "";
    {
      std::lock_guard lk(mu_);
      seen_.push_back(given);
    }
    http::Response r;
    if (given != want_) {
      r.status = 401;
      r.body = R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})";
      r.headers["WWW-Authenticate"] = "Basic realm=\"test\"";
    } else {
      r.status = 404;
      r.body = R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})";
    }
    ex.respond(std::move(r));
  }
  std::string want_;
  std::unique_ptr<http::Server> server_;
  std::mutex mu_;
  std::vector<std::string> seen_;
};

// Creates nothing: the pull before create() is what the tests look at.
class NoRuntime : public runtime::Runtime {
 public:
  Status create(const runtime::ContainerConfig&) override { return ok_status(); }
  Status start(const std::string&) override { return ok_status(); }
  Result<runtime::ContainerState> state(const std::string&) override { return not_found("none"); }
  Status stop(const std::string&, std::chrono::nanoseconds) override { return ok_status(); }
  Status kill(const std::string&, int) override { return ok_status(); }
  Status remove(const std::string&) override { return ok_status(); }
  Result<std::vector<runtime::ContainerState>> list() override { return std::vector<runtime::ContainerState>{}; }
  std::string log_path(const std::string&) const override { return ""; }
};

class RegistryAuthPullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("shoal-regauth-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // A task of the image on `registry`, as its assignment set delivers it.
  Task assigned_task(const BasicAuthRegistry& registry, const std::string& auth_header) {
    Task t;
    t.id = "task1";
    t.service_id = "svc1";
    t.service_name = "web";
    t.slot = 1;
    t.spec.container_spec.image = registry.domain() + "/private/app:1";
    session::AssignmentSet set;
    set.tasks.push_back(t);
    if (!auth_header.empty()) set.registry_auth["svc1"] = auth_header;
    return json(set).get<session::AssignmentSet>().tasks.at(0);  // over the wire and back
  }
  fs::path dir_;
};

TEST_F(RegistryAuthPullTest, TheTasksCredentialsReachThePull) {
  BasicAuthRegistry registry("Basic " + base64_encode("alice:s3cr3t"));
  runtime::ImageStore images((dir_ / "images").string());
  RegistryClient client{RegistryOptions{}};
  ImagePuller puller(images, client);
  NoRuntime rt;
  RuntimeExecutor exec(rt, "node1", &puller);
  Task t = assigned_task(registry, encode_registry_auth({"alice", "s3cr3t", ""}, registry.domain()));
  ASSERT_FALSE(t.registry_auth.empty());
  Status st = exec.prepare(t);
  ASSERT_FALSE(st.ok());  // the registry has no such image ...
  EXPECT_NE(st.message().find("manifest unknown"), std::string::npos) << st.message();
  auto seen = registry.seen();
  EXPECT_NE(std::find(seen.begin(), seen.end(), "Basic " + base64_encode("alice:s3cr3t")), seen.end())
      << "the pull never sent the task's credentials";  // ... but the pull got past its auth
}

TEST_F(RegistryAuthPullTest, WithoutThemThePullFailsWithAReadableAuthError) {
  BasicAuthRegistry registry("Basic " + base64_encode("alice:s3cr3t"));
  runtime::ImageStore images((dir_ / "images").string());
  RegistryClient client{RegistryOptions{}};
  ImagePuller puller(images, client);
  NoRuntime rt;
  RuntimeExecutor exec(rt, "node1", &puller);
  Status st = exec.prepare(assigned_task(registry, ""));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message().find("manifest unknown"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("auth"), std::string::npos) << st.message();
  for (const auto& h : registry.seen()) EXPECT_EQ(h.find("Basic"), std::string::npos) << h;
}

// Stored credentials go only to the registry their serveraddress names:
// after `service update --image other/x` (or with none named) the image's
// registry gets an anonymous pull.
TEST_F(RegistryAuthPullTest, CredentialsForAnotherRegistryAreNotSent) {
  BasicAuthRegistry registry("Basic " + base64_encode("alice:s3cr3t"));
  runtime::ImageStore images((dir_ / "images").string());
  RegistryClient client{RegistryOptions{}};
  ImagePuller puller(images, client);
  NoRuntime rt;
  RuntimeExecutor exec(rt, "node1", &puller);
  for (const std::string& server : {std::string("registry.example:5000"), std::string()}) {
    Status st = exec.prepare(assigned_task(registry, encode_registry_auth({"alice", "s3cr3t", ""}, server)));
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.message().find("manifest unknown"), std::string::npos) << st.message();
  }
  ASSERT_FALSE(registry.seen().empty());
  for (const auto& h : registry.seen()) EXPECT_EQ(h.find("Basic"), std::string::npos) << h;
}

TEST(RegistryCredentialsFor, TheServerAddressMustNameTheImagesRegistry) {
  EXPECT_TRUE(credentials_are_for("reg.example:5000", "reg.example:5000"));
  EXPECT_TRUE(credentials_are_for("https://REG.example:5000/v2/", "reg.example:5000"));
  EXPECT_FALSE(credentials_are_for("reg.example:5000", "reg.example"));
  EXPECT_FALSE(credentials_are_for("reg.example", "evil.example"));
  EXPECT_FALSE(credentials_are_for("", "reg.example"));
  for (const char* hub : {"docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/"})
    EXPECT_TRUE(credentials_are_for(hub, "docker.io")) << hub;
}

}  // namespace
}  // namespace shoal::agent
