// IPv4 addresses and CIDR blocks as plain integers, for IPAM (subnets of the
// default address pool, task addresses, VIPs) and the validation of what a
// client asks for. Host byte order throughout. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace shoal::ipv4 {

struct Cidr {
  uint32_t base = 0;  // network address: the host bits are zero
  int prefix = 0;     // 0..32
  bool operator==(const Cidr&) const = default;
};

// "10.0.1.7" -> address; refuses anything but four decimal octets.
Result<uint32_t> parse_addr(const std::string& s);
// "10.0.1.0/24"; a base with host bits set ("10.0.1.7/24") is refused with
// the canonical form in the message, as is a missing or out-of-range prefix.
Result<Cidr> parse_cidr(const std::string& s);
std::string format(uint32_t addr);
std::string format(const Cidr& c);  // "10.0.1.0/24"

uint32_t mask(int prefix);
inline uint64_t size(const Cidr& c) { return uint64_t{1} << (32 - c.prefix); }
inline uint32_t last(const Cidr& c) { return c.base + static_cast<uint32_t>(size(c) - 1); }
inline bool contains(const Cidr& c, uint32_t addr) { return (addr & mask(c.prefix)) == c.base; }
// True when every address of `inner` is in `outer`.
bool contains(const Cidr& outer, const Cidr& inner);
bool overlaps(const Cidr& a, const Cidr& b);
// The /24 blocks `c` covers (a prefix longer than 24: the one holding it), in
// order. The unit in which the store reserves address space.
std::vector<Cidr> blocks24(const Cidr& c);

}  // namespace shoal::ipv4
