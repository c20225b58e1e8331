#include "common/log.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "common/time.h"

namespace shoal {

LogLevel log_threshold() {
  static const LogLevel level = [] {
    const char* v = std::getenv("SHOAL_LOG_LEVEL");
    if (!v) return LogLevel::kInfo;
    if (!std::strcmp(v, "debug")) return LogLevel::kDebug;
    if (!std::strcmp(v, "warn")) return LogLevel::kWarn;
    if (!std::strcmp(v, "error")) return LogLevel::kError;
    return LogLevel::kInfo;
  }();
  return level;
}

void log_line(LogLevel level, const std::string& component, const std::string& message) {
  static const char* kNames[] = {"debug", "info", "warn", "error"};
  std::string line = format_rfc3339(std::chrono::system_clock::now()) + " " +
                     kNames[static_cast<int>(level)] + " " + component + ": " + message + "\n";
  // One write per line so concurrent lines do not interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace shoal
