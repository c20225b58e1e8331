// Time formatting and parsing in the shapes the Docker API uses.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "common/result.h"

namespace shoal {

using SysTimePoint = std::chrono::system_clock::time_point;

// RFC 3339 with nanoseconds in UTC: "2026-11-25T02:56:52.123456789Z".
std::string format_rfc3339(SysTimePoint t);
// Parses RFC 3339 (with or without fraction, 'Z' or +hh:mm offset).
Result<SysTimePoint> parse_rfc3339(const std::string& s);
// Go-style duration text ("1m30s", "500ms", "10s", "1h") <-> nanoseconds.
Result<std::chrono::nanoseconds> parse_go_duration(const std::string& s);
std::string format_go_duration(std::chrono::nanoseconds d);
// "2 minutes ago"-style text as docker prints it ("About a minute", "3 seconds").
std::string human_duration(std::chrono::nanoseconds d);

}  // namespace shoal
