#include "lab/subnet.h"

#include <arpa/inet.h>

#include <nlohmann/json.hpp>

namespace shoal::lab {

namespace {

uint32_t mask(int len) { return len == 0 ? 0 : ~uint32_t{0} << (32 - len); }

constexpr uint32_t kRangeStart = (198u << 24) | (18u << 16);  // 198.18.0.0/15
constexpr int kRangeLen = 15;

}  // namespace

Result<Prefix> parse_prefix(const std::string& text) {
  if (text == "default") return Prefix{0, 0};
  std::string addr = text;
  int len = 32;
  if (auto slash = text.find('/'); slash != std::string::npos) {
    addr = text.substr(0, slash);
    std::string l = text.substr(slash + 1);
    if (l.empty() || l.size() > 2 || l.find_first_not_of("0123456789") != std::string::npos || std::stoi(l) > 32) {
      return invalid_argument("invalid prefix length in \"" + text + "\": use 0-32");
    }
    len = std::stoi(l);
  }
  in_addr a;
  if (inet_pton(AF_INET, addr.c_str(), &a) != 1) return invalid_argument("invalid IPv4 address \"" + text + "\"");
  return Prefix{ntohl(a.s_addr) & mask(len), len};
}

std::string format_addr(uint32_t addr) {
  in_addr a{htonl(addr)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::string format_prefix(const Prefix& p) { return format_addr(p.addr) + "/" + std::to_string(p.len); }

bool overlaps(const Prefix& a, const Prefix& b) {
  uint32_t m = mask(std::min(a.len, b.len));
  return (a.addr & m) == (b.addr & m);
}

Result<std::vector<Prefix>> host_prefixes(const std::string& routes_json, const std::string& addrs_json) {
  std::vector<Prefix> out;
  try {
    auto routes = nlohmann::json::parse(routes_json.empty() ? "[]" : routes_json);
    for (const auto& r : routes) {
      std::string dst = r.value("dst", "");
      if (dst.empty() || dst == "default") continue;
      auto p = parse_prefix(dst);
      if (p.ok() && p->len > 0) out.push_back(*p);
    }
    auto links = nlohmann::json::parse(addrs_json.empty() ? "[]" : addrs_json);
    for (const auto& l : links) {
      if (!l.contains("addr_info")) continue;
      for (const auto& a : l["addr_info"]) {
        if (a.value("family", "") != "inet") continue;
        auto p = parse_prefix(a.value("local", "") + "/" + std::to_string(a.value("prefixlen", 32)));
        if (p.ok() && p->len > 0) out.push_back(*p);
      }
    }
  } catch (const std::exception& e) {
    return internal_error(std::string("reading the host's routes (ip -j): ") + e.what());
  }
  return out;
}

Result<Prefix> pick_subnet(const std::vector<Prefix>& taken, const std::string& wanted) {
  auto clash = [&](const Prefix& c) -> const Prefix* {
    for (const auto& t : taken) {
      if (overlaps(c, t)) return &t;
    }
    return nullptr;
  };
  if (!wanted.empty()) {
    SHOAL_ASSIGN_OR_RETURN(Prefix p, parse_prefix(wanted));
    if (p.len != 24) return invalid_argument("lab subnet " + wanted + " must be a /24 (for example 198.18.7.0/24)");
    if (const Prefix* t = clash(p)) {
      return invalid_argument("lab subnet " + wanted + " clashes with the host's network " + format_prefix(*t) +
                              ": choose another with --subnet, or leave it out to pick a free one");
    }
    return p;
  }
  for (uint32_t i = 0; i < (1u << (24 - kRangeLen)); ++i) {
    Prefix c{kRangeStart + (i << 8), 24};
    if (!clash(c)) return c;
  }
  return failed_precondition("every /24 of 198.18.0.0/15 clashes with the host's routes: pass a free /24 with --subnet");
}

}  // namespace shoal::lab
