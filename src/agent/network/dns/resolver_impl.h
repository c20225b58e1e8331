// Internal to the netdns component: the state of a Resolver, shared by
// resolver.cc (lifecycle, dispatch, answering over UDP), resolver_tcp.cc
// (TCP clients) and resolver_forward.cc (forwarding upstream).
//
// Every socket registered with epoll carries a key (never reused) that
// keys_ maps to what it is; an event whose key is gone (its socket was
// closed in the same batch, or by remove_task) is ignored, so a stale event
// can never reach a reused fd number. All members but the thread handle
// are guarded by mu_; the methods named *_locked expect it held.
#pragma once

#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "agent/network/dns/message.h"
#include "agent/network/dns/resolver.h"
#include "agent/network/dns/upstreams.h"

namespace shoal::netdns {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;

struct Resolver::Impl {
  enum class Kind { kWake, kUdpListener, kTcpListener, kTcpClient, kUpstream };
  struct Handle {
    Kind kind;
    int fd;
    std::string task_id;  // listeners: whose
  };
  struct Task {
    uint64_t udp_key = 0;
    uint64_t tcp_key = 0;  // 0: none
    Scope scope;
    bool forward = true;          // names not in scope go upstream; false: REFUSED
    std::set<uint64_t> conns;     // its TCP clients: at most max_tcp_connections_per_task
    std::set<uint64_t> forwards;  // its queries in flight: at most max_forwards_per_task
  };
  struct TcpConn {
    int fd = -1;
    std::string task_id;
    std::vector<uint8_t> in;   // bounded: 2 + kMaxTcpQuery
    std::vector<uint8_t> out;  // length-prefixed answers not yet sent
    size_t out_off = 0;
    bool want_write = false;  // registered for EPOLLOUT
    bool eof = false;         // the client half-closed: close when done
    size_t pending = 0;       // its queries being forwarded
    TimePoint deadline;
  };
  // One query being forwarded, through the socket of the current attempt.
  struct Forward {
    int fd = -1;
    bool tcp = false;
    std::string task_id;
    uint64_t conn_key = 0;  // tcp: the client connection
    sockaddr_storage client{};
    socklen_t client_len = 0;
    uint16_t client_id = 0;
    uint16_t upstream_id = 0;
    std::vector<uint8_t> query;  // the client's query, id replaced by upstream_id
    std::vector<Upstream> servers;
    size_t server = 0;
    int attempts = 0;
    TimePoint deadline;
    // TCP attempts: the framed query to write and the framed answer read.
    std::vector<uint8_t> out;
    size_t out_off = 0;
    std::vector<uint8_t> in;
  };

  explicit Impl(Options o) : opts(std::move(o)) {}

  // resolver.cc
  void loop();
  void handle_event_locked(uint64_t key, uint32_t events);
  void expire_locked(TimePoint now);
  uint64_t add_fd_locked(int fd, Kind kind, const std::string& task_id, uint32_t events);
  void del_fd_locked(uint64_t key);  // epoll_ctl DEL, close, forget
  void set_deadline_locked(uint64_t key, TimePoint& slot, TimePoint when);
  void clear_deadline_locked(uint64_t key, TimePoint slot);
  void read_udp_locked(const std::string& task_id, int fd);
  // A query from `task_id`; conn_key 0: over UDP from `client`.
  void handle_query_locked(const std::string& task_id, std::span<const uint8_t> query, uint64_t conn_key,
                           const sockaddr_storage* client, socklen_t client_len);
  // Sends `msg` to the asker (UDP datagram or framed on the TCP client).
  void send_to_client_locked(const std::string& task_id, uint64_t conn_key, const sockaddr_storage* client,
                             socklen_t client_len, std::span<const uint8_t> msg);
  void remove_task_locked(const std::string& task_id);

  // resolver_tcp.cc
  void accept_locked(const std::string& task_id, int fd);
  void read_conn_locked(uint64_t key, TcpConn& c);
  void flush_conn_locked(uint64_t key, TcpConn& c);
  void close_conn_locked(uint64_t key);
  void maybe_close_conn_locked(uint64_t key);

  // resolver_forward.cc
  void start_forward_locked(const std::string& task_id, std::span<const uint8_t> query, uint64_t conn_key,
                            const sockaddr_storage* client, socklen_t client_len);
  // Opens the socket of the next attempt (the query sent, or a TCP connect
  // under way); when no attempt is left or none can be made, answers the
  // client SERVFAIL and returns false.
  bool attempt_locked(Forward f);
  void upstream_event_locked(uint64_t key, uint32_t events);
  // Removes the forward at `key` with its deadline, task entry and socket's
  // registration, into *out; false when there is none.
  bool take_forward_locked(uint64_t key, Forward* out);
  // The current attempt failed: retry once more or SERVFAIL.
  void attempt_failed_locked(uint64_t key);
  // Ends the forward at `key`, relaying `answer` (its id made the
  // client's again) to the client.
  void finish_forward_locked(uint64_t key, std::vector<uint8_t> answer);
  const std::vector<Upstream>& upstreams_locked();

  const Options opts;
  mutable std::mutex mu;
  int epfd = -1;
  int wake_fd = -1;
  bool started = false;
  std::atomic<bool> stopping{false};
  std::thread thread;
  uint64_t next_key = 1;
  std::unordered_map<uint64_t, Handle> keys;
  std::unordered_map<std::string, Task> tasks;
  std::unordered_map<uint64_t, TcpConn> conns;
  std::unordered_map<uint64_t, Forward> forwards;
  std::set<std::pair<TimePoint, uint64_t>> timers;  // deadlines of conns and forwards
  RoundRobin rr;
  Stats stats;
  std::vector<uint8_t> buf = std::vector<uint8_t>(65536);  // one datagram; the loop's scratch
  // resolv.conf, re-read when its identity or mtime changes.
  struct stat resolv_stat {};
  bool resolv_read = false;
  std::vector<Upstream> upstreams;
};

}  // namespace shoal::netdns
