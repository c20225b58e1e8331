// --with-registry-auth: the X-Registry-Auth header checked, kept sealed in
// the service's stored-only field, never in an API answer; kept on an update
// without the header, replaced with it, gone with the service.
#include "manager/api/registry_auth.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "manager/api/api_test_util.h"
#include "manager/ca/sealed.h"

namespace shoal::api {
namespace {

using testing::FakeControl;
using testing::make_request;

constexpr char kPassword[] = "s3cr3t-PASSWORD";
constexpr char kSpec[] = R"({"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"reg:5000/app:1"}},)"
                         R"("Mode":{"Replicated":{"Replicas":1}}})";

std::string header(const std::string& json_text) {
  std::string h = base64_encode(json_text);
  for (char& c : h) c = c == '+' ? '-' : c == '/' ? '_' : c;  // base64url, unpadded: as the docker CLI sends it
  while (!h.empty() && h.back() == '=') h.pop_back();
  return h;
}
std::string creds(const std::string& user, const std::string& password) {
  return header(R"({"username":")" + user + R"(","password":")" + password + R"(","serveraddress":"reg:5000"})");
}

http::Request with_auth(const std::string& h) {
  http::Request r;
  r.headers["X-Registry-Auth"] = h;
  return r;
}

TEST(ReadRegistryAuth, NoHeaderKeepsNoCredentialsClearsCredentialsAreKept) {
  auto none = read_registry_auth(http::Request{});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_FALSE(read_registry_auth(with_auth(""))->has_value());
  for (const char* empty : {"{}", R"({"serveraddress":"reg:5000"})", R"({"username":"","password":""})"}) {
    auto r = read_registry_auth(with_auth(header(empty)));
    ASSERT_TRUE(r.ok() && r->has_value()) << empty;
    EXPECT_EQ((*r)->value, "") << empty;
  }
  std::string h = creds("u", kPassword);
  auto r = read_registry_auth(with_auth(h));
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->value, h);
  auto token = read_registry_auth(with_auth(header(R"({"registrytoken":"tok"})")));
  ASSERT_TRUE(token.ok() && token->has_value());
  EXPECT_FALSE((*token)->value.empty());
}

TEST(ReadRegistryAuth, GarbageIs400WithoutEchoingIt) {
  auto junk = read_registry_auth(with_auth("not base64 at all!"));
  EXPECT_EQ(junk.status().code(), Code::kInvalidArgument);
  EXPECT_NE(junk.status().message().find("not base64: the character at offset 3"), std::string::npos)
      << junk.status().message();
  EXPECT_EQ(junk.status().message().find("at all!"), std::string::npos);
  EXPECT_EQ(read_registry_auth(with_auth(header("[1,2]"))).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(read_registry_auth(with_auth(header(R"({"username":"u","password":)"))).status().code(),
            Code::kInvalidArgument);
  auto number = read_registry_auth(with_auth(header(R"({"username":"u","password":12345})")));
  EXPECT_EQ(number.status().code(), Code::kInvalidArgument);
  EXPECT_NE(number.status().message().find("\"password\" is not a string"), std::string::npos);
  EXPECT_EQ(number.status().message().find("12345"), std::string::npos);
  auto unknown = read_registry_auth(with_auth(header(R"({"username":"u","passwd":"s3cr3t-PASSWORD"})")));
  EXPECT_EQ(unknown.status().code(), Code::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("unknown field \"passwd\""), std::string::npos);
  EXPECT_EQ(unknown.status().message().find(kPassword), std::string::npos);
}

TEST(ReadRegistryAuth, AnIdentityTokenAloneIs501) {
  EXPECT_EQ(read_registry_auth(with_auth(header(R"({"identitytoken":"refresh"})"))).status().code(),
            Code::kUnimplemented);
}

// config.json's form: "auth" = base64("u:p") is kept (the nodes decode it);
// one that is not base64 of user:password is a 400 that does not echo it.
TEST(ReadRegistryAuth, AnAuthFieldAloneIsKeptWhenItIsUserColonPassword) {
  const std::string h = header(R"({"auth":"dTpw"})");  // "u:p"
  auto auth_only = read_registry_auth(with_auth(h));
  ASSERT_TRUE(auth_only.ok()) << auth_only.status().message();
  ASSERT_TRUE(auth_only->has_value());
  EXPECT_EQ((*auth_only)->value, h);
  auto bad = read_registry_auth(with_auth(header(R"({"auth":"bm9jb2xvbg"})")));  // "nocolon"
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("not base64 of user:password"), std::string::npos);
  EXPECT_EQ(bad.status().message().find("bm9jb2xvbg"), std::string::npos);
}

class RegistryAuthApiTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(call("POST", "/v1.41/swarm/init", "{}", "").status, 200); }
  http::Response call(const std::string& method, const std::string& target, const std::string& body,
                      const std::string& auth) {
    http::Request r = make_request(method, target, body);
    if (!auth.empty()) r.headers["X-Registry-Auth"] = auth;
    return api.handle(r);
  }
  std::string create(const std::string& auth) {
    auto r = call("POST", "/v1.41/services/create", kSpec, auth);
    EXPECT_EQ(r.status, 201) << r.body;
    return json::parse(r.body).value("ID", "");
  }
  http::Response update(const std::string& id, const std::string& auth, const std::string& query = "") {
    Service s = *control.store()->find_service(id);
    return call("POST", "/v1.41/services/" + id + "/update?version=" + std::to_string(s.version) + query, kSpec,
                auth);
  }
  Service service(const std::string& id) { return *control.store()->find_service(id); }
  // What the service's stored-only field unseals to ("" when none).
  std::string unsealed(const std::string& id) {
    Service s = service(id);
    if (s.registry_auth_sealed.empty()) return "";
    auto plain = ca::unseal(control.data_key, s.registry_auth_sealed, registry_auth_context(id));
    EXPECT_TRUE(plain.ok()) << plain.status().message();
    return plain.ok() ? *plain : "";
  }
  // Every value etcd would hold, concatenated.
  std::string stored() {
    std::string all;
    auto r = control.backend().range("/", true);
    EXPECT_TRUE(r.ok());
    for (const auto& kv : r->kvs) all += kv.key + "=" + kv.value + "\n";
    return all;
  }
  // Every API answer that shows a service or its tasks.
  std::string answers(const std::string& id) {
    Service s = service(id);
    Task t;
    t.id = "task1aaaaaaaaaaaaaaaaaaaa";
    t.service_id = id;
    t.service_name = s.spec.name;
    t.slot = 1;
    t.spec = s.spec.task_template;
    t.desired_state = TaskState::kRunning;
    Batch b;
    b.create(t);
    control.store()->commit(b);
    std::string all;
    const std::vector<std::string> targets = {"/v1.41/services", "/v1.41/services?status=true",
                                              "/v1.41/services/" + id, "/v1.41/services/" + id + "?insertDefaults=true",
                                              "/v1.41/tasks", "/v1.41/tasks/" + t.id};
    for (const std::string& target : targets) {
      auto r = call("GET", target, "", "");
      EXPECT_EQ(r.status, 200) << target << ": " << r.body;
      all += r.body + "\n";
    }
    return all;
  }

  FakeClock clock;
  FakeControl control{clock};
  Api api{control, nullptr, clock};
};

TEST_F(RegistryAuthApiTest, CreateStoresThemSealedAndNoAnswerShowsThem) {
  std::string h = creds("alice", kPassword);
  std::string id = create(h);
  EXPECT_EQ(unsealed(id), h);
  std::string sealed = service(id).registry_auth_sealed;
  std::string etcd = stored();
  EXPECT_NE(etcd.find("ShoalRegistryAuth"), std::string::npos);  // the stored-only field is there ...
  EXPECT_NE(etcd.find(base64_encode(sealed)), std::string::npos);
  EXPECT_EQ(etcd.find(h), std::string::npos);  // ... sealed: neither the header nor the password in the clear
  EXPECT_EQ(etcd.find(kPassword), std::string::npos);
  std::string shown = answers(id);
  const std::vector<std::string> secrets = {kPassword, h, "ShoalRegistryAuth", base64_encode(sealed), "alice"};
  for (const std::string& secret : secrets) {
    EXPECT_EQ(shown.find(secret), std::string::npos) << secret << " in " << shown;
  }
}

