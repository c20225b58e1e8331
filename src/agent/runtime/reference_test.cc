// Image reference normalization as the image store and the API use it.
#include <gtest/gtest.h>

#include "common/image_reference.h"

namespace shoal {
namespace {

std::string familiar(const std::string& ref) {
  auto r = parse_reference(ref);
  return r.ok() ? r->familiar() : "error: " + r.status().message();
}

TEST(Reference, DockerHubNamesNormalize) {
  EXPECT_EQ(familiar("busybox"), "busybox:latest");
  EXPECT_EQ(familiar("busybox:latest"), "busybox:latest");
  EXPECT_EQ(familiar("docker.io/library/busybox:latest"), "busybox:latest");
  EXPECT_EQ(familiar("docker.io/library/busybox:1.36"), "busybox:1.36");
  EXPECT_EQ(familiar("someone/app"), "someone/app:latest");
  auto r = parse_reference("busybox");
  EXPECT_EQ(r->domain, "docker.io");
  EXPECT_EQ(r->path, "library/busybox");
  EXPECT_EQ(r->tag, "latest");
}

TEST(Reference, RegistriesKeepTheirDomain) {
  EXPECT_EQ(familiar("localhost:5000/x"), "localhost:5000/x:latest");
  EXPECT_EQ(familiar("localhost/x:2"), "localhost/x:2");
  EXPECT_EQ(familiar("registry.example.com/team/app:v1.2"), "registry.example.com/team/app:v1.2");
  EXPECT_EQ(parse_reference("localhost:5000/x")->domain, "localhost:5000");
}

TEST(Reference, DigestsAreAccepted) {
  std::string d = "sha256:" + std::string(64, 'a');
  EXPECT_EQ(familiar("busybox@" + d), "busybox@" + d);
  auto r = parse_reference("localhost:5000/x:1@" + d);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->digest, d);
  EXPECT_FALSE(parse_reference("busybox@sha256:abc").ok());
}

TEST(Reference, InvalidReferencesAreRejectedClearly) {
  for (const std::string& bad : std::vector<std::string>{"", "UPPER", "Bad::Image", "a b", "busybox:", "busybox:-x", ":tag", "x//y",
                          "busybox@md5:00", std::string(300, 'a')}) {
    auto r = parse_reference(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("invalid reference format"), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace shoal
