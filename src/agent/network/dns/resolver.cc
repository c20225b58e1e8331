#include "agent/network/dns/resolver.h"

#include <ldns/ldns.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "agent/network/dns/resolver_impl.h"
#include "common/log.h"

namespace shoal::netdns {
namespace {

constexpr int kMaxEvents = 64;
constexpr int kUdpBurst = 64;  // datagrams read per socket per wakeup, so one task cannot starve others

void close_fd(int fd) {
  if (fd >= 0) ::close(fd);
}

}  // namespace

// ---- Resolver: the public face; every call takes the lock. ----

Resolver::Resolver(Options o) : impl_(std::make_unique<Impl>(std::move(o))) {}

Resolver::~Resolver() {
  stop();
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (auto& [key, h] : impl_->keys) close_fd(h.fd);
  impl_->keys.clear();
  close_fd(impl_->epfd);
}

Status Resolver::start() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->started) return failed_precondition("the resolver was started already");
  impl_->epfd = ::epoll_create1(EPOLL_CLOEXEC);
  if (impl_->epfd < 0) return errno_status("epoll_create1", errno);
  impl_->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl_->wake_fd < 0) return errno_status("eventfd", errno);
  impl_->add_fd_locked(impl_->wake_fd, Impl::Kind::kWake, "", EPOLLIN);
  try {
    impl_->thread = std::thread([this] { impl_->loop(); });
  } catch (const std::system_error& e) {
    return internal_error(std::string("starting the resolver thread: ") + e.what());
  }
  impl_->started = true;
  return ok_status();
}

Status Resolver::add_task(const std::string& task_id, int udp_fd, int tcp_fd, Scope scope, bool forward) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!impl_->started || impl_->stopping) {
    close_fd(udp_fd);
    close_fd(tcp_fd);
    return failed_precondition("the resolver is not running");
  }
  if (impl_->tasks.count(task_id) != 0) {
    close_fd(udp_fd);
    close_fd(tcp_fd);
    return already_exists("task " + task_id + " has resolver listeners already");
  }
  if (udp_fd < 0) {
    close_fd(tcp_fd);
    return invalid_argument("task " + task_id + ": no UDP listener");
  }
  Impl::Task t;
  t.scope = std::move(scope);
  t.forward = forward;
  t.udp_key = impl_->add_fd_locked(udp_fd, Impl::Kind::kUdpListener, task_id, EPOLLIN);
  if (tcp_fd >= 0) t.tcp_key = impl_->add_fd_locked(tcp_fd, Impl::Kind::kTcpListener, task_id, EPOLLIN);
  if (t.udp_key == 0 || (tcp_fd >= 0 && t.tcp_key == 0)) {
    if (t.udp_key != 0) impl_->del_fd_locked(t.udp_key); else close_fd(udp_fd);
    if (t.tcp_key != 0) impl_->del_fd_locked(t.tcp_key); else close_fd(tcp_fd);
    return internal_error("task " + task_id + ": registering its listeners with epoll failed");
  }
  impl_->tasks.emplace(task_id, std::move(t));
  return ok_status();
}

Status Resolver::set_scope(const std::string& task_id, Scope scope) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->tasks.find(task_id);
  if (it == impl_->tasks.end()) return not_found("task " + task_id + " has no resolver listeners");
  it->second.scope = std::move(scope);
  return ok_status();
}

Status Resolver::set_forward(const std::string& task_id, bool forward) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->tasks.find(task_id);
  if (it == impl_->tasks.end()) return not_found("task " + task_id + " has no resolver listeners");
  it->second.forward = forward;
  return ok_status();
}

void Resolver::remove_task(const std::string& task_id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->remove_task_locked(task_id);
}

