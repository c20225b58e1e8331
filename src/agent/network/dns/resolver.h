// Resolver: the node's embedded DNS server for task containers (Docker's
// 127.0.0.11), serving every task's listeners from one thread.
//
// The agent opens, per task, a UDP and a TCP listener on 127.0.0.11:53 in
// the task's network namespace (open_listeners_in_netns) and hands them to
// add_task with the task's Scope. The socket a query arrives on identifies
// the asking task, hence the names it may see. Names in its scope are
// answered here (message.h: A records, TTL 0, rotated round robin per name
// and query); anything else is forwarded to the nameservers of
// Options::resolv_conf (re-read when the file changes) and the answer
// relayed unchanged but for the id, which is the client's again. A task
// added with forward false (attached only to --internal networks) never
// reaches a nameserver: what it asks outside its scope is answered REFUSED
// here, and nothing is sent upstream for it.
//
// Forwarding is asynchronous on the same thread: each forwarded query gets
// a socket of its own (UDP, connected: the kernel drops datagrams from any
// other source; or TCP for a query that came over TCP) and a fresh random
// id, and waits in a table with a deadline. No answer within
// forward_timeout (or a refusal): one retry on the next nameserver (the
// same one when there is only one); then SERVFAIL. So a slow upstream
// never delays other queries. At most max_outstanding forwards are in
// flight (each holds one fd), and at most max_forwards_per_task for any one
// task, so one task asking for slow names cannot use up the table for the
// others; past either bound a query gets SERVFAIL at once (nothing sent).
//
// Hostile input is bounded: malformed packets are dropped (message.h);
// TCP messages over kMaxTcpQuery bytes or under a header close the
// connection; at most max_tcp_connections client connections in all and
// max_tcp_connections_per_task per task (one accepted past either bound is
// closed at once, unread), each closed after tcp_idle_timeout without
// traffic or when its unsent output passes kMaxTcpOutput; every buffer has
// a fixed bound.
//
// Time is the steady clock, not shoal::Clock: the waits are epoll_wait
// timeouts of real sockets, which a fake clock could not drive.
//
// Thread safety: every public method may be called from any thread. The
// serving thread holds the resolver's lock while it handles a batch of
// ready sockets (none of that blocks), so when remove_task, set_scope or
// set_forward returns, no answer is sent on the removed sockets, and every
// query read afterwards sees the new scope and forward switch.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "agent/network/dns/scope.h"
#include "common/result.h"

namespace shoal::netdns {

inline constexpr size_t kMaxTcpQuery = 4096;         // a query is a question and EDNS: far smaller
inline constexpr size_t kMaxTcpOutput = 256 * 1024;  // unsent answers per TCP client

struct Options {
  std::string resolv_conf = "/etc/resolv.conf";
  uint16_t upstream_port = 53;  // port of every nameserver (tests: a fake upstream's port)
  std::chrono::milliseconds forward_timeout{2000};  // per attempt; two attempts
  size_t max_outstanding = 1024;      // forwards in flight, all tasks together
  size_t max_forwards_per_task = 64;  // forwards in flight for one task (0: none, all SERVFAIL)
  size_t max_tcp_connections = 256;   // client connections, all tasks together
  size_t max_tcp_connections_per_task = 16;  // client connections of one task (0: no TCP)
  std::chrono::milliseconds tcp_idle_timeout{10000};
};

class Resolver {
 public:
  explicit Resolver(Options o);
  ~Resolver();  // stop(), then closes every fd it owns
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Starts the serving thread. Once per Resolver.
  Status start();
  // Serves udp_fd (bound UDP) and tcp_fd (listening TCP; -1: none) for
  // `task_id` with `scope`. `forward`: names outside the scope are sent to
  // the nameservers; false (the task is on --internal networks only): they
  // are answered REFUSED and never leave the node. Takes ownership of the
  // fds, also on error (they are closed): kFailedPrecondition before
  // start() or after stop(), kAlreadyExists for a known task id,
  // kInvalidArgument without a UDP fd.
  Status add_task(const std::string& task_id, int udp_fd, int tcp_fd, Scope scope, bool forward = true);
  // Replaces the task's scope; the next query read uses it. kNotFound for
  // an unknown task.
  Status set_scope(const std::string& task_id, Scope scope);
  // Turns the task's forwarding on or off (as add_task's `forward`); the
  // next query read uses it. Queries already forwarded are not recalled:
  // their answers are still relayed. kNotFound for an unknown task.
  Status set_forward(const std::string& task_id, bool forward);
  // Closes the task's listeners and connections and abandons its forwarded
  // queries; nothing is sent for it after this returns. Unknown: a no-op.
  void remove_task(const std::string& task_id);
  // Stops the thread (idempotent). Queries still in flight get no answer.
  void stop();

  struct Stats {
    uint64_t answered = 0;   // replies made here (NOERROR, FORMERR, NOTIMP, REFUSED)
    uint64_t forwarded = 0;  // upstream answers relayed
    uint64_t servfail = 0;   // SERVFAIL sent (no upstream, all timed out, table or task bound full)
    uint64_t dropped = 0;    // packets dropped as malformed or unexpected
    size_t outstanding = 0;  // forwards in flight now
    size_t tasks = 0;
    size_t tcp_connections = 0;
  };
  Stats stats() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace shoal::netdns
