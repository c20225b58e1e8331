// Hostile API input: range checks naming the field, versions in the path,
// deep nesting, invalid UTF-8, huge strings, and validators that must run in
// linear time (checked under a deadline). Every case is a 4xx, never a crash.
#include <gtest/gtest.h>

#include <chrono>

#include "common/image_reference.h"
#include "common/json_limits.h"
#include "manager/api/api_test_util.h"
#include "manager/api/validation.h"

namespace shoal::api {
namespace {

using testing::make_request;
using Steady = std::chrono::steady_clock;

// Runs f and expects it to take under `limit`.
template <typename F>
void within(std::chrono::milliseconds limit, F f) {
  auto t0 = Steady::now();
  f();
  EXPECT_LT(Steady::now() - t0, limit);
}

std::string spec(const std::string& container_extra, const std::string& top_extra = "") {
  return R"({"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest")" + container_extra + "}}" +
         top_extra + "}";
}

std::string error_of(const std::string& body) {
  auto r = parse_service_spec(body);
  if (r.ok()) return "";
  return r.status().message();
}

TEST(ApiPathVersion, AcceptsKnownVersionsAndRefusesOthersWithDockersWording) {
  EXPECT_EQ(parse_api_path("/v1.41/info")->path, "/info");
  EXPECT_EQ(parse_api_path("/v1.12/info")->path, "/info");
  EXPECT_EQ(parse_api_path("/version")->path, "/version");  // a route, not a version
  EXPECT_EQ(parse_api_path("/v1.41")->path, "/");
  auto huge = parse_api_path("/v99999999999999/info");
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().message(), "client version 99999999999999 is too new. Maximum supported API version is 1.41");
  EXPECT_FALSE(parse_api_path("/v1.99999999999999999999999/info").ok());
  auto old = parse_api_path("/v1.11/info");
  ASSERT_FALSE(old.ok());
  EXPECT_NE(old.status().message().find("client version 1.11 is too old. Minimum supported API version is 1.12"),
            std::string::npos);
  auto abc = parse_api_path("/vabc/info");
  ASSERT_FALSE(abc.ok());
  EXPECT_EQ(abc.status().code(), Code::kInvalidArgument);
  EXPECT_NE(abc.status().message().find("invalid API version \"abc\""), std::string::npos);
  EXPECT_FALSE(parse_api_path("/v1..2/info").ok());
  EXPECT_FALSE(parse_api_path("/v/info").ok());
  auto longv = parse_api_path("/v" + std::string(100000, '9') + "/info");
  ASSERT_FALSE(longv.ok());
  EXPECT_LT(longv.status().message().size(), 200u);
}

TEST(RangeChecks, StopSignalsAreLinuxSignals) {
  for (const char* ok : {"SIGTERM", "term", "KILL", "15", "64", "SIGRTMIN", "SIGRTMIN+3", "RTMAX-2", "SIGWINCH"}) {
    EXPECT_EQ(error_of(spec(std::string(R"(,"StopSignal":")") + ok + "\"")), "") << ok;
  }
  for (const char* bad : {"SIGFOO", "0", "65", "-1", "999999999999", "SIGRTMIN+31", "RTMAX-31", "SIG"}) {
    std::string e = error_of(spec(std::string(R"(,"StopSignal":")") + bad + "\""));
    EXPECT_NE(e.find("TaskTemplate.ContainerSpec.StopSignal"), std::string::npos) << bad << ": " << e;
  }
  EXPECT_EQ(signal_number("SIGRTMIN+30"), 64);
  EXPECT_EQ(signal_number("sigusr1"), 10);
}

TEST(RangeChecks, PortsAre1To65535) {
  auto ports = [](const std::string& p) { return error_of(spec("", R"(,"EndpointSpec":{"Ports":[)" + p + "]}")); };
  // (Valid ports may still be refused as not implemented yet: no range error.)
  EXPECT_EQ(ports(R"({"TargetPort":80,"PublishedPort":8080})").find("must be"), std::string::npos);
  EXPECT_NE(ports(R"({"TargetPort":65536})").find("EndpointSpec.Ports.TargetPort"), std::string::npos);
  EXPECT_NE(ports(R"({"TargetPort":80,"PublishedPort":70000})").find("PublishedPort"), std::string::npos);
  EXPECT_NE(ports(R"({"TargetPort":-1})").find("TargetPort"), std::string::npos);
  EXPECT_NE(ports(R"({"TargetPort":18446744073709551615})").find("TargetPort"), std::string::npos);
}

TEST(RangeChecks, DurationsAreNonNegativeAndCannotOverflow) {
  struct Case {
    std::string body, field;
  };
  const std::string big = "9223372036854775807", huge = "18446744073709551615";
  std::vector<Case> cases = {
      {spec(R"(,"StopGracePeriod":-1)"), "StopGracePeriod"},
      {spec(R"(,"StopGracePeriod":)" + big), "StopGracePeriod"},
      {spec(R"(,"StopGracePeriod":1.5)"), "StopGracePeriod"},
      {spec(R"(,"StopGracePeriod":1e300)"), "StopGracePeriod"},
      {spec("", R"(,"UpdateConfig":{"Delay":)" + huge + "}"), "UpdateConfig.Delay"},
      {spec("", R"(,"UpdateConfig":{"Monitor":-5})"), "UpdateConfig.Monitor"},
      {spec("", R"(,"RollbackConfig":{"Delay":)" + big + "}"), "RollbackConfig.Delay"},
  };
  for (const auto& c : cases) {
    std::string e = error_of(c.body);
    EXPECT_NE(e.find(c.field), std::string::npos) << c.body << ": " << e;
  }
  std::string rp = R"({"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"busybox"},"RestartPolicy":)";
  EXPECT_NE(error_of(rp + R"({"Delay":-1}}})").find("RestartPolicy.Delay"), std::string::npos);
  EXPECT_NE(error_of(rp + R"({"Window":)" + huge + "}}}").find("RestartPolicy.Window"), std::string::npos);
  EXPECT_NE(error_of(rp + R"({"MaxAttempts":)" + huge + "}}}").find("RestartPolicy.MaxAttempts"), std::string::npos);
  EXPECT_EQ(error_of(rp + R"({"Delay":5000000000,"MaxAttempts":3}}})"), "");
}