TEST_F(RegistryAuthApiTest, UpdateWithoutTheHeaderKeepsThemWithItReplacesThem) {
  std::string first = creds("alice", kPassword);
  std::string id = create(first);
  ASSERT_EQ(update(id, "").status, 200);
  EXPECT_EQ(unsealed(id), first);  // as Docker: no header, the stored ones stay
  ASSERT_EQ(update(id, "", "&registryAuthFrom=previous-spec").status, 200);
  EXPECT_EQ(unsealed(id), first);
  std::string second = creds("bob", "other-password");
  ASSERT_EQ(update(id, second).status, 200);
  EXPECT_EQ(unsealed(id), second);
  auto bad = update(id, "%%%");
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_EQ(unsealed(id), second);  // a refused update changes nothing
  EXPECT_EQ(update(id, "", "&registryAuthFrom=elsewhere").status, 400);
  ASSERT_EQ(update(id, header("{}")).status, 200);  // a header with no credentials clears them
  EXPECT_EQ(service(id).registry_auth_sealed, "");
}

TEST_F(RegistryAuthApiTest, CreateWithoutThemStoresNoneAndGarbageIsRefused) {
  std::string id = create("");
  EXPECT_EQ(service(id).registry_auth_sealed, "");
  EXPECT_EQ(stored().find("ShoalRegistryAuth"), std::string::npos);
  auto r = call("POST", "/v1.41/services/create", R"({"Name":"other","TaskTemplate":{"ContainerSpec":{"Image":"a"}}})",
                header(R"({"username":"u","password":7})"));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(control.store()->services().size(), 1u);
}

TEST_F(RegistryAuthApiTest, RemovingTheServiceRemovesThem) {
  std::string id = create(creds("alice", kPassword));
  std::string sealed = base64_encode(service(id).registry_auth_sealed);
  ASSERT_EQ(call("DELETE", "/v1.41/services/" + id, "", "").status, 200);
  EXPECT_EQ(stored().find(sealed), std::string::npos);
  EXPECT_EQ(stored().find("ShoalRegistryAuth"), std::string::npos);
}

// A host that keeps no data key refuses credentials instead of keeping them
// in the clear.
class NoKeyControl : public FakeControl {
 public:
  using FakeControl::FakeControl;
  Result<std::string> seal_registry_auth(const std::string& plain, const std::string& context) override {
    return SwarmControl::seal_registry_auth(plain, context);
  }
};

TEST(RegistryAuthNoKey, CredentialsAre501) {
  FakeClock clock;
  NoKeyControl control{clock};
  Api api{control, nullptr, clock};
  ASSERT_EQ(api.handle(make_request("POST", "/v1.41/swarm/init", "{}")).status, 200);
  http::Request r = make_request("POST", "/v1.41/services/create", kSpec);
  r.headers["X-Registry-Auth"] = creds("u", kPassword);
  auto resp = api.handle(r);
  EXPECT_EQ(resp.status, 501) << resp.body;
  EXPECT_NE(resp.body.find("no data key"), std::string::npos) << resp.body;
  EXPECT_TRUE(control.store()->services().empty());
}

// Honesty review: stored credentials are used by the nodes only for the
// registry they name, so they are bound to the image's registry when they
// name none, and refused when they name another.
TEST(RegistryAuthBind, CredentialsAreBoundToTheImagesRegistry) {
  auto decoded = [](const Result<std::string>& r) { return nlohmann::json::parse(*base64_decode(*r)); };
  auto none = bind_registry_auth(header(R"({"username":"u","password":"p"})"), "reg:5000/app:1");
  ASSERT_TRUE(none.ok()) << none.status().message();
  EXPECT_EQ(decoded(none)["serveraddress"], "reg:5000");
  EXPECT_EQ(decoded(none)["password"], "p");
  auto hub = bind_registry_auth(header(R"({"username":"u","password":"p"})"), "busybox");
  EXPECT_EQ(decoded(hub)["serveraddress"], "docker.io");
  const std::string same = creds("u", "p");
  EXPECT_EQ(*bind_registry_auth(same, "reg:5000/app:1"), same) << "naming the image's registry: kept as sent";
  EXPECT_TRUE(bind_registry_auth(header(R"({"username":"u","password":"p","serveraddress":"https://index.docker.io/v1/"})"),
                                 "busybox:latest").ok());
  auto other = bind_registry_auth(same, "other.example/app:1");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), Code::kInvalidArgument);
  EXPECT_NE(other.status().message().find("for the registry reg:5000"), std::string::npos) << other.status().message();
  EXPECT_NE(other.status().message().find("other.example"), std::string::npos);
  EXPECT_EQ(other.status().message().find("p\""), std::string::npos) << "never echoes the credentials";
}

}  // namespace
}  // namespace shoal::api
