// RegistryClient and ImagePuller against a fake OCI registry served by our
// own http::Server on loopback (plain http, as loopback registries are):
// manifest list platform pick, digest and size checks, bearer and basic auth,
// hostile manifests, readable errors, a pull into a real ImageStore.
#include "agent/registry_client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <fstream>
#include <map>
#include <mutex>

#include <nlohmann/json.hpp>

#include "agent/image_puller.h"
#include "agent/runtime/image_store.h"
#include "agent/runtime/layer.h"
#include "agent/runtime/test_tar.h"
#include "agent/stall_server_test_util.h"
#include "common/base64.h"
#include "http/server.h"

namespace shoal::agent {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string digest_of(const std::string& s) { return "sha256:" + runtime::sha256_hex(s); }

// A registry: blobs and manifests by path, optional auth.
class FakeRegistry {
 public:
  enum class Auth { kNone, kBearer, kBasic };

  FakeRegistry() {
    http::ServerOptions o;
    o.listen = {"tcp://127.0.0.1:0"};
    server_ = std::make_unique<http::Server>(o, [this](http::Exchange ex) { serve(std::move(ex)); });
    EXPECT_TRUE(server_->start().ok());
    port_ = server_->bound_ports().at(0);
  }
  std::string domain() const { return "127.0.0.1:" + std::to_string(port_); }

  void put_blob(const std::string& repo, const std::string& bytes) {
    std::lock_guard lk(mu_);
    paths_["/v2/" + repo + "/blobs/" + digest_of(bytes)] = {bytes, ""};
  }
  // Served under the tag and under its digest.
  std::string put_manifest(const std::string& repo, const std::string& tag, const json& m) {
    std::string text = m.dump();
    std::string media = m.value("mediaType", std::string(runtime_media()));
    std::lock_guard lk(mu_);
    paths_["/v2/" + repo + "/manifests/" + tag] = {text, media};
    paths_["/v2/" + repo + "/manifests/" + digest_of(text)] = {text, media};
    return digest_of(text);
  }
  void put_raw(const std::string& path, const std::string& body) {
    std::lock_guard lk(mu_);
    paths_[path] = {body, "application/vnd.oci.image.manifest.v1+json"};
  }
  // `path` answers 307 to `location`.
  void put_redirect(const std::string& path, const std::string& location) {
    std::lock_guard lk(mu_);
    redirects_[path] = location;
  }
  // The Authorization header of the last request for `path` ("-" if none came).
  std::string auth_seen(const std::string& path) {
    std::lock_guard lk(mu_);
    return auth_seen_.count(path) ? auth_seen_[path] : "-";
  }
  void require(Auth a, std::string user = "", std::string password = "") {
    std::lock_guard lk(mu_);
    auth_ = a;
    user_ = std::move(user);
    password_ = std::move(password);
  }
  // The Bearer challenge's realm ("" : this registry's /token).
  void set_realm(std::string url) {
    std::lock_guard lk(mu_);
    realm_ = std::move(url);
  }
  int token_requests() {
    std::lock_guard lk(mu_);
    return token_requests_;
  }
  std::string last_scope() {
    std::lock_guard lk(mu_);
    return last_scope_;
  }

 private:
  static const char* runtime_media() { return "application/vnd.oci.image.manifest.v1+json"; }
  struct Entry {
    std::string body;
    std::string media;
  };

  static std::string basic(const std::string& u, const std::string& p) {
    // What encode_registry_auth does not expose: base64 of "u:p", via the
    // X-Registry-Auth round trip (JSON) is not the same, so spell it here.
    static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string in = u + ":" + p, out;
    for (size_t i = 0; i < in.size(); i += 3) {
      uint32_t n = static_cast<unsigned char>(in[i]) << 16;
      if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
      if (i + 2 < in.size()) n |= static_cast<unsigned char>(in[i + 2]);
      out += k[(n >> 18) & 63];
      out += k[(n >> 12) & 63];
      out += i + 1 < in.size() ? k[(n >> 6) & 63] : '=';
      out += i + 2 < in.size() ? k[n & 63] : '=';
    }
    return "Basic " + out;
  }

