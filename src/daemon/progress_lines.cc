#include "daemon/progress_lines.h"

namespace shoal::daemon {

std::optional<nlohmann::json> ProgressLines::line(const std::string& id, const std::string& status, int64_t current,
                                                  int64_t total) {
  nlohmann::json out = {{"status", status}};
  if (!id.empty()) out["id"] = id;
  if (status != moving_) {
    out["progressDetail"] = nlohmann::json::object();
    return out;
  }
  // At most every 512 KiB and at the end: a large layer is not 10^5 lines.
  if (current != total && last_shown_ >= 0 && current - last_shown_ < (512 << 10)) return std::nullopt;
  last_shown_ = current == total ? -1 : current;
  out["progressDetail"] = {{"current", current}, {"total", total}};
  return out;
}

}  // namespace shoal::daemon
