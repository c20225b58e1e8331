#include "daemon/images_routes.h"

#include <gtest/gtest.h>

#include <chrono>

#include "agent/runtime/image_store.h"

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

}  // namespace shoal::daemon