  void serve(http::Exchange ex) {
    std::lock_guard lk(mu_);
    const auto& req = ex.request;
    auto reply = [&](int status, std::string body, http::Headers h = {}) {
      http::Response r;
      r.status = status;
      r.body = std::move(body);
      r.headers = std::move(h);
      ex.respond(std::move(r));
    };
    auto given = req.headers.count("Authorization") ? req.headers.at("Authorization") : "";
    auth_seen_[req.path] = given;
    if (req.path == "/token") {
      ++token_requests_;
      last_scope_ = req.query_param("scope").value_or("");
      if (!user_.empty() && given != basic(user_, password_)) {
        return reply(401, R"({"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]})");
      }
      return reply(200, json{{"token", "tok-" + last_scope_}}.dump());
    }
    if (auth_ == Auth::kBearer && given.rfind("Bearer tok-repository:", 0) != 0) {
      return reply(401, R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})",
                   {{"WWW-Authenticate", "Bearer realm=\"" + (realm_.empty() ? "http://" + domain() + "/token" : realm_) +
                                             "\",service=\"fake\",scope=\"repository:" +
                                             req.path.substr(4, req.path.find("/manifests") == std::string::npos
                                                                    ? req.path.find("/blobs") - 4
                                                                    : req.path.find("/manifests") - 4) +
                                             ":pull\""}});
    }
    if (auth_ == Auth::kBasic && given != basic(user_, password_)) {
      return reply(401, R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})",
                   {{"WWW-Authenticate", "Basic realm=\"fake\""}});
    }
    if (auto r = redirects_.find(req.path); r != redirects_.end()) return reply(307, "", {{"Location", r->second}});
    auto it = paths_.find(req.path);
    if (it == paths_.end()) {
      const bool manifest = req.path.find("/manifests/") != std::string::npos;
      return reply(404, manifest ? R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})"
                                 : R"({"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]})");
    }
    http::Headers h;
    if (!it->second.media.empty()) h["Content-Type"] = it->second.media;
    reply(200, it->second.body, h);
  }

  std::unique_ptr<http::Server> server_;
  int port_ = 0;
  std::mutex mu_;
  std::map<std::string, Entry> paths_;
  std::map<std::string, std::string> redirects_, auth_seen_;
  Auth auth_ = Auth::kNone;
  std::string user_, password_;
  int token_requests_ = 0;
  std::string last_scope_;
  std::string realm_;
};

RegistryCredentials login(const std::string& user, const std::string& password) {
  RegistryCredentials c;
  c.username = user;
  c.password = password;
  return c;
}

RegistryOptions for_arch(const std::string& arch) {
  RegistryOptions o;
  o.architecture = arch;
  return o;
}

runtime::testing::TarEntry file(const std::string& path, const std::string& content) {
  runtime::testing::TarEntry e;
  e.path = path;
  e.content = content;
  return e;
}