TEST(RangeChecks, UsersAndIds) {
  for (const char* ok : {"root", "1000", "1000:1000", "nobody:nogroup", "2147483647"}) {
    EXPECT_EQ(error_of(spec(std::string(R"(,"User":")") + ok + "\"")), "") << ok;
  }
  for (const char* bad : {"2147483648", "1000:4294967296", "a:b:c", ":1", "1:", "99999999999999999999", "a b"}) {
    std::string e = error_of(spec(std::string(R"(,"User":")") + bad + "\""));
    EXPECT_NE(e.find("TaskTemplate.ContainerSpec.User"), std::string::npos) << bad << ": " << e;
  }
}

TEST(RangeChecks, ReplicasAreCapped) {
  auto mode = [](const std::string& n) { return error_of(spec("", R"(,"Mode":{"Replicated":{"Replicas":)" + n + "}}")); };
  EXPECT_EQ(mode("10000"), "");
  EXPECT_NE(mode("10001").find("at most 10000 replicas"), std::string::npos);
  EXPECT_NE(mode("18446744073709551615").find("replicas"), std::string::npos);
  EXPECT_NE(mode("-1").find("non-negative"), std::string::npos);
}

TEST(RangeChecks, CpuLimitsBelowWhatCanBeEnforcedAreRefused) {
  auto limit = [](const std::string& n) {
    return error_of(R"({"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest"},)"
                    R"("Resources":{"Limits":{"NanoCPUs":)" + n + "}}}}");
  };
  EXPECT_EQ(limit("0"), "") << "no limit";
  EXPECT_EQ(limit("10000000"), "") << "0.01 CPU";
  EXPECT_EQ(limit("1500000000"), "");
  EXPECT_NE(limit("9999999").find("below 0.01 CPU"), std::string::npos) << "a quota of 0: runc would not limit: " << limit("9999999");
  EXPECT_NE(limit("1").find("Limits.NanoCPUs"), std::string::npos);
}

TEST(HostileJson, DeepNestingIsA400NotAStackOverflow) {
  std::string deep(1000000, '[');
  auto r = parse_untrusted_json(deep, "the body");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("nested deeper than"), std::string::npos);
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  EXPECT_FALSE(parse_service_spec(objects).ok());
  // Brackets inside strings do not count.
  EXPECT_TRUE(parse_untrusted_json("{\"a\":\"" + std::string(100000, '[') + "\"}", "x").ok());
  EXPECT_TRUE(parse_untrusted_json(std::string(64, '[') + std::string(64, ']'), "x").ok());
}

