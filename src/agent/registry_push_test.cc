// Image push (agent/registry_push.h) against a fake OCI registry on our own
// http::Server (loopback, plain http) that implements the push protocol
// (HEAD blob, POST upload, PATCH parts, PUT ?digest=, PUT manifest) and the
// pull side, so a pushed image is pulled back into another store; plus the
// image store's blob keeping (runtime::ImageStore::push_source).
#include "agent/registry_push.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>
#include <map>
#include <mutex>

#include <nlohmann/json.hpp>

#include "agent/image_puller.h"
#include "agent/runtime/image_store.h"
#include "agent/runtime/layer.h"
#include "agent/runtime/test_tar.h"
#include "http/client.h"
#include "http/server.h"

namespace shoal::agent {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string digest_of(const std::string& s) { return "sha256:" + runtime::sha256_hex(s); }

class PushRegistry {
 public:
  PushRegistry() {
    http::ServerOptions o;
    o.listen = {"tcp://127.0.0.1:0"};
    server_ = std::make_unique<http::Server>(o, [this](http::Exchange ex) { serve(std::move(ex)); });
    EXPECT_TRUE(server_->start().ok());
    domain_ = "127.0.0.1:" + std::to_string(server_->bound_ports().at(0));
  }
  const std::string& domain() const { return domain_; }
  // Requests need "Bearer tok-<scope>" with a scope that allows push.
  void require_bearer(std::string user, std::string password) {
    std::lock_guard lk(mu_);
    bearer_ = true;
    user_ = std::move(user);
    password_ = std::move(password);
  }
  // Upload Locations on `base` ("http://host:port") instead of relative ones.
  void set_upload_base(std::string base) {
    std::lock_guard lk(mu_);
    upload_base_ = std::move(base);
  }
  int blob_uploads() {
    std::lock_guard lk(mu_);
    return uploads_;
  }
  std::string last_scope() {
    std::lock_guard lk(mu_);
    return scope_;
  }

 private:
  void serve(http::Exchange ex) {
    std::lock_guard lk(mu_);
    const auto& req = ex.request;
    auto reply = [&](int status, std::string body = "", http::Headers h = {}) {
      http::Response r;
      r.status = status;
      r.body = std::move(body);
      r.headers = std::move(h);
      ex.respond(std::move(r));
    };
    std::string given = req.headers.count("Authorization") ? req.headers.at("Authorization") : "";
    if (req.path == "/token") {
      scope_ = req.query_param("scope").value_or("");
      std::string want = "Basic " + base64(user_ + ":" + password_);
      if (given != want) return reply(401, R"({"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]})");
      return reply(200, json{{"token", "tok-" + scope_}}.dump());
    }
    if (bearer_ && (given.rfind("Bearer tok-", 0) != 0 || given.find("push") == std::string::npos)) {
      return reply(401, R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})",
                   {{"WWW-Authenticate", "Bearer realm=\"http://" + domain_ + "/token\",service=\"fake\""}});
    }
    const std::string& p = req.path;
    auto blobs_at = p.find("/blobs/");
    auto manifests_at = p.find("/manifests/");
    if (p.rfind("/upload/", 0) == 0) {  // an upload in progress: PATCH parts, PUT to finish
      std::string id = p.substr(8);
      if (!uploads_in_progress_.count(id)) return reply(404, R"({"errors":[{"code":"BLOB_UPLOAD_UNKNOWN"}]})");
      if (req.method == "PATCH") {
        uploads_in_progress_[id] += req.body;
        return reply(202, "", {{"Location", "/upload/" + id}, {"Range", "0-" + std::to_string(uploads_in_progress_[id].size() - 1)}});
      }
      if (req.method == "PUT") {
        std::string data = uploads_in_progress_[id] + req.body;
        std::string digest = req.query_param("digest").value_or("");
        if (digest_of(data) != digest) return reply(400, R"({"errors":[{"code":"DIGEST_INVALID"}]})");
        blobs_[digest] = data;
        uploads_in_progress_.erase(id);
        ++uploads_;
        return reply(201, "", {{"Docker-Content-Digest", digest}});
      }
    }
    if (blobs_at != std::string::npos && p.compare(blobs_at, 16, "/blobs/uploads/") == 0 && req.method == "POST") {
      std::string id = std::to_string(++next_upload_);
      uploads_in_progress_[id] = "";
      return reply(202, "", {{"Location", upload_base_ + "/upload/" + id}});
    }
    if (blobs_at != std::string::npos) {
      std::string digest = p.substr(blobs_at + 7);
      if (!blobs_.count(digest)) return reply(404, R"({"errors":[{"code":"BLOB_UNKNOWN"}]})");
      if (req.method == "HEAD") return reply(200, "", {{"Docker-Content-Digest", digest}});
      return reply(200, blobs_[digest]);
    }
    if (manifests_at != std::string::npos) {
      std::string repo = p.substr(4, manifests_at - 4), which = p.substr(manifests_at + 11);
      if (req.method == "PUT") {
        json m = json::parse(req.body, nullptr, false);
        if (!m.is_object()) return reply(400, R"({"errors":[{"code":"MANIFEST_INVALID"}]})");
        for (const auto& d : m["layers"]) {
          if (!blobs_.count(d["digest"].get<std::string>()))
            return reply(400, R"({"errors":[{"code":"MANIFEST_BLOB_UNKNOWN"}]})");
        }
        std::string media = req.headers.count("Content-Type") ? req.headers.at("Content-Type") : "";
        manifests_[repo + ":" + which] = manifests_[repo + ":" + digest_of(req.body)] = {req.body, media};
        return reply(201, "", {{"Docker-Content-Digest", digest_of(req.body)}});
      }
      auto it = manifests_.find(repo + ":" + which);
      if (it == manifests_.end()) return reply(404, R"({"errors":[{"code":"MANIFEST_UNKNOWN"}]})");
      return reply(200, it->second.first, {{"Content-Type", it->second.second}});
    }
    reply(404);
  }
  static std::string base64(const std::string& in) {
    static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (size_t i = 0; i < in.size(); i += 3) {
      uint32_t n = static_cast<unsigned char>(in[i]) << 16;
      if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
      if (i + 2 < in.size()) n |= static_cast<unsigned char>(in[i + 2]);
      out += k[(n >> 18) & 63];
      out += k[(n >> 12) & 63];
      out += i + 1 < in.size() ? k[(n >> 6) & 63] : '=';
      out += i + 2 < in.size() ? k[n & 63] : '=';
    }
    return out;
  }

  std::unique_ptr<http::Server> server_;
  std::string domain_;
  std::mutex mu_;
  bool bearer_ = false;
  std::string user_, password_, scope_, upload_base_;
  int next_upload_ = 0, uploads_ = 0;
  std::map<std::string, std::string> blobs_, uploads_in_progress_;
  std::map<std::string, std::pair<std::string, std::string>> manifests_;  // repo:tag|digest -> body, type
};

class PushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("shoal-push-test-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // A rootfs tarball with one file.
  std::string rootfs(const std::string& name, const std::string& content) {
    std::string path = (dir_ / (name + ".tar")).string();
    runtime::testing::write_tar_file(path, {{"hello", content}});
    return path;
  }
  // Pushes and returns the progress statuses ("id: status").
  Result<std::string> push(runtime::ImageStore& store, const std::string& name, std::vector<std::string>* lines,
                           const RegistryCredentials& creds = {}, int* http_status = nullptr) {
    SHOAL_ASSIGN_OR_RETURN(PushPlan plan, plan_push(store, name, ""));
    return push_image(store, client_, plan, creds,
                      [&](const PushEvent& e) {
                        if (!e.aux && e.status != "Pushing") lines->push_back((e.id.empty() ? "" : e.id + ": ") + e.status);
                      },
                      never_, http_status);
  }

  fs::path dir_;
  PushRegistry reg_;
  RegistryClient client_;
  std::atomic<bool> never_{false};
};

TEST_F(PushTest, AnImportedImageIsPushedThenPulledBackByTagAndDigest) {
  if (geteuid() != 0) GTEST_SKIP() << "the image store unpacks layers with their owners: needs root";
  runtime::ImageStore a((dir_ / "a").string());
  ASSERT_TRUE(a.open().ok());
  const std::string name = reg_.domain() + "/team/app:1";
  auto id = a.import_rootfs(rootfs("r", "pushed\n"), name);
  ASSERT_TRUE(id.ok()) << id.status().message();
  std::vector<std::string> lines;
  auto digest = push(a, name, &lines);
  ASSERT_TRUE(digest.ok()) << digest.status().message();
  ASSERT_GE(lines.size(), 4u);
  EXPECT_EQ(lines[0], "The push refers to repository [" + reg_.domain() + "/team/app]");
  EXPECT_NE(lines[1].find(": Preparing"), std::string::npos);
  EXPECT_NE(lines[2].find(": Pushed"), std::string::npos);
  EXPECT_EQ(lines.back().rfind("1: digest: " + *digest + " size: ", 0), 0u) << lines.back();
  EXPECT_EQ(reg_.blob_uploads(), 2);  // the layer and the config
  // Recorded as the image's digest, as docker does.
  EXPECT_TRUE(a.resolve(reg_.domain() + "/team/app@" + *digest).ok());
  // Again: everything already there, the same digest.
  lines.clear();
  auto again = push(a, name, &lines);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(*again, *digest);
  EXPECT_NE(lines[2].find(": Layer already exists"), std::string::npos) << lines[2];
  EXPECT_EQ(reg_.blob_uploads(), 2);
  // Another store pulls it by tag and by digest: the same image.
  runtime::ImageStore b((dir_ / "b").string());
  ASSERT_TRUE(b.open().ok());
  ImagePuller puller(b, client_);
  auto pulled = puller.pull(reg_.domain() + "/team/app@" + *digest, {}, nullptr, never_);
  ASSERT_TRUE(pulled.ok()) << pulled.status().message();
  EXPECT_EQ(*pulled, *id);
  auto img = b.resolve(reg_.domain() + "/team/app@" + *digest);
  ASSERT_TRUE(img.ok());
  EXPECT_EQ(*runtime::read_whole_file(img->layer_dirs.at(0) + "/hello"), "pushed\n");
  ASSERT_TRUE(puller.pull(name, {}, nullptr, never_).ok());
  // The pulled image pushes to another repository with the manifest as pulled.
  ASSERT_TRUE(b.tag(name, reg_.domain() + "/other:2").ok());
  lines.clear();
  auto re = push(b, reg_.domain() + "/other:2", &lines);
  ASSERT_TRUE(re.ok()) << re.status().message();
  EXPECT_EQ(*re, *digest);
}

