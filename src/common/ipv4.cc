#include "common/ipv4.h"

#include <charconv>

#include "common/json_limits.h"

namespace shoal::ipv4 {

Result<uint32_t> parse_addr(const std::string& s) {
  uint32_t out = 0;
  const char* p = s.data();
  const char* end = s.data() + s.size();
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      if (p == end || *p != '.') return invalid_argument("invalid IPv4 address " + quote_input(s) + ": want four octets like 10.0.1.2");
      ++p;
    }
    if (p == end || *p < '0' || *p > '9' || (*p == '0' && p + 1 != end && p[1] >= '0' && p[1] <= '9')) {
      return invalid_argument("invalid IPv4 address " + quote_input(s) + ": want four octets like 10.0.1.2");
    }
    unsigned v = 0;
    auto [q, ec] = std::from_chars(p, end, v);
    if (ec != std::errc() || v > 255) {
      return invalid_argument("invalid IPv4 address " + quote_input(s) + ": each octet is 0-255");
    }
    out = (out << 8) | v;
    p = q;
  }
  if (p != end) return invalid_argument("invalid IPv4 address " + quote_input(s) + ": want four octets like 10.0.1.2");
  return out;
}

uint32_t mask(int prefix) { return prefix <= 0 ? 0 : prefix >= 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1); }

Result<Cidr> parse_cidr(const std::string& s) {
  auto slash = s.find('/');
  if (slash == std::string::npos) {
    return invalid_argument("invalid subnet " + quote_input(s) + ": want an IPv4 CIDR like 10.0.1.0/24");
  }
  auto addr = parse_addr(s.substr(0, slash));
  if (!addr.ok()) return invalid_argument("invalid subnet " + quote_input(s) + ": " + addr.status().message());
  std::string p = s.substr(slash + 1);
  int prefix = -1;
  auto [q, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
  if (p.empty() || ec != std::errc() || q != p.data() + p.size() || prefix < 0 || prefix > 32) {
    return invalid_argument("invalid subnet " + quote_input(s) + ": the prefix length after / must be 0-32");
  }
  Cidr c{*addr & mask(prefix), prefix};
  if (c.base != *addr) {
    return invalid_argument("invalid subnet " + quote_input(s) + ": it has host bits set; did you mean " + format(c) + "?");
  }
  return c;
}

std::string format(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." + std::to_string((a >> 8) & 255) +
         "." + std::to_string(a & 255);
}

std::string format(const Cidr& c) { return format(c.base) + "/" + std::to_string(c.prefix); }

bool contains(const Cidr& outer, const Cidr& inner) {
  return inner.prefix >= outer.prefix && contains(outer, inner.base);
}

bool overlaps(const Cidr& a, const Cidr& b) { return contains(a, b.base) || contains(b, a.base); }

std::vector<Cidr> blocks24(const Cidr& c) {
  std::vector<Cidr> out;
  if (c.prefix >= 24) {
    out.push_back({c.base & mask(24), 24});
    return out;
  }
  uint64_t n = uint64_t{1} << (24 - c.prefix);
  out.reserve(n);
  for (uint64_t i = 0; i < n; ++i) out.push_back({c.base + static_cast<uint32_t>(i << 8), 24});
  return out;
}

}  // namespace shoal::ipv4
