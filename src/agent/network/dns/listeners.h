// The sockets a task's resolver listens on: UDP and TCP on 127.0.0.11:53
// inside the task's network namespace.
//
// Address choice: nothing is added to `lo`. Once `lo` is up the kernel
// gives it 127.0.0.1/8 and routes all of 127.0.0.0/8 locally, so
// 127.0.0.11 is a local address already; open_listeners_in_netns brings
// `lo` up (idempotent) and binds plainly. No IP_FREEBIND: a bind that
// fails tells the agent at once that the namespace cannot reach us,
// instead of a socket that silently never receives.
//
// Namespaces are entered only by a short-lived thread made for the call;
// the caller's thread never changes namespace. Sockets keep the namespace
// they were made in, so the Resolver serves them from its own thread.
// The fds returned are non-blocking and close-on-exec, and belong to the
// caller (hand them to Resolver::add_task, which closes them). Thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace shoal::netdns {

inline constexpr char kResolverAddress[] = "127.0.0.11";
inline constexpr uint16_t kResolverPort = 53;

struct ListenerFds {
  int udp = -1;
  int tcp = -1;       // listening
  uint16_t port = 0;  // the port both are bound to
};

// UDP and TCP listeners on ip:port in the caller's namespace. port 0: a
// free port, the same for both (tests).
Result<ListenerFds> open_listeners(const std::string& ip, uint16_t port);

// open_listeners(ip, port) inside the network namespace at `netns_path`
// (/run/netns/NAME or /proc/PID/ns/net), after bringing its `lo` up.
Result<ListenerFds> open_listeners_in_netns(const std::string& netns_path, const std::string& ip = kResolverAddress,
                                            uint16_t port = kResolverPort);

}  // namespace shoal::netdns