TEST_F(PushTest, BadNamesMissingImagesAndOldImagesAreClearErrors) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (the image store)";
  const std::string name = reg_.domain() + "/old:1";
  {
    runtime::ImageStore a((dir_ / "a").string());
    ASSERT_TRUE(a.open().ok());
    ASSERT_TRUE(a.import_rootfs(rootfs("r", "old\n"), name).ok());
    EXPECT_EQ(plan_push(a, "Bad Name", "").status().code(), Code::kInvalidArgument);
    EXPECT_EQ(plan_push(a, reg_.domain() + "/nope:1", "").status().code(), Code::kNotFound);
    EXPECT_EQ(plan_push(a, reg_.domain() + "/old", "").status().code(), Code::kUnimplemented);  // all tags
    EXPECT_TRUE(plan_push(a, reg_.domain() + "/old", "1").ok());
  }
  // As a store written before blobs were kept: no push records, no blobs.
  fs::remove_all(dir_ / "a/images/push");
  fs::remove_all(dir_ / "a/images/layer-blobs");
  runtime::ImageStore a((dir_ / "a").string());
  ASSERT_TRUE(a.open().ok());
  ASSERT_TRUE(a.resolve(name).ok());  // still readable and runnable
  auto plan = plan_push(a, name, "");
  EXPECT_EQ(plan.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(plan.status().message().find("pull it again or load it again"), std::string::npos) << plan.status().message();
}

TEST_F(PushTest, BearerAuthAsksForPushScopeAndRefusedCredentialsAre401) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (the image store)";
  reg_.require_bearer("alice", "secret");
  runtime::ImageStore a((dir_ / "a").string());
  ASSERT_TRUE(a.open().ok());
  const std::string name = reg_.domain() + "/team/app:1";
  ASSERT_TRUE(a.import_rootfs(rootfs("r", "x\n"), name).ok());
  std::vector<std::string> lines;
  int status = 0;
  auto bad = push(a, name, &lines, {"alice", "wrong", ""}, &status);
  EXPECT_EQ(bad.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(status, 401) << bad.status().message();
  EXPECT_NE(bad.status().message().find("docker login"), std::string::npos) << bad.status().message();
  auto good = push(a, name, &lines, {"alice", "secret", ""});
  ASSERT_TRUE(good.ok()) << good.status().message();
  EXPECT_EQ(reg_.last_scope(), "repository:team/app:pull,push");
}

// Another host (a second listener) that records the Authorization of each
// request and asks for Basic credentials.
class AuthRecorder {
 public:
  AuthRecorder() {
    http::ServerOptions o;
    o.listen = {"tcp://127.0.0.1:0"};
    server_ = std::make_unique<http::Server>(o, [this](http::Exchange ex) {
      {
        std::lock_guard lk(mu_);
        seen_.push_back(ex.request.headers.count("Authorization") ? ex.request.headers.at("Authorization") : "");
      }
      http::Response r;
      r.status = 401;
      r.headers["WWW-Authenticate"] = "Basic realm=\"elsewhere\"";
      ex.respond(std::move(r));
    });
    EXPECT_TRUE(server_->start().ok());
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(server_->bound_ports().at(0)); }
  std::vector<std::string> seen() {
    std::lock_guard lk(mu_);
    return seen_;
  }

