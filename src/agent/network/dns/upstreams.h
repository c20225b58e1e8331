// The node's upstream resolvers: the `nameserver` lines of a resolv.conf.
//
// Loopback nameservers (127.0.0.53 of systemd-resolved, a local dnsmasq)
// are kept: the resolver forwards from the agent's own namespace, where
// they are reachable, and cannot loop back into a task's 127.0.0.11 (that
// address is local to each task's namespace, not the node's). IPv6
// nameservers are kept; link-local ones with a zone ("fe80::1%eth0") are
// skipped (no zone handling). At most kMaxUpstreams are used, as glibc's
// MAXNS. Pure functions except read_upstreams (reads a file); thread-safe.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace shoal::netdns {

inline constexpr size_t kMaxUpstreams = 3;

struct Upstream {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;  // "8.8.8.8:53", for logs and tests
};

// The nameservers of a resolv.conf text, each with `port` (53 but in tests).
// Unparsable lines are ignored, as the C library does.
std::vector<Upstream> parse_resolv_conf(std::string_view text, uint16_t port);
// parse_resolv_conf of the file at `path`; an error when it cannot be read.
Result<std::vector<Upstream>> read_upstreams(const std::string& path, uint16_t port);

}  // namespace shoal::netdns