json desc(const std::string& media, const std::string& bytes) {
  return {{"mediaType", media}, {"digest", digest_of(bytes)}, {"size", bytes.size()}};
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("registry-test-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Reference ref(const std::string& text) {
    auto r = parse_reference(text);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return *r;
  }
  // An image "app" with one layer (a gzip'ed tar holding /hello) and its
  // config; returns the manifest (not yet put).
  json make_image(const std::string& repo, std::string* layer_out = nullptr,
                  const std::string& content = "hi from the registry\n") {
    std::string tar = (dir_ / "layer.tar.gz").string();
    runtime::testing::write_tar_file(tar, {file("hello", content)}, /*gzip=*/true);
    std::string layer = *runtime::read_whole_file(tar);
    std::string diff = "sha256:" + *runtime::sha256_uncompressed(tar);
    json config = {{"architecture", "amd64"},
                   {"os", "linux"},
                   {"config", {{"Cmd", {"sh"}}}},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", {diff}}}}};
    std::string config_text = config.dump();
    reg_.put_blob(repo, config_text);
    reg_.put_blob(repo, layer);
    if (layer_out) *layer_out = layer;
    return {{"schemaVersion", 2},
            {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
            {"config", desc("application/vnd.oci.image.config.v1+json", config_text)},
            {"layers", {desc("application/vnd.oci.image.layer.v1.tar+gzip", layer)}}};
  }

  FakeRegistry reg_;
  fs::path dir_;
  RegistryCredentials none_;
  std::atomic<bool> never_{false};
};

TEST_F(RegistryTest, LoopbackIsPlainHttpOthersHttpsUnlessListed) {
  RegistryOptions o;
  o.insecure = {"lab.example:5000", "10.99.0.0/16"};
  RegistryClient c(o);
  EXPECT_TRUE(c.plain_http("127.0.0.1:5000"));
  EXPECT_TRUE(c.plain_http("localhost:5000"));
  EXPECT_TRUE(c.plain_http("lab.example:5000"));
  EXPECT_TRUE(c.plain_http("10.99.3.4:5000"));
  EXPECT_FALSE(c.plain_http("10.98.3.4:5000"));
  EXPECT_FALSE(c.plain_http("docker.io"));
  EXPECT_FALSE(c.plain_http("lab.example:5001"));
}

// What a remote registry may not send a pull to (a realm or a redirect):
// the node's own loopback and link-local services.
TEST(RegistryLocalOnly, LoopbackAndLinkLocalAreLocal) {
  for (const char* d : {"127.0.0.1:2379", "localhost", "[::1]:5000", "169.254.169.254", "[fe80::1]:80", "127.9.9.9", "0.0.0.0:5000", "[::ffff:127.0.0.1]:2379", "LOCALHOST"})
    EXPECT_TRUE(local_only(d)) << d;
  for (const char* d : {"10.0.0.1:5000", "registry-1.docker.io", "192.168.1.1", "[2001:db8::1]:5000"})
    EXPECT_FALSE(local_only(d)) << d;
}

TEST_F(RegistryTest, AManifestListResolvesToThisPlatform) {
  json amd = make_image("team/app");
  std::string amd_digest = reg_.put_manifest("team/app", "amd-only", amd);
  json arm = amd;
  arm["annotations"] = {{"which", "arm64"}};
  std::string arm_digest = reg_.put_manifest("team/app", "arm-only", arm);
  std::string amd_text = amd.dump(), arm_text = arm.dump();
  json list = {{"schemaVersion", 2},
               {"mediaType", "application/vnd.docker.distribution.manifest.list.v2+json"},
               {"manifests",
                {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"}, {"digest", amd_digest},
                  {"size", amd_text.size()}, {"platform", {{"os", "linux"}, {"architecture", "amd64"}}}},
                 {{"mediaType", "application/vnd.oci.image.manifest.v1+json"}, {"digest", arm_digest},
                  {"size", arm_text.size()}, {"platform", {{"os", "linux"}, {"architecture", "arm64"}}}}}}};
  reg_.put_manifest("team/app", "1.0", list);
  RegistryClient arm64(for_arch("arm64"));
  auto m = arm64.manifest(ref(reg_.domain() + "/team/app:1.0"), none_);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->self.digest, arm_digest);
  RegistryClient amd64(for_arch("amd64"));
  EXPECT_EQ(amd64.manifest(ref(reg_.domain() + "/team/app:1.0"), none_)->self.digest, amd_digest);
  RegistryClient s390(for_arch("s390x"));
  auto none = s390.manifest(ref(reg_.domain() + "/team/app:1.0"), none_);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), Code::kNotFound);
  EXPECT_NE(none.status().message().find("no matching manifest for linux/s390x"), std::string::npos)
      << none.status().message();
  auto top = amd64.inspect(ref(reg_.domain() + "/team/app:1.0"), none_);
  ASSERT_TRUE(top.ok()) << top.status().message();
  EXPECT_EQ(top->descriptor.media_type, "application/vnd.docker.distribution.manifest.list.v2+json");
  ASSERT_EQ(top->platforms.size(), 2u);
  EXPECT_EQ(top->platforms[1].architecture, "arm64");
}

TEST_F(RegistryTest, ABlobIsCheckedAgainstItsDigestAndSize) {
  RegistryClient c;
  reg_.put_blob("x", "the real bytes");
  Descriptor good{"application/octet-stream", digest_of("the real bytes"), 14};
  std::string path = (dir_ / "blob").string();
  int64_t last = 0;
  ASSERT_TRUE(c.fetch_blob(ref(reg_.domain() + "/x"), none_, good, path, [&](int64_t cur, int64_t) { last = cur; },
                           never_)
                  .ok());
  EXPECT_EQ(*runtime::read_whole_file(path), "the real bytes");
  EXPECT_EQ(last, 14);
  // The registry serves other bytes under a digest: refused, no file left.
  reg_.put_raw("/v2/x/blobs/" + digest_of("expected"), "tampered");
  Descriptor bad{"", digest_of("expected"), 8};
  std::string p2 = (dir_ / "blob2").string();
  Status st = c.fetch_blob(ref(reg_.domain() + "/x"), none_, bad, p2, nullptr, never_);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("hashes to " + digest_of("tampered")), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(p2));
  // Longer than its descriptor says: cut off.
  Descriptor short_size{"", digest_of("the real bytes"), 4};
  st = c.fetch_blob(ref(reg_.domain() + "/x"), none_, short_size, p2, nullptr, never_);
  EXPECT_NE(st.message().find("more than the 4 bytes"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(p2));
  // The config blob in memory, the same checks.
  Descriptor cfg{"", digest_of("expected"), 8};
  EXPECT_EQ(c.fetch_json_blob(ref(reg_.domain() + "/x"), none_, cfg).status().code(), Code::kInvalidArgument);
}