 private:
  std::unique_ptr<http::Server> server_;
  std::mutex mu_;
  std::vector<std::string> seen_;
};

// An upload Location on another host:port gets neither the registry's
// token nor, when it answers 401, the credentials.
TEST_F(PushTest, AnUploadLocationElsewhereGetsNoCredentials) {
  AuthRecorder elsewhere;
  reg_.require_bearer("alice", "secret");
  reg_.set_upload_base(elsewhere.base());
  const std::string data = "layer bytes";
  const std::string path = (dir_ / "blob").string();
  std::ofstream(path) << data;
  auto ref = parse_reference(reg_.domain() + "/team/app:1");
  ASSERT_TRUE(ref.ok());
  Descriptor blob{"", digest_of(data), static_cast<int64_t>(data.size())};
  Status st = client_.upload_blob(*ref, {"alice", "secret", ""}, blob, path, nullptr, never_);
  EXPECT_EQ(st.code(), Code::kPermissionDenied) << st.message();
  auto seen = elsewhere.seen();
  ASSERT_FALSE(seen.empty());
  for (const auto& a : seen) EXPECT_EQ(a, "") << "the other host got credentials";
}

// A small push answer (here: the blob check's 404 text) within the timeout.
TEST_F(PushTest, APushAnswerMustArriveWithinTheTimeout) {
  auto ref = parse_reference(reg_.domain() + "/team/app:1");
  ASSERT_TRUE(ref.ok());
  const std::string digest = digest_of("absent");
  RegistryOptions o;
  o.timeout = std::chrono::milliseconds(0);  // every answer is late
  RegistryClient late(o);
  auto r = late.has_blob(*ref, {}, digest, never_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("to send a small answer"), std::string::npos) << r.status().message();
  auto fine = client_.has_blob(*ref, {}, digest, never_);
  ASSERT_TRUE(fine.ok()) << fine.status().message();
  EXPECT_FALSE(*fine);
}

TEST_F(PushTest, AnUnreachableRegistryIsUnavailable) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (the image store)";
  runtime::ImageStore a((dir_ / "a").string());
  ASSERT_TRUE(a.open().ok());
  ASSERT_TRUE(a.import_rootfs(rootfs("r", "x\n"), "127.0.0.1:1/app:1").ok());
  std::vector<std::string> lines;
  auto r = push(a, "127.0.0.1:1/app:1", &lines);
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("unreachable"), std::string::npos) << r.status().message();
}

TEST_F(PushTest, RemovingAnImageFreesTheBlobsNoOtherImageUses) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (the image store)";
  runtime::ImageStore a((dir_ / "a").string());
  ASSERT_TRUE(a.open().ok());
  std::string tar = rootfs("r", "shared\n");
  ASSERT_TRUE(a.import_rootfs(tar, "one:1", {{}, {"a"}}).ok());
  ASSERT_TRUE(a.import_rootfs(tar, "two:1", {{}, {"b"}}).ok());  // another config, the same layer
  const fs::path blobs = dir_ / "a/images/layer-blobs";
  auto count = [&] { return std::distance(fs::directory_iterator(blobs), fs::directory_iterator()); };
  EXPECT_EQ(count(), 1);
  ASSERT_TRUE(a.remove("one:1").ok());
  EXPECT_EQ(count(), 1);  // two:1 still lists it
  ASSERT_TRUE(a.push_source("two:1").ok());
  ASSERT_TRUE(a.remove("two:1").ok());
  EXPECT_EQ(count(), 0);
  EXPECT_TRUE(fs::is_empty(dir_ / "a/images/push"));
}