TEST(HostileJson, InvalidUtf8AndHugeStringsGiveBoundedMessages) {
  std::string bad_utf8 = "{\"Name\":\"" + std::string(200000, 'a') + "\xff\"}";
  auto r = parse_service_spec(bad_utf8);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_LT(r.status().message().size(), 400u) << r.status().message().substr(0, 400);
  std::string long_image = spec("").replace(spec("").find("busybox:latest"), 14, std::string(1000000, 'x'));
  auto s = parse_service_spec(long_image);
  ASSERT_TRUE(s.ok());
  Status st = validate_service_spec(*s);
  EXPECT_FALSE(st.ok());
  EXPECT_LT(st.message().size(), 400u);
  auto n = validate_service_name(std::string(1000000, 'n'));
  EXPECT_LT(n.message().size(), 400u);
  EXPECT_NE(parse_service_spec(R"({"Name":123})").status().message().size(), 0u);
}

TEST(LinearTime, NameAndReferenceValidatorsOnHostileInput) {
  // 62 letters and a '-': exponential backtracking in libstdc++'s regex.
  std::string evil = std::string(62, 'a') + "-";
  within(std::chrono::milliseconds(50), [&] { EXPECT_FALSE(validate_service_name(evil).ok()); });
  within(std::chrono::milliseconds(50), [&] { EXPECT_FALSE(is_dns_label(std::string(100000, 'a') + "-")); });
  within(std::chrono::milliseconds(50), [&] {
    std::string s;
    for (int i = 0; i < 50000; ++i) s += "a-";
    EXPECT_FALSE(is_dns_label(s));
  });
  within(std::chrono::milliseconds(50), [&] { EXPECT_FALSE(parse_reference(evil + "/" + evil + "-").ok()); });
  within(std::chrono::milliseconds(50), [&] { EXPECT_FALSE(parse_reference(std::string(100000, 'a') + "-").ok()); });
  std::string comp(251, 'a');  // a-a-a-...-a
  for (size_t i = 1; i < comp.size(); i += 2) comp[i] = '-';
  within(std::chrono::milliseconds(50), [&] { EXPECT_TRUE(parse_reference(comp).ok()); });
  within(std::chrono::milliseconds(50), [&] { EXPECT_FALSE(parse_reference(comp + "-").ok()); });
  EXPECT_TRUE(is_dns_label("my_web-1"));
  EXPECT_TRUE(is_dns_label("a--_b"));
  EXPECT_FALSE(is_dns_label("-a"));
  EXPECT_FALSE(is_dns_label("a_"));
}

TEST(ImageReference, ScannersKeepDockersGrammar) {
  for (const char* ok : {"busybox", "busybox:1.36", "library/busybox", "localhost:5000/app:v1", "a.b-c/x__y/z---w",
                         "reg.example:443/a/b@sha256:" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}) {
    EXPECT_TRUE(parse_reference(ok).ok()) << ok;
  }
  for (const char* bad : {"Busybox", "a..b", "a___b", "a._b", "-a", "a-", "bad host!/x", "localhost:99999/x",
                          "x:-tag", "x@sha256:abc", ":tag", "a//b"}) {
    EXPECT_FALSE(parse_reference(bad).ok()) << bad;
  }
  EXPECT_EQ(parse_reference("busybox")->familiar(), "busybox:latest");
}

TEST(HostileRequests, EveryOneIsA4xxThroughTheRouter) {
  FakeClock clock;
  testing::FakeControl control{clock};
  Api api{control, nullptr, clock};
  ASSERT_EQ(api.handle(make_request("POST", "/v1.41/swarm/init", "{}")).status, 200);
  std::vector<std::pair<std::string, std::string>> requests = {
      {"/v1.41/services/create", std::string(1000000, '[')},
      {"/v1.41/services/create", "{\"Name\":\"\xc3\x28\"}"},
      {"/v1.41/services/create", spec(R"(,"StopSignal":"SIGNOPE")")},
      {"/v99999999999999/services/create", spec("")},
      {"/vabc/services/create", spec("")},
      {"/v1.41/services/create", R"({"Name":")" + std::string(62, 'a') + R"(-","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}})"},
  };
  for (const auto& [target, body] : requests) {
    auto r = api.handle(make_request("POST", target, body));
    EXPECT_EQ(r.status, 400) << target << " " << r.body.substr(0, 200);
    EXPECT_LT(r.body.size(), 500u);
  }
  auto filters = api.handle(make_request("GET", "/v1.41/services?filters=" + http::url_encode(std::string(100000, '{'))));
  EXPECT_EQ(filters.status, 400) << filters.body.substr(0, 200);
}

}  // namespace
}  // namespace shoal::api