TEST_F(RegistryTest, HostileManifestsAreRefused) {
  RegistryOptions o;
  o.max_json_bytes = 4096;
  o.max_blob_bytes = 1 << 20;
  o.max_layers = 2;
  RegistryClient c(o);
  json m = make_image("h");
  auto with = [&](const std::string& tag, const std::function<void(json&)>& change) {
    json copy = m;
    change(copy);
    reg_.put_manifest("h", tag, copy);
    auto r = c.manifest(ref(reg_.domain() + "/h:" + tag), none_);
    return r.ok() ? std::string("ok") : r.status().message();
  };
  EXPECT_EQ(with("fine", [](json&) {}), "ok");
  EXPECT_NE(with("huge", [](json& j) { j["layers"][0]["size"] = int64_t{1} << 40; }).find("more than the limit"),
            std::string::npos);
  EXPECT_NE(with("neg", [](json& j) { j["layers"][0]["size"] = -1; }).find("more than the limit"), std::string::npos);
  EXPECT_NE(with("md5", [](json& j) { j["layers"][0]["digest"] = "md5:abc"; }).find("only sha256"), std::string::npos);
  EXPECT_NE(with("path", [](json& j) { j["config"]["digest"] = "sha256:../../../etc/passwd"; }).find("malformed digest"),
            std::string::npos);
  EXPECT_NE(with("many", [](json& j) { j["layers"] = {j["layers"][0], j["layers"][0], j["layers"][0]}; })
                .find("3 layers, more than the limit of 2"),
            std::string::npos);
  // Each layer within the cap, all of them together not: refused before any download.
  EXPECT_NE(with("sum",
                 [](json& j) {
                   j["layers"][0]["size"] = 600000;
                   j["layers"] = {j["layers"][0], j["layers"][0]};
                 })
                .find("bytes in all"),
            std::string::npos);
  EXPECT_NE(with("foreign",
                 [](json& j) { j["layers"][0]["mediaType"] = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"; })
                .find("foreign layer"),
            std::string::npos);
  EXPECT_NE(with("big", [](json& j) { j["annotations"] = {{"pad", std::string(5000, 'x')}}; }).find("larger than the limit"),
            std::string::npos);
  EXPECT_NE(with("v1", [](json& j) { j = {{"schemaVersion", 1}, {"name", "h"}}; }).find("schema 1"), std::string::npos);
  std::string deep(200, '[');
  reg_.put_raw("/v2/h/manifests/deep", deep + std::string(200, ']'));
  EXPECT_FALSE(c.manifest(ref(reg_.domain() + "/h:deep"), none_).ok());
  // A manifest asked for by digest must hash to it.
  reg_.put_raw("/v2/h/manifests/" + digest_of("something else"), m.dump());
  auto r = c.manifest(ref(reg_.domain() + "/h@" + digest_of("something else")), none_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("corrupt or tampered with"), std::string::npos) << r.status().message();
  // Path-like names never reach the registry: the reference is refused.
  EXPECT_FALSE(parse_reference(reg_.domain() + "/../../v2/x").ok());
  EXPECT_FALSE(parse_reference(reg_.domain() + "/a/./b").ok());
}

TEST_F(RegistryTest, ErrorsSayWhatIsMissingOrUnreachable) {
  RegistryClient c;
  reg_.put_manifest("app", "1", make_image("app"));
  auto missing = c.manifest(ref(reg_.domain() + "/app:nope"), none_);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(missing.status().message(), "manifest for " + reg_.domain() + "/app:nope not found: manifest unknown: manifest unknown");
  // Nothing listens on port 1 of loopback.
  auto down = c.manifest(ref("127.0.0.1:1/app:1"), none_);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), Code::kUnavailable);
  EXPECT_NE(down.status().message().find("the registry http://127.0.0.1:1 is unreachable"), std::string::npos)
      << down.status().message();
  reg_.require(FakeRegistry::Auth::kBasic, "u", "p");
  auto denied = c.manifest(ref(reg_.domain() + "/app:1"), none_);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), Code::kNotFound);
  EXPECT_NE(denied.status().message().find("pull access denied for " + reg_.domain() +
                                           "/app, repository does not exist or may require 'docker login'"),
            std::string::npos)
      << denied.status().message();
  EXPECT_TRUE(c.manifest(ref(reg_.domain() + "/app:1"), login("u", "p")).ok());
}

