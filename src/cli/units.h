// Value parsers with the docker CLI's syntax and error texts.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/result.h"

namespace shoal::cli {

// Go duration syntax ("10s", "1m30s", "500ms"); result in nanoseconds.
Result<int64_t> parse_duration_ns(const std::string& s);
// docker's RAMInBytes: "512m", "1g", "1.5GiB", "1024" (bytes); binary multiples.
Result<int64_t> parse_memory_bytes(const std::string& s);
// docker's NanoCPUs: "1.5" -> 1500000000; more than 9 decimals is "too precise".
Result<int64_t> parse_nano_cpus(const std::string& s);
// go-units HumanSize-like byte sizes as `docker images` prints them ("1.24MB").
std::string human_size(double bytes);
// go-units BytesSize (binary, "512MiB") as `service inspect --pretty` prints them.
std::string bytes_size(double bytes);

}  // namespace shoal::cli
