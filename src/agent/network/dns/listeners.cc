#include "agent/network/dns/listeners.h"

#include "os/netns_file.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <thread>

namespace shoal::netdns {
namespace {

constexpr int kBacklog = 64;
constexpr int kFreePortTries = 16;

Result<int> bound_socket(int type, const sockaddr_in& addr) {
  int fd = ::socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_status("socket", errno);
  int one = 1;
  if (type == SOCK_STREAM) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    ::close(fd);
    return errno_status(std::string("binding a ") + (type == SOCK_STREAM ? "TCP" : "UDP") + " socket", err);
  }
  if (type == SOCK_STREAM && ::listen(fd, kBacklog) != 0) {
    int err = errno;
    ::close(fd);
    return errno_status("listen", err);
  }
  return fd;
}

Status bring_lo_up() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_status("socket for ioctl", errno);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  Status st;
  if (::ioctl(fd, SIOCGIFFLAGS, &ifr) != 0) {
    st = errno_status("reading the flags of lo", errno);
  } else if ((ifr.ifr_flags & IFF_UP) == 0) {
    ifr.ifr_flags |= IFF_UP;
    if (::ioctl(fd, SIOCSIFFLAGS, &ifr) != 0) st = errno_status("bringing lo up", errno);
  }
  ::close(fd);
  return st;
}

}  // namespace

Result<ListenerFds> open_listeners(const std::string& ip, uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) return invalid_argument("not an IPv4 address: " + ip);
  const std::string where = ip + ":" + std::to_string(port);
  for (int attempt = 0;; ++attempt) {
    addr.sin_port = htons(port);
    Result<int> udp = bound_socket(SOCK_DGRAM, addr);
    if (!udp.ok()) return udp.status().with_context("resolver listener on " + where);
    sockaddr_in got{};
    socklen_t len = sizeof(got);
    ::getsockname(*udp, reinterpret_cast<sockaddr*>(&got), &len);
    addr.sin_port = got.sin_port;
    Result<int> tcp = bound_socket(SOCK_STREAM, addr);
    if (tcp.ok()) return ListenerFds{*udp, *tcp, ntohs(got.sin_port)};
    ::close(*udp);
    // With port 0 the UDP port may be taken for TCP: pick another.
    if (port != 0 || attempt + 1 >= kFreePortTries) {
      return tcp.status().with_context("resolver listener on " + where);
    }
  }
}

Result<ListenerFds> open_listeners_in_netns(const std::string& netns_path, const std::string& ip, uint16_t port) {
  // Sockets keep the namespace they were made in: made by a thread that
  // joined the task's namespace, they serve it from any thread.
  Result<ListenerFds> out = internal_error("the namespace thread did not run");
  Status st = os::call_in_netns(netns_path, [&]() -> Status {
    SHOAL_RETURN_IF_ERROR(bring_lo_up());
    out = open_listeners(ip, port);
    return out.status();
  });
  if (!st.ok()) return st.with_context("in " + netns_path);
  return out;
}

}  // namespace shoal::netdns