TEST_F(RegistryTest, BearerTokensAreFetchedFromTheRealmWithTheCredentials) {
  reg_.put_manifest("team/app", "1", make_image("team/app"));
  reg_.require(FakeRegistry::Auth::kBearer, "alice", "secret");
  RegistryClient c;
  auto wrong = c.manifest(ref(reg_.domain() + "/team/app:1"), login("alice", "guess"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), Code::kPermissionDenied);
  EXPECT_NE(wrong.status().message().find("refused the credentials"), std::string::npos) << wrong.status().message();
  RegistryCredentials alice = login("alice", "secret");
  auto m = c.manifest(ref(reg_.domain() + "/team/app:1"), alice);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(reg_.last_scope(), "repository:team/app:pull");
  int tokens = reg_.token_requests();
  // The token is kept for the next requests of that scope.
  EXPECT_TRUE(c.fetch_json_blob(ref(reg_.domain() + "/team/app:1"), alice, m->config).ok());
  EXPECT_EQ(reg_.token_requests(), tokens);
  // ... with those credentials only: a pull without them (a task's, another
  // API client's) does not get alice's token.
  EXPECT_FALSE(c.manifest(ref(reg_.domain() + "/team/app:1"), none_).ok());
  EXPECT_FALSE(c.fetch_json_blob(ref(reg_.domain() + "/team/app:1"), login("alice", "guess"), m->config).ok());
}

TEST_F(RegistryTest, ASmallAnswerMustArriveWithinTheTimeout) {
  reg_.put_manifest("app", "1", make_image("app"));
  RegistryOptions o;
  o.timeout = std::chrono::milliseconds(0);  // every answer is late
  RegistryClient c(o);
  auto m = c.manifest(ref(reg_.domain() + "/app:1"), none_);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kUnavailable);
  EXPECT_NE(m.status().message().find("to send a small answer"), std::string::npos) << m.status().message();
  EXPECT_TRUE(RegistryClient().manifest(ref(reg_.domain() + "/app:1"), none_).ok());
}

// A blob redirected to another host (a CDN) is fetched there, checked the
// same way, and the registry's credentials are not sent along.
TEST_F(RegistryTest, ARedirectToAnotherHostIsFollowedWithoutTheCredentials) {
  FakeRegistry cdn;
  cdn.put_blob("x", "layer bytes");
  const std::string blob = "/v2/x/blobs/" + digest_of("layer bytes");
  reg_.put_redirect(blob, "http://" + cdn.domain() + blob + "?signed=1");
  reg_.require(FakeRegistry::Auth::kBasic, "u", "p");
  RegistryClient c;
  std::string path = (dir_ / "blob").string();
  Descriptor d{"", digest_of("layer bytes"), 11};
  Status st = c.fetch_blob(ref(reg_.domain() + "/x"), login("u", "p"), d, path, nullptr, never_);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(*runtime::read_whole_file(path), "layer bytes");
  EXPECT_EQ(reg_.auth_seen(blob).rfind("Basic ", 0), 0u);  // the registry got the credentials
  EXPECT_EQ(cdn.auth_seen(blob), "");                      // the other host did not
  // Redirected to bytes that are not the blob: refused as any mismatch.
  fs::remove(path);
  cdn.put_raw(blob, "other bytes");
  EXPECT_EQ(c.fetch_blob(ref(reg_.domain() + "/x"), login("u", "p"), d, path, nullptr, never_).code(),
            Code::kInvalidArgument);
  EXPECT_FALSE(fs::exists(path));
}

// The other host's 401 is the answer: its challenge (a realm it picked) is
// not answered with the registry's credentials.
TEST_F(RegistryTest, ARedirectTargetsChallengeGetsNoCredentials) {
  FakeRegistry cdn;
  cdn.require(FakeRegistry::Auth::kBearer);  // realm: the cdn's own /token
  cdn.put_blob("x", "layer bytes");
  const std::string blob = "/v2/x/blobs/" + digest_of("layer bytes");
  reg_.put_redirect(blob, "http://" + cdn.domain() + blob);
  RegistryClient c;
  std::string path = (dir_ / "blob").string();
  Descriptor d{"", digest_of("layer bytes"), 11};
  Status st = c.fetch_blob(ref(reg_.domain() + "/x"), login("u", "p"), d, path, nullptr, never_);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(cdn.token_requests(), 0);
  EXPECT_EQ(cdn.auth_seen("/token"), "-");
  EXPECT_EQ(cdn.auth_seen(blob), "");
}

TEST_F(RegistryTest, ARedirectToPlainHttpOfAnotherHostIsRefused) {
  json m = make_image("app");
  reg_.put_manifest("app", "1", m);
  // Neither loopback nor --insecure-registry: refused before any connection.
  reg_.put_redirect("/v2/app/blobs/" + m["config"]["digest"].get<std::string>(), "http://192.0.2.1:5000/blob");
  RegistryClient c;
  auto mm = c.manifest(ref(reg_.domain() + "/app:1"), none_);
  ASSERT_TRUE(mm.ok()) << mm.status().message();
  auto b = c.fetch_json_blob(ref(reg_.domain() + "/app:1"), none_, mm->config);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("redirected to plain http"), std::string::npos) << b.status().message();
}