void Resolver::stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (!impl_->started || impl_->stopping.exchange(true)) return;
    uint64_t one = 1;
    if (::write(impl_->wake_fd, &one, sizeof(one)) < 0) {
      // The counter cannot overflow with one write; nothing else can fail here.
    }
  }
  if (impl_->thread.joinable()) impl_->thread.join();
  // Every socket goes now, not with the destructor: the tasks' listeners
  // free 127.0.0.11:53 in their namespaces for the resolver of whatever
  // replaces this one (a role change builds a new executor while the old
  // one may still exist).
  std::lock_guard<std::mutex> lock(impl_->mu);
  for (auto& [key, h] : impl_->keys)
    if (h.fd != impl_->wake_fd) close_fd(h.fd);
  std::erase_if(impl_->keys, [&](const auto& kv) { return kv.second.fd != impl_->wake_fd; });
}

Resolver::Stats Resolver::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Stats s = impl_->stats;
  s.outstanding = impl_->forwards.size();
  s.tasks = impl_->tasks.size();
  s.tcp_connections = impl_->conns.size();
  return s;
}

// ---- The serving thread. ----

void Resolver::Impl::loop() {
  epoll_event evs[kMaxEvents];
  while (!stopping) {
    int timeout_ms = -1;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!timers.empty()) {
        auto wait = timers.begin()->first - SteadyClock::now();
        timeout_ms = static_cast<int>(std::max<int64_t>(
            0, std::chrono::ceil<std::chrono::milliseconds>(wait).count()));
      }
    }
    int n = ::epoll_wait(epfd, evs, kMaxEvents, timeout_ms);
    if (n < 0 && errno != EINTR) {
      LOG_ERROR("netdns", "epoll_wait failed, the resolver stops: " << errno_status("epoll_wait", errno).message());
      return;
    }
    std::lock_guard<std::mutex> lock(mu);
    if (stopping) return;
    for (int i = 0; i < n; ++i) handle_event_locked(evs[i].data.u64, evs[i].events);
    expire_locked(SteadyClock::now());
  }
}

void Resolver::Impl::handle_event_locked(uint64_t key, uint32_t events) {
  auto it = keys.find(key);
  if (it == keys.end()) return;  // closed earlier in this batch
  const Handle h = it->second;   // a copy: handlers may erase the entry
  switch (h.kind) {
    case Kind::kWake:
      return;  // stop(): the loop checks `stopping`
    case Kind::kUdpListener:
      read_udp_locked(h.task_id, h.fd);
      return;
    case Kind::kTcpListener:
      accept_locked(h.task_id, h.fd);
      return;
    case Kind::kTcpClient: {
      auto c = conns.find(key);
      if (c == conns.end()) return;
      if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_conn_locked(key, c->second);
      c = conns.find(key);  // reading may have closed it
      if (c != conns.end() && (events & EPOLLOUT)) flush_conn_locked(key, c->second);
      return;
    }
    case Kind::kUpstream:
      upstream_event_locked(key, events);
      return;
  }
}

void Resolver::Impl::expire_locked(TimePoint now) {
  while (!timers.empty() && timers.begin()->first <= now) {
    const uint64_t key = timers.begin()->second;
    timers.erase(timers.begin());
    if (forwards.count(key) != 0) {
      attempt_failed_locked(key);
    } else if (conns.count(key) != 0) {
      close_conn_locked(key);  // idle
    }
  }
}

uint64_t Resolver::Impl::add_fd_locked(int fd, Kind kind, const std::string& task_id, uint32_t events) {
  const uint64_t key = next_key++;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = key;
  if (::epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    LOG_WARN("netdns", errno_status("epoll_ctl ADD", errno).message());
    return 0;
  }
  keys.emplace(key, Handle{kind, fd, task_id});
  return key;
}

void Resolver::Impl::del_fd_locked(uint64_t key) {
  auto it = keys.find(key);
  if (it == keys.end()) return;
  ::epoll_ctl(epfd, EPOLL_CTL_DEL, it->second.fd, nullptr);
  close_fd(it->second.fd);
  keys.erase(it);
}

void Resolver::Impl::set_deadline_locked(uint64_t key, TimePoint& slot, TimePoint when) {
  timers.erase({slot, key});
  slot = when;
  timers.insert({slot, key});
}

void Resolver::Impl::clear_deadline_locked(uint64_t key, TimePoint slot) { timers.erase({slot, key}); }

