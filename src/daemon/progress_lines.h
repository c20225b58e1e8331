// The JSON progress lines of POST /images/create and /images/{name}/push,
// as dockerd streams them: {"status", "id", "progressDetail"}; for the
// moving status ("Downloading", "Pushing") {"current", "total"} in
// progressDetail, at most one line per 512 KiB of a layer plus its last.
// Not thread-safe: one per stream.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace shoal::daemon {

class ProgressLines {
 public:
  explicit ProgressLines(std::string moving_status) : moving_(std::move(moving_status)) {}
  // The line for one event, or nullopt when it is thinned out.
  std::optional<nlohmann::json> line(const std::string& id, const std::string& status, int64_t current,
                                     int64_t total);

 private:
  std::string moving_;
  int64_t last_shown_ = -1;
};

}  // namespace shoal::daemon