TEST_F(RegistryTest, XRegistryAuthRoundTrips) {
  RegistryCredentials in = login("bob", "pw:with:colons");
  auto out = parse_registry_auth(encode_registry_auth(in, "reg:5000"));
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->username, "bob");
  EXPECT_EQ(out->password, "pw:with:colons");
  EXPECT_TRUE(parse_registry_auth("")->empty());
  EXPECT_TRUE(parse_registry_auth("e30=")->empty());  // "{}"
  EXPECT_EQ(parse_registry_auth("!!!").status().code(), Code::kInvalidArgument);
}

// The JSON parser's message quotes what it last read: a broken header's
// error (a 400 answer) must not carry the password.
TEST_F(RegistryTest, ABrokenXRegistryAuthErrorDoesNotQuoteTheHeader) {
  auto r = parse_registry_auth(base64_encode(R"({"username":"bob","password":"hunter2-secret)"));
  ASSERT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message().find("hunter2"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("X-Registry-Auth header is not valid JSON"), std::string::npos)
      << r.status().message();
}

TEST_F(RegistryTest, APullLandsInTheImageStoreAndIsTaggedAndDigested) {
  if (geteuid() != 0) GTEST_SKIP() << "the image store unpacks layers with their owners: needs root";
  std::string digest = reg_.put_manifest("team/app", "1", make_image("team/app"));
  runtime::ImageStore store((dir_ / "store").string());
  ASSERT_TRUE(store.open().ok());
  RegistryClient c;
  ImagePuller puller(store, c);
  std::vector<std::string> statuses;
  auto id = puller.pull(reg_.domain() + "/team/app:1", none_,
                        [&](const PullEvent& e) { statuses.push_back(e.status); }, never_);
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto img = store.resolve(reg_.domain() + "/team/app:1");
  ASSERT_TRUE(img.ok()) << img.status().message();
  EXPECT_EQ(img->info.id, *id);
  ASSERT_EQ(img->layer_dirs.size(), 1u);
  EXPECT_EQ(*runtime::read_whole_file(img->layer_dirs[0] + "/hello"), "hi from the registry\n");
  EXPECT_TRUE(store.resolve(reg_.domain() + "/team/app@" + digest).ok());
  EXPECT_EQ(statuses.back(), "Status: Downloaded newer image for " + reg_.domain() + "/team/app:1");
  // No scratch file left behind.
  EXPECT_TRUE(fs::is_empty(store.scratch_dir()));
  // Again: up to date, nothing downloaded.
  statuses.clear();
  ASSERT_TRUE(puller.pull(reg_.domain() + "/team/app:1", none_, [&](const PullEvent& e) { statuses.push_back(e.status); },
                          never_)
                  .ok());
  EXPECT_EQ(statuses.back(), "Status: Image is up to date for " + reg_.domain() + "/team/app:1");
  // ensure(): present, nothing to do; missing: a readable error naming the image.
  EXPECT_TRUE(puller.ensure(reg_.domain() + "/team/app:1", none_).ok());
  Status st = puller.ensure(reg_.domain() + "/team/app:2", none_);
  EXPECT_EQ(st.code(), Code::kNotFound);
  EXPECT_EQ(st.message().rfind("pulling " + reg_.domain() + "/team/app:2: manifest for", 0), 0u) << st.message();
}

TEST_F(RegistryTest, ALayerThatIsNotItsConfigsDiffIdIsRefusedByTheStore) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (the image store)";
  json m = make_image("t");
  // A second, valid blob swapped in as the layer: its digest matches the
  // manifest, but not the config's diff id.
  std::string other = (dir_ / "other.tar.gz").string();
  runtime::testing::write_tar_file(other, {file("evil", "x")}, true);
  std::string bytes = *runtime::read_whole_file(other);
  reg_.put_blob("t", bytes);
  m["layers"][0] = desc("application/vnd.oci.image.layer.v1.tar+gzip", bytes);
  reg_.put_manifest("t", "1", m);
  runtime::ImageStore store((dir_ / "store").string());
  ASSERT_TRUE(store.open().ok());
  RegistryClient c;
  ImagePuller puller(store, c);
  auto id = puller.pull(reg_.domain() + "/t:1", none_, nullptr, never_);
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.status().message().find("but the image config says"), std::string::npos) << id.status().message();
  EXPECT_FALSE(store.resolve(reg_.domain() + "/t:1").ok());
}


