#include "agent/network/dns/listeners.h"

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
  int ns = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns < 0) return errno_status("opening the network namespace " + netns_path, errno);
  Result<ListenerFds> out = internal_error("the namespace thread did not run");
  try {
    std::thread t([&] {
      if (::setns(ns, CLONE_NEWNET) != 0) {
        out = errno_status("joining the network namespace " + netns_path, errno);
        return;
      }
      Status st = bring_lo_up();
      if (!st.ok()) {
        out = st.with_context(netns_path);
        return;
      }
      out = open_listeners(ip, port);
    });
    t.join();
  } catch (const std::system_error& e) {
    out = internal_error("starting a thread to enter " + netns_path + ": " + e.what());
  }
  ::close(ns);
  if (!out.ok()) return out.status().with_context("in " + netns_path);
  return out;
}

}  // namespace shoal::netdns
