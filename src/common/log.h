// Minimal leveled logging to stderr: "2026-11-25T02:56:52.123Z level component: message".
// Thread-safe; the level is per Logger instance (no global mutable state beyond stderr).
#pragma once

#include <sstream>
#include <string>

namespace shoal {

enum class LogLevel { kDebug = 0, kInfo, kWarn, kError };

void log_line(LogLevel level, const std::string& component, const std::string& message);
// Minimum level printed, read once from SHOAL_LOG_LEVEL (debug|info|warn|error).
LogLevel log_threshold();

}  // namespace shoal

#define SHOAL_LOG(level, component, expr)                                   \
  do {                                                                      \
    if (static_cast<int>(level) >= static_cast<int>(::shoal::log_threshold())) { \
      std::ostringstream _os;                                               \
      _os << expr;                                                          \
      ::shoal::log_line(level, component, _os.str());                       \
    }                                                                       \
  } while (0)
#define LOG_DEBUG(c, e) SHOAL_LOG(::shoal::LogLevel::kDebug, c, e)
#define LOG_INFO(c, e) SHOAL_LOG(::shoal::LogLevel::kInfo, c, e)
#define LOG_WARN(c, e) SHOAL_LOG(::shoal::LogLevel::kWarn, c, e)
#define LOG_ERROR(c, e) SHOAL_LOG(::shoal::LogLevel::kError, c, e)
