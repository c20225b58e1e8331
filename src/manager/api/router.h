// Request paths: the optional "/v1.NN" version prefix and the split into
// parts ("/services/web/update" -> {"services", "web", "update"}).
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace shoal::api {

struct ApiPath {
  std::string path;                // without the version prefix, no trailing '/'
  std::vector<std::string> parts;  // non-empty segments
};

// Versions above 1.41 are refused like Docker does ("client version 1.47 is
// too new. Maximum supported API version is 1.41"), as kInvalidArgument.
Result<ApiPath> parse_api_path(const std::string& path);

}  // namespace shoal::api