void Resolver::Impl::read_udp_locked(const std::string& task_id, int fd) {
  for (int i = 0; i < kUdpBurst; ++i) {
    sockaddr_storage from{};
    socklen_t from_len = sizeof(from);
    // MSG_TRUNC: n is the datagram's real size, so a cut one is recognised.
    ssize_t n = ::recvfrom(fd, buf.data(), buf.size(), MSG_DONTWAIT | MSG_TRUNC,
                           reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // EAGAIN, or an error queued by ICMP: nothing to read
    }
    if (static_cast<size_t>(n) > buf.size()) {
      ++stats.dropped;
      continue;
    }
    // The answer may be built from buf and buf reused by forwards: copy.
    std::vector<uint8_t> query(buf.begin(), buf.begin() + n);
    handle_query_locked(task_id, query, 0, &from, from_len);
    if (tasks.count(task_id) == 0) return;
  }
}

void Resolver::Impl::handle_query_locked(const std::string& task_id, std::span<const uint8_t> query,
                                         uint64_t conn_key, const sockaddr_storage* client,
                                         socklen_t client_len) {
  auto t = tasks.find(task_id);
  if (t == tasks.end()) return;
  Decision d = answer_query(query, t->second.scope.get(), rr, conn_key != 0);
  switch (d.verdict) {
    case Verdict::kDrop:
      ++stats.dropped;
      return;
    case Verdict::kReply:
      ++stats.answered;
      send_to_client_locked(task_id, conn_key, client, client_len, d.reply);
      return;
    case Verdict::kForward:
      if (!t->second.forward) {
        // Not to leave the node: refused here, nothing sent upstream.
        std::vector<uint8_t> refused = refused_for(query);
        if (refused.empty()) {
          ++stats.dropped;
          return;
        }
        ++stats.answered;
        send_to_client_locked(task_id, conn_key, client, client_len, refused);
        return;
      }
      start_forward_locked(task_id, query, conn_key, client, client_len);
      return;
  }
}

void Resolver::Impl::send_to_client_locked(const std::string& task_id, uint64_t conn_key,
                                           const sockaddr_storage* client, socklen_t client_len,
                                           std::span<const uint8_t> msg) {
  if (conn_key == 0) {
    auto t = tasks.find(task_id);
    if (t == tasks.end() || client == nullptr) return;
    auto h = keys.find(t->second.udp_key);
    if (h == keys.end()) return;
    // Best effort, as UDP is: a full socket buffer loses the answer and the
    // client retries.
    ::sendto(h->second.fd, msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
             reinterpret_cast<const sockaddr*>(client), client_len);
    return;
  }
  auto c = conns.find(conn_key);
  if (c == conns.end() || msg.size() > 0xffff) return;
  TcpConn& conn = c->second;
  if (conn.out.size() - conn.out_off + msg.size() + 2 > kMaxTcpOutput) {
    close_conn_locked(conn_key);  // the client does not read its answers
    return;
  }
  const size_t at = conn.out.size();
  conn.out.resize(at + 2);
  ldns_write_uint16(conn.out.data() + at, static_cast<uint16_t>(msg.size()));
  conn.out.insert(conn.out.end(), msg.begin(), msg.end());
  flush_conn_locked(conn_key, conn);
}

void Resolver::Impl::remove_task_locked(const std::string& task_id) {
  auto t = tasks.find(task_id);
  if (t == tasks.end()) return;
  Task task = std::move(t->second);
  tasks.erase(t);
  for (uint64_t key : task.forwards) {
    auto f = forwards.find(key);
    if (f == forwards.end()) continue;
    clear_deadline_locked(key, f->second.deadline);
    forwards.erase(f);
    del_fd_locked(key);
  }
  for (uint64_t key : task.conns) {
    auto c = conns.find(key);
    if (c == conns.end()) continue;
    clear_deadline_locked(key, c->second.deadline);
    conns.erase(c);
    del_fd_locked(key);
  }
  del_fd_locked(task.udp_key);
  if (task.tcp_key != 0) del_fd_locked(task.tcp_key);
}

}  // namespace shoal::netdns
