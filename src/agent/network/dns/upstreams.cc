#include "agent/network/dns/upstreams.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace shoal::netdns {

std::vector<Upstream> parse_resolv_conf(std::string_view text, uint16_t port) {
  std::vector<Upstream> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line) && out.size() < kMaxUpstreams) {
    std::istringstream words(line);
    std::string key, value;
    if (!(words >> key) || key != "nameserver" || !(words >> value)) continue;
    Upstream u;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&u.addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&u.addr);
    if (inet_pton(AF_INET, value.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(port);
      u.len = sizeof(sockaddr_in);
      u.text = value + ":" + std::to_string(port);
    } else if (inet_pton(AF_INET6, value.c_str(), &v6->sin6_addr) == 1) {
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(port);
      u.len = sizeof(sockaddr_in6);
      u.text = "[" + value + "]:" + std::to_string(port);
    } else {
      continue;  // a zone ("%eth0"), a name, garbage
    }
    out.push_back(std::move(u));
  }
  return out;
}

Result<std::vector<Upstream>> read_upstreams(const std::string& path, uint16_t port) {
  std::ifstream f(path);
  if (!f) return errno_status("reading " + path, errno);
  // Bounded: a resolv.conf is a few lines; a huge file is not one.
  constexpr std::streamsize kMax = 64 * 1024;
  std::string buf(kMax, '\0');
  f.read(buf.data(), kMax);
  buf.resize(static_cast<size_t>(f.gcount()));
  return parse_resolv_conf(buf, port);
}

}  // namespace shoal::netdns
