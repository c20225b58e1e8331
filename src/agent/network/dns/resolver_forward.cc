// Resolver::Impl's forwarding of queries for names it does not own to the
// node's nameservers: one socket and one random id per attempt, a deadline
// in the timer set, two attempts, then SERVFAIL; SERVFAIL at once past the
// table's or the task's bound (contract in resolver.h).
// The component's header first: clang 14 reads libstdc++'s __is_signed as a
// keyword when <ldns/ldns.h> (a C header) comes before any C++ header.
#include "agent/network/dns/resolver_impl.h"

#include <fcntl.h>
#include <ldns/ldns.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/log.h"

namespace shoal::netdns {
namespace {

constexpr int kAttempts = 2;

uint16_t random_id() {
  uint16_t id = 0;
  // getrandom of two bytes from the initialised pool does not fail or block;
  // if it ever did, a zero id only weakens spoofing resistance.
  if (::getrandom(&id, sizeof(id), 0) != sizeof(id)) id = 0;
  return id;
}

// A non-blocking socket to `up`; the query sent already (UDP) or the
// connect under way (TCP). -1 on failure.
int open_upstream(const Upstream& up, bool tcp, std::span<const uint8_t> query) {
  int fd = ::socket(up.addr.ss_family, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  // Connected UDP: the kernel delivers only datagrams from the server, and
  // an ICMP refusal comes back as ECONNREFUSED.
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&up.addr), up.len) != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  if (!tcp && ::send(fd, query.data(), query.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

const std::vector<Upstream>& Resolver::Impl::upstreams_locked() {
  struct stat st {};
  if (::stat(opts.resolv_conf.c_str(), &st) != 0) {
    if (resolv_read) LOG_WARN("netdns", "cannot read " << opts.resolv_conf << ": queries not ours get SERVFAIL");
    resolv_read = false;
    upstreams.clear();
    return upstreams;
  }
  const bool same = resolv_read && st.st_dev == resolv_stat.st_dev && st.st_ino == resolv_stat.st_ino &&
                    st.st_size == resolv_stat.st_size && st.st_mtim.tv_sec == resolv_stat.st_mtim.tv_sec &&
                    st.st_mtim.tv_nsec == resolv_stat.st_mtim.tv_nsec;
  if (same) return upstreams;
  Result<std::vector<Upstream>> ups = read_upstreams(opts.resolv_conf, opts.upstream_port);
  resolv_stat = st;
  resolv_read = ups.ok();
  upstreams = ups.ok() ? std::move(ups).value() : std::vector<Upstream>{};
  if (upstreams.empty()) LOG_WARN("netdns", "no usable nameserver in " << opts.resolv_conf);
  return upstreams;
}

void Resolver::Impl::start_forward_locked(const std::string& task_id, std::span<const uint8_t> query,
                                          uint64_t conn_key, const sockaddr_storage* client,
                                          socklen_t client_len) {
  Forward f;
  f.tcp = conn_key != 0;
  f.task_id = task_id;
  f.conn_key = conn_key;
  if (client != nullptr) {
    f.client = *client;
    f.client_len = client_len;
  }
  f.client_id = static_cast<uint16_t>(message_id(query));  // answer_query parsed it: a header is there
  f.query.assign(query.begin(), query.end());
  if (conn_key != 0) {
    auto c = conns.find(conn_key);
    if (c != conns.end()) ++c->second.pending;
  }
  // The task's own bound first, so one task asking for slow names cannot
  // take the whole table from the others.
  auto t = tasks.find(task_id);
  const bool task_full = t == tasks.end() || t->second.forwards.size() >= opts.max_forwards_per_task;
  if (!task_full && forwards.size() < opts.max_outstanding) f.servers = upstreams_locked();
  if (f.servers.empty()) f.attempts = kAttempts;  // a bound reached or nowhere to ask: SERVFAIL at once
  attempt_locked(std::move(f));
}

bool Resolver::Impl::attempt_locked(Forward f) {
  while (f.attempts < kAttempts) {
    const Upstream& up = f.servers[f.server % f.servers.size()];
    ++f.attempts;
    ++f.server;  // the retry goes to the next nameserver
    f.upstream_id = random_id();
    set_message_id(f.query, f.upstream_id);
    int fd = open_upstream(up, f.tcp, f.query);
    if (fd < 0) continue;
    f.out.clear();
    f.out_off = 0;
    f.in.clear();
    if (f.tcp) {
      f.out.resize(2);
      ldns_write_uint16(f.out.data(), static_cast<uint16_t>(f.query.size()));
      f.out.insert(f.out.end(), f.query.begin(), f.query.end());
    }
    const uint64_t key = add_fd_locked(fd, Kind::kUpstream, f.task_id, f.tcp ? EPOLLOUT : EPOLLIN);
    if (key == 0) {
      ::close(fd);
      continue;
    }
    f.fd = fd;
    const std::string task_id = f.task_id;
    auto [it, inserted] = forwards.emplace(key, std::move(f));
    set_deadline_locked(key, it->second.deadline, SteadyClock::now() + opts.forward_timeout);
    auto t = tasks.find(task_id);
    if (t != tasks.end()) t->second.forwards.insert(key);
    return true;
  }
  // Every attempt used: answer SERVFAIL with the client's own id.
  set_message_id(f.query, f.client_id);
  std::vector<uint8_t> fail = servfail_for(f.query);
  ++stats.servfail;
  if (!fail.empty()) send_to_client_locked(f.task_id, f.conn_key, &f.client, f.client_len, fail);
  if (f.conn_key != 0) {
    auto c = conns.find(f.conn_key);
    if (c != conns.end() && c->second.pending > 0) --c->second.pending;
    maybe_close_conn_locked(f.conn_key);
  }
  return false;
}

void Resolver::Impl::upstream_event_locked(uint64_t key, uint32_t events) {
  auto it = forwards.find(key);
  if (it == forwards.end()) return;
  Forward& f = it->second;
  if (!f.tcp) {
    for (;;) {
      ssize_t n = ::recv(f.fd, buf.data(), buf.size(), MSG_DONTWAIT | MSG_TRUNC);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        attempt_failed_locked(key);  // ECONNREFUSED: nobody listens there
        return;
      }
      std::span<const uint8_t> m(buf.data(), std::min(static_cast<size_t>(n), buf.size()));
      if (static_cast<size_t>(n) > buf.size() || !is_response(m) || message_id(m) != f.upstream_id) {
        ++stats.dropped;  // not the answer (spoofed or stale): keep waiting
        continue;
      }
      finish_forward_locked(key, std::vector<uint8_t>(m.begin(), m.end()));
      return;
    }
  }
  if (f.out_off < f.out.size() && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    while (f.out_off < f.out.size()) {
      ssize_t n = ::send(f.fd, f.out.data() + f.out_off, f.out.size() - f.out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        attempt_failed_locked(key);  // connect refused or reset
        return;
      }
      f.out_off += static_cast<size_t>(n);
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = key;
    ::epoll_ctl(epfd, EPOLL_CTL_MOD, f.fd, &ev);
    return;
  }
  if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
  for (;;) {
    // First the two length bytes, then exactly the message: never more.
    const size_t want = f.in.size() < 2 ? 2 - f.in.size() : 2 + ldns_read_uint16(f.in.data()) - f.in.size();
    if (want == 0) break;
    ssize_t n = ::recv(f.fd, buf.data(), std::min(want, buf.size()), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      attempt_failed_locked(key);
      return;
    }
    if (n == 0) {
      attempt_failed_locked(key);  // closed before a whole answer
      return;
    }
    f.in.insert(f.in.end(), buf.begin(), buf.begin() + n);
  }
  std::vector<uint8_t> answer(f.in.begin() + 2, f.in.end());
  if (!is_response(answer) || message_id(answer) != f.upstream_id) {
    ++stats.dropped;
    attempt_failed_locked(key);
    return;
  }
  finish_forward_locked(key, std::move(answer));
}

bool Resolver::Impl::take_forward_locked(uint64_t key, Forward* out) {
  auto it = forwards.find(key);
  if (it == forwards.end()) return false;
  *out = std::move(it->second);
  forwards.erase(it);
  clear_deadline_locked(key, out->deadline);
  auto t = tasks.find(out->task_id);
  if (t != tasks.end()) t->second.forwards.erase(key);
  del_fd_locked(key);
  return true;
}

void Resolver::Impl::attempt_failed_locked(uint64_t key) {
  Forward f;
  if (!take_forward_locked(key, &f)) return;
  f.fd = -1;
  attempt_locked(std::move(f));
}

void Resolver::Impl::finish_forward_locked(uint64_t key, std::vector<uint8_t> answer) {
  Forward f;
  if (!take_forward_locked(key, &f)) return;
  set_message_id(answer, f.client_id);
  ++stats.forwarded;
  send_to_client_locked(f.task_id, f.conn_key, &f.client, f.client_len, answer);
  if (f.conn_key != 0) {
    auto c = conns.find(f.conn_key);
    if (c != conns.end() && c->second.pending > 0) --c->second.pending;
    maybe_close_conn_locked(f.conn_key);
  }
}

}  // namespace shoal::netdns