// Every request of a pull takes its cancel (review: only blob downloads
// did; a stop waited up to 30 s for each manifest, config and token fetch):
// against a server that takes the request and never answers, the call ends
// within a second of the flag.
using testing::StallServer;
constexpr auto kCancelDeadline = std::chrono::seconds(3);

TEST_F(RegistryTest, AManifestFetchEndsOnCancel) {
  StallServer stall;
  RegistryClient c;
  std::atomic<bool> cancel{false};
  auto f = std::async(std::launch::async, [&] { return c.manifest(ref(stall.domain() + "/app:1"), none_, &cancel); });
  ASSERT_TRUE(stall.wait_requests(1));
  cancel = true;
  ASSERT_EQ(f.wait_for(kCancelDeadline), std::future_status::ready) << "the manifest fetch ignored its cancel";
  auto m = f.get();
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kUnavailable);
  EXPECT_NE(m.status().message().find("cancelled"), std::string::npos) << m.status().message();
}

TEST_F(RegistryTest, ATokenFetchEndsOnCancel) {
  StallServer realm;
  reg_.put_manifest("app", "1", make_image("app"));
  reg_.require(FakeRegistry::Auth::kBearer);
  reg_.set_realm("http://" + realm.domain() + "/token");
  RegistryClient c;
  std::atomic<bool> cancel{false};
  auto f = std::async(std::launch::async, [&] { return c.manifest(ref(reg_.domain() + "/app:1"), none_, &cancel); });
  ASSERT_TRUE(realm.wait_requests(1));
  cancel = true;
  ASSERT_EQ(f.wait_for(kCancelDeadline), std::future_status::ready) << "the token fetch ignored its cancel";
  auto m = f.get();
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("cancelled"), std::string::npos) << m.status().message();
}

// The image config, redirected to a stalling host (a CDN), through
// ImagePuller::pull: the puller passes its cancel to it too.
TEST_F(RegistryTest, AConfigFetchOfAPullEndsOnCancel) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (the image store)";
  StallServer cdn;
  json m = make_image("app");
  reg_.put_manifest("app", "1", m);
  reg_.put_redirect("/v2/app/blobs/" + m["config"]["digest"].get<std::string>(), "http://" + cdn.domain() + "/cfg");
  runtime::ImageStore store((dir_ / "store").string());
  ASSERT_TRUE(store.open().ok());
  RegistryClient c;
  ImagePuller puller(store, c);
  std::atomic<bool> cancel{false};
  auto f = std::async(std::launch::async, [&] { return puller.pull(reg_.domain() + "/app:1", none_, nullptr, cancel); });
  ASSERT_TRUE(cdn.wait_requests(1));
  cancel = true;
  ASSERT_EQ(f.wait_for(kCancelDeadline), std::future_status::ready) << "the config fetch ignored its cancel";
  auto id = f.get();
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.status().message().find("cancelled"), std::string::npos) << id.status().message();
}

