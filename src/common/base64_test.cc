#include "common/base64.h"

#include <gtest/gtest.h>

namespace shoal {
namespace {

std::string decoded(std::string_view text) {
  auto r = base64_decode(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().message();
  return r.ok() ? *r : "<error>";
}

// RFC 4648 section 10.
TEST(Base64, TheRfcVectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (auto [plain, coded] : vectors) {
    EXPECT_EQ(base64_encode(plain), coded);
    EXPECT_EQ(decoded(coded), plain);
  }
}

TEST(Base64, EveryByteAndLongTextsRoundTrip) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(decoded(base64_encode(all)), all);
  // Longer than one OpenSSL call's chunk (3 MiB of input), ending unpadded.
  std::string big;
  for (size_t i = 0; big.size() < (3u << 20) + 2; ++i) big += all[(i * 7) % 256];
  std::string coded = base64_encode(big);
  EXPECT_EQ(coded.size(), 4 * ((big.size() + 2) / 3));
  EXPECT_EQ(decoded(coded), big);
}

// As the docker CLI sends X-Registry-Auth: the URL-safe alphabet, and
// padding that other clients leave out.
TEST(Base64, TheUrlSafeAlphabetAndMissingPaddingDecode) {
  std::string bytes = "\xfb\xff\xbf?>";
  EXPECT_EQ(base64_encode(bytes), "+/+/Pz4=");
  EXPECT_EQ(decoded("-_-_Pz4="), bytes);
  EXPECT_EQ(decoded("-_-_Pz4"), bytes);
  EXPECT_EQ(decoded("Zg"), "f");
  EXPECT_EQ(decoded("Zm8"), "fo");
}

TEST(Base64, WhatIsNotBase64IsRefusedSayingWhy) {
  struct Case {
    const char* text;
    const char* says;
  } cases[] = {
      {"not base64 at all!", "offset 3 is in neither"},  // the space
      {"Zm9v\nYmFy", "offset 4"},                        // line breaks too
      {"Zm9v!", "offset 4"},
      {"Zg=v", "offset 2 is '='"},
      {"Zm9v=Zm9v", "offset 4 is '='"},
      {"Zg===", "more than two '='"},
      {"Zg=", "multiple of 4"},
      {"Zm9vY", "4n+1"},
      {"Z", "4n+1"},
      {"=", "multiple of 4"},
  };
  for (const Case& c : cases) {
    auto r = base64_decode(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << c.text;
    EXPECT_NE(r.status().message().find(c.says), std::string::npos) << c.text << ": " << r.status().message();
    if (std::string_view(c.text).size() > 4) {
      EXPECT_EQ(r.status().message().find(c.text), std::string::npos) << "echoes the input: " << r.status().message();
    }
  }
}

}  // namespace
}  // namespace shoal
