// The lab's IPv4 subnet: a /24 from 198.18.0.0/15 (RFC 2544's range for
// benchmarking networks, which no real network routes) that overlaps none of
// the host's routes or addresses. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace shoal::lab {

struct Prefix {
  uint32_t addr = 0;  // host byte order
  int len = 0;        // 0..32
};

// "10.1.2.0/24", "10.1.2.3" (/32); "default" is 0.0.0.0/0.
Result<Prefix> parse_prefix(const std::string& text);
std::string format_prefix(const Prefix& p);
std::string format_addr(uint32_t addr);
bool overlaps(const Prefix& a, const Prefix& b);
// The host's IPv4 prefixes from `ip -j -4 route show table all` and
// `ip -j -4 addr show` output (JSON arrays). Default routes are left out:
// they cover everything and say nothing about which networks exist.
Result<std::vector<Prefix>> host_prefixes(const std::string& routes_json, const std::string& addrs_json);
// The first /24 of 198.18.0.0/15 that overlaps none of `taken`; or, when
// `wanted` is given, that /24 (checked the same way: a clash is an error
// naming the host's route).
Result<Prefix> pick_subnet(const std::vector<Prefix>& taken, const std::string& wanted = "");

}  // namespace shoal::lab