// Pulls run concurrently (review: one at a time per node, so one slow
// image held up every other task's start): while a's layer stalls, b is
// pulled; a second ensure() of a joins the first one's pull (one layer
// request), and both succeed once the layer arrives.
TEST_F(RegistryTest, PullsRunConcurrentlyAndTheSameImageIsPulledOnce) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (the image store)";
  StallServer cdn;
  std::string layer_a;
  json ma = make_image("a", &layer_a, "image a\n");
  reg_.put_manifest("a", "1", ma);
  reg_.put_redirect("/v2/a/blobs/" + ma["layers"][0]["digest"].get<std::string>(), "http://" + cdn.domain() + "/a");
  reg_.put_manifest("b", "1", make_image("b", nullptr, "image b\n"));
  runtime::ImageStore store((dir_ / "store").string());
  ASSERT_TRUE(store.open().ok());
  RegistryClient c;
  ImagePuller puller(store, c);
  std::atomic<bool> cancel{false};
  const std::string a = reg_.domain() + "/a:1", b = reg_.domain() + "/b:1";
  auto first = std::async(std::launch::async, [&] { return puller.ensure(a, none_, &cancel); });
  ASSERT_TRUE(cdn.wait_requests(1));
  auto second = std::async(std::launch::async, [&] { return puller.ensure(a, none_, &cancel); });
  auto other = std::async(std::launch::async, [&] { return puller.ensure(b, none_, &cancel); });
  ASSERT_EQ(other.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "b's pull waited for a's stalled one";
  Status st = other.get();
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_TRUE(store.resolve(b).ok());
  for (int i = 0; i < 500 && puller.shared_pulls() < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(puller.shared_pulls(), 1) << "the second ensure of a did not join the first one's pull";
  cdn.release(layer_a);
  ASSERT_EQ(first.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  ASSERT_EQ(second.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  st = first.get();
  EXPECT_TRUE(st.ok()) << st.message();
  st = second.get();
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(cdn.requests(), 1) << "a's layer was downloaded twice";
  EXPECT_TRUE(store.resolve(a).ok());
}

// A shared pull outlives the caller that started it (review: the first
// caller's cancel, its client gone, failed every waiter's pull): that
// caller returns at once, the other's pull goes on and succeeds. Once every
// caller has cancelled the pull ends, and a later call starts a fresh one.
TEST_F(RegistryTest, ASharedPullEndsOnlyWhenEveryCallerCancelled) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (the image store)";
  StallServer cdn;
  std::string layer_a;
  json ma = make_image("a", &layer_a, "image a\n");
  reg_.put_manifest("a", "1", ma);
  reg_.put_redirect("/v2/a/blobs/" + ma["layers"][0]["digest"].get<std::string>(), "http://" + cdn.domain() + "/a");
  runtime::ImageStore store((dir_ / "store").string());
  ASSERT_TRUE(store.open().ok());
  RegistryClient c;
  ImagePuller puller(store, c);
  std::atomic<bool> cancel1{false}, cancel2{false}, cancel3{false};
  const std::string a = reg_.domain() + "/a:1";
  auto first = std::async(std::launch::async, [&] { return puller.ensure(a, none_, &cancel1); });
  ASSERT_TRUE(cdn.wait_requests(1));
  auto second = std::async(std::launch::async, [&] { return puller.ensure(a, none_, &cancel2); });
  for (int i = 0; i < 500 && puller.shared_pulls() < 1; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(puller.shared_pulls(), 1);
  cancel1 = true;
  ASSERT_EQ(first.wait_for(kCancelDeadline), std::future_status::ready) << "the cancelled caller waited on";
  EXPECT_NE(first.get().message().find("cancelled"), std::string::npos);
  EXPECT_EQ(second.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout)
      << "the first caller's cancel ended the pull the second waits for";
  cancel2 = true;  // now nobody waits: the pull ends
  ASSERT_EQ(second.wait_for(kCancelDeadline), std::future_status::ready);
  EXPECT_NE(second.get().message().find("cancelled"), std::string::npos);
  // A fresh call starts a new pull (not joining the cancelled one) that
  // succeeds, even if the last caller cancels only after it is done.
  auto third = std::async(std::launch::async, [&] { return puller.ensure(a, none_, &cancel3); });
  ASSERT_TRUE(cdn.wait_requests(2));
  auto fourth = std::async(std::launch::async, [&] { return puller.ensure(a, none_); });
  for (int i = 0; i < 500 && puller.shared_pulls() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(puller.shared_pulls(), 2);
  cancel3 = true;  // the third's caller leaves; the fourth still wants it
  ASSERT_EQ(third.wait_for(kCancelDeadline), std::future_status::ready);
  cdn.release(layer_a);
  ASSERT_EQ(fourth.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  Status st = fourth.get();
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_TRUE(store.resolve(a).ok());
}

// At most max_concurrent pulls at once: a second image waits for a turn
// (and gives up on cancel) while the only turn is held by a stalled pull.
TEST_F(RegistryTest, PullsBeyondTheLimitWaitForATurnAndCancel) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (the image store)";
  StallServer stall;
  reg_.put_manifest("b", "1", make_image("b"));
  runtime::ImageStore store((dir_ / "store").string());
  ASSERT_TRUE(store.open().ok());
  RegistryClient c;
  ImagePuller puller(store, c, /*max_concurrent=*/1);
  std::atomic<bool> cancel{false};
  auto first = std::async(std::launch::async, [&] { return puller.ensure(stall.domain() + "/a:1", none_, &cancel); });
  ASSERT_TRUE(stall.wait_requests(1));
  auto other = std::async(std::launch::async, [&] { return puller.ensure(reg_.domain() + "/b:1", none_, &cancel); });
  EXPECT_EQ(other.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout) << "the limit of 1 was not kept";
  cancel = true;
  ASSERT_EQ(first.wait_for(kCancelDeadline), std::future_status::ready);
  ASSERT_EQ(other.wait_for(kCancelDeadline), std::future_status::ready);
  EXPECT_NE(other.get().message().find("cancelled"), std::string::npos);
  EXPECT_FALSE(store.resolve(reg_.domain() + "/b:1").ok());
}

}  // namespace
}  // namespace shoal::agent
