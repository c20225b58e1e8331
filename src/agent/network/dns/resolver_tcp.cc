// Resolver::Impl's TCP clients: accepting, reading length-prefixed queries
// (RFC 1035 4.2.2, pipelined; answers may come out of order, RFC 7766),
// and writing answers without blocking.
// The component's header first: clang 14 reads libstdc++'s __is_signed as a
// keyword when <ldns/ldns.h> (a C header) comes before any C++ header.
#include "agent/network/dns/resolver_impl.h"

#include <ldns/ldns.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>


namespace shoal::netdns {
namespace {

constexpr int kAcceptBurst = 16;
constexpr int kReadBurst = 16;
constexpr size_t kFrameMax = 2 + kMaxTcpQuery;

}  // namespace

void Resolver::Impl::accept_locked(const std::string& task_id, int fd) {
  auto t = tasks.find(task_id);
  if (t == tasks.end()) return;
  for (int i = 0; i < kAcceptBurst; ++i) {
    int c = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN; or out of fds (EMFILE), which the next wakeup retries
    }
    if (conns.size() >= opts.max_tcp_connections ||
        t->second.conns.size() >= opts.max_tcp_connections_per_task) {
      ::close(c);  // over a bound: the client retries or uses UDP
      continue;
    }
    const uint64_t key = add_fd_locked(c, Kind::kTcpClient, task_id, EPOLLIN);
    if (key == 0) {
      ::close(c);
      continue;
    }
    TcpConn& conn = conns[key];
    conn.fd = c;
    conn.task_id = task_id;
    set_deadline_locked(key, conn.deadline, SteadyClock::now() + opts.tcp_idle_timeout);
    t->second.conns.insert(key);
  }
}

void Resolver::Impl::read_conn_locked(uint64_t key, TcpConn& conn) {
  const int fd = conn.fd;
  for (int i = 0; i < kReadBurst && !conn.eof; ++i) {
    // Never more than one frame's worth buffered: leftovers after parsing
    // are an incomplete frame, so the buffer stays under kFrameMax.
    const size_t room = kFrameMax - conn.in.size();
    ssize_t n = ::recv(fd, buf.data(), room, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      close_conn_locked(key);  // reset
      return;
    }
    if (n == 0) {
      conn.eof = true;  // answers still owed are written, then the connection closes
      break;
    }
    conn.in.insert(conn.in.end(), buf.begin(), buf.begin() + n);
    set_deadline_locked(key, conn.deadline, SteadyClock::now() + opts.tcp_idle_timeout);
    const std::string task_id = conn.task_id;
    while (conn.in.size() >= 2) {
      const size_t len = ldns_read_uint16(conn.in.data());
      if (len < LDNS_HEADER_SIZE || len > kMaxTcpQuery) {
        ++stats.dropped;
        close_conn_locked(key);  // refused, and framing is lost: nothing after it can be read
        return;
      }
      if (conn.in.size() < 2 + len) break;
      std::vector<uint8_t> query(conn.in.begin() + 2, conn.in.begin() + 2 + len);
      conn.in.erase(conn.in.begin(), conn.in.begin() + 2 + len);
      handle_query_locked(task_id, query, key, nullptr, 0);
      if (conns.count(key) == 0) return;  // closed while answering (output bound)
    }
  }
  if (conn.eof) {
    epoll_event ev{};
    ev.events = conn.want_write ? uint32_t{EPOLLOUT} : 0u;  // no EPOLLIN: EOF would wake us forever
    ev.data.u64 = key;
    ::epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
    maybe_close_conn_locked(key);
  }
}

void Resolver::Impl::flush_conn_locked(uint64_t key, TcpConn& conn) {
  while (conn.out_off < conn.out.size()) {
    ssize_t n = ::send(conn.fd, conn.out.data() + conn.out_off, conn.out.size() - conn.out_off,
                       MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      close_conn_locked(key);
      return;
    }
    conn.out_off += static_cast<size_t>(n);
  }
  if (conn.out_off == conn.out.size()) {
    conn.out.clear();
    conn.out_off = 0;
  }
  const bool want = !conn.out.empty();
  if (want != conn.want_write) {
    conn.want_write = want;
    epoll_event ev{};
    ev.events = (conn.eof ? 0u : uint32_t{EPOLLIN}) | (want ? uint32_t{EPOLLOUT} : 0u);
    ev.data.u64 = key;
    ::epoll_ctl(epfd, EPOLL_CTL_MOD, conn.fd, &ev);
  }
  if (!want) maybe_close_conn_locked(key);
}

void Resolver::Impl::maybe_close_conn_locked(uint64_t key) {
  auto c = conns.find(key);
  if (c == conns.end()) return;
  const TcpConn& conn = c->second;
  if (conn.eof && conn.pending == 0 && conn.out.empty()) close_conn_locked(key);
}

void Resolver::Impl::close_conn_locked(uint64_t key) {
  auto c = conns.find(key);
  if (c == conns.end()) return;
  clear_deadline_locked(key, c->second.deadline);
  auto t = tasks.find(c->second.task_id);
  if (t != tasks.end()) t->second.conns.erase(key);
  conns.erase(c);
  del_fd_locked(key);
}

}  // namespace shoal::netdns