// An image removed while a push sends its blobs: the removal is refused
// (the push pins it) and the push completes; afterwards it can go.
TEST_F(PushTest, AnImageBeingPushedCannotBeRemovedUntilThePushEnds) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (the image store)";
  runtime::ImageStore a((dir_ / "a").string());
  ASSERT_TRUE(a.open().ok());
  const std::string name = reg_.domain() + "/app:1";
  ASSERT_TRUE(a.import_rootfs(rootfs("r", "x\n"), name).ok());
  auto plan = plan_push(a, name, "");
  ASSERT_TRUE(plan.ok());
  Status removed;
  bool tried = false;
  auto digest = push_image(a, client_, *plan, {},
                           [&](const PushEvent& e) {
                             if (e.status == "Pushing" && !tried) {
                               tried = true;
                               removed = a.remove(name);
                             }
                           },
                           never_);
  ASSERT_TRUE(tried);
  EXPECT_EQ(removed.code(), Code::kFailedPrecondition);
  EXPECT_NE(removed.message().find("in use by a push"), std::string::npos) << removed.message();
  ASSERT_TRUE(digest.ok()) << digest.status().message();
  EXPECT_EQ(reg_.blob_uploads(), 2);
  // A PushSource pins too, until its last copy goes.
  {
    auto src = a.push_source(name);
    ASSERT_TRUE(src.ok());
    runtime::PushSource copy = *src;
    EXPECT_EQ(a.remove(name).code(), Code::kFailedPrecondition);
  }
  EXPECT_TRUE(a.remove(name).ok());
  EXPECT_FALSE(a.resolve(name).ok());
}

// A kept blob cut short (a power loss before its data reached the disk) is
// not trusted: the next image with that layer puts it back whole.
TEST_F(PushTest, AKeptBlobOfTheWrongSizeIsReplaced) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (the image store)";
  runtime::ImageStore a((dir_ / "a").string());
  ASSERT_TRUE(a.open().ok());
  std::string tar = rootfs("r", "shared\n");
  ASSERT_TRUE(a.import_rootfs(tar, "one:1", {{}, {"a"}}).ok());
  const fs::path blobs = dir_ / "a/images/layer-blobs";
  const fs::path blob = fs::directory_iterator(blobs)->path();
  const auto whole = fs::file_size(blob);
  fs::resize_file(blob, 0);
  ASSERT_TRUE(a.import_rootfs(tar, "two:1", {{}, {"b"}}).ok());  // the same layer
  EXPECT_EQ(fs::file_size(blob), whole);
}

}  // namespace
}  // namespace shoal::agent

namespace shoal::agent {
namespace {

// The real registry (Debian docker-registry, the CNCF distribution) on
// loopback, when installed: push, then pull back by digest.
TEST_F(PushTest, ARealDistributionRegistryTakesThePush) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (the image store)";
  if (access("/usr/bin/docker-registry", X_OK) != 0) GTEST_SKIP() << "docker-registry is not installed";
  int port = 0;
  {
    http::ServerOptions o;  // a free port: bind one, note it, let it go
    o.listen = {"tcp://127.0.0.1:0"};
    http::Server probe(o, [](http::Exchange ex) { ex.respond({}); });
    ASSERT_TRUE(probe.start().ok());
    port = probe.bound_ports().at(0);
  }
  const std::string addr = "127.0.0.1:" + std::to_string(port);
  const std::string cfg = (dir_ / "registry.yml").string();
  {
    std::ofstream f(cfg);
    f << "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: " << (dir_ / "reg").string()
      << "\nhttp:\n  addr: " << addr << "\n";
  }
  pid_t pid = fork();
  if (pid == 0) {
    execl("/usr/bin/docker-registry", "docker-registry", "serve", cfg.c_str(), nullptr);
    _exit(127);
  }
  struct Reap {
    pid_t pid;
    ~Reap() {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  } reap{pid};
  http::Client c("http://" + addr);
  bool up = false;
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20); !up && std::chrono::steady_clock::now() < until;) {
    auto r = c.request("GET", "/v2/", "", {}, std::chrono::seconds(2));
    up = r.ok() && r->status == 200;
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling the registry's start, bounded
  }
  ASSERT_TRUE(up) << "docker-registry did not start on " << addr;
  runtime::ImageStore a((dir_ / "a").string());
  ASSERT_TRUE(a.open().ok());
  const std::string name = addr + "/team/app:1";
  auto id = a.import_rootfs(rootfs("r", "real\n"), name);
  ASSERT_TRUE(id.ok()) << id.status().message();
  std::vector<std::string> lines;
  auto digest = push(a, name, &lines);
  ASSERT_TRUE(digest.ok()) << digest.status().message();
  runtime::ImageStore b((dir_ / "b").string());
  ASSERT_TRUE(b.open().ok());
  ImagePuller puller(b, client_);
  auto pulled = puller.pull(addr + "/team/app@" + *digest, {}, nullptr, never_);
  ASSERT_TRUE(pulled.ok()) << pulled.status().message();
  EXPECT_EQ(*pulled, *id);
}

}  // namespace
}  // namespace shoal::agent
