// HTTP/1.1 server on Boost.Beast: one coroutine per connection; io_threads
// I/O contexts of one thread each, a connection served by one of them (round
// robin), so its handlers never run concurrently; handlers run on a separate
// worker pool (but for ServerOptions::inline_handler's answers, given on the
// I/O thread). Listens on unix sockets and TCP. Keep-alive and chunked
// streaming are supported.
//
// Limits (all in ServerOptions) keep one client from holding the API: the
// request headers must arrive within header_timeout, each piece of the body
// within body_timeout, a kept-alive connection is closed after idle_timeout
// without a new request, and each write must finish within write_timeout.
// Headers over header_limit and bodies over the route's body limit get a 413
// and the connection is closed; connections past max_connections get a 503 at
// once and are closed. A handler that throws answers a 500 (and is logged).
//
// A handler that answers later (a long poll) may register a client-gone
// callback (Exchange::on_client_gone): from then on until the answer, the
// connection watches its socket and runs the callback when the client
// closes, half-closes or resets it (or the server stops), then closes the
// connection. Bytes of a pipelined request that arrive meanwhile are kept
// for the next request, and end the watch of that exchange.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "http/message.h"

namespace shoal::http {

// TLS of "tls://host:port" listeners, PEM text (the caller reads its key
// files safely; the server opens none). The server presents cert/key and
// asks each client for a certificate: one presented must chain to ca_pem or
// the handshake fails; Request::peer_cert then names it. A client without a
// certificate is served with an empty peer_cert: handlers decide what it may
// do. TLS 1.2 and later.
struct ServerTls {
  std::string cert_pem;
  std::string key_pem;
  std::string ca_pem;
};

struct ServerOptions {
  // "unix:///run/shoal/shoal.sock", "tcp://127.0.0.1:2377" or (with `tls`)
  // "tls://0.0.0.0:2377". A unix socket file left by a dead process is
  // replaced; its parent directory is created.
  std::vector<std::string> listen;
  int io_threads = 2;
  int worker_threads = 8;

  std::chrono::milliseconds header_timeout{std::chrono::seconds(30)};
  std::chrono::milliseconds body_timeout{std::chrono::seconds(30)};   // between two pieces of a body
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(120)};  // keep-alive wait for the next request
  std::chrono::milliseconds write_timeout{std::chrono::seconds(60)};  // one write of a response or chunk
  size_t header_limit = 64 * 1024;
  uint64_t body_limit = 16 * 1024 * 1024;  // default for every route
  // Per-route body limit: given the method and the decoded path (without the
  // query), a limit in bytes, or 0 for `body_limit`. Called on I/O threads;
  // must be cheap and thread-safe. E.g. image uploads need a large one.
  std::function<uint64_t(const std::string& method, const std::string& path)> route_body_limit;
  // Per-route spooling: given the method and the decoded path, a directory
  // to write the body into as it arrives (a new 0600 file there, handed to
  // the handler as Request::body_file; never held in memory), or "" to read
  // it into Request::body. Called on I/O threads; cheap and thread-safe.
  std::function<std::string(const std::string& method, const std::string& path)> route_body_spool;
  // Requests answered on the I/O thread that read them, never queued behind
  // the worker pool: given a complete request, its Response, or nullopt to
  // hand it to the handler on a worker as usual. For an answer that must come
  // however busy the workers are (the leader probe, leader_probe.h: a leader
  // whose workers are all held by joins and sessions must not look dead).
  // Called for every request (a miss must cost next to nothing); must be
  // quick, never block (no I/O, no lock held for long) and be thread-safe.
  // One that throws answers a 500.
  std::function<std::optional<Response>(const Request& request)> inline_handler;
  // TLS peers admitted past the cap on unverified connections in all
  // (unverified_tls_caps().total), given the peer's IP address ("10.0.0.2";
  // an IPv4-mapped one as IPv4): the swarm's managers, so that strangers
  // holding every unverified slot cannot keep a manager's leader probe (or
  // session) from connecting. Such a peer still has at most per_source
  // unverified connections, counted for its exact address apart from its
  // neighbours. Called on I/O threads for every TLS connection: cheap,
  // non-blocking, thread-safe. Empty: nobody.
  std::function<bool(const std::string& ip)> trusted_source;
  size_t max_connections = 1024;
  ServerTls tls;  // for tls:// listeners (last: positional initializers elsewhere)
};

// The agent-session listener's connection cap: every node holds a few
// connections at once (long poll, heartbeat, status), so the API's 1024 would
// refuse nodes past a few hundred. Bounded still: fds are finite.
constexpr size_t kSessionMaxConnections = 65536;

// What the per-source cap on unverified TLS connections counts a peer
// ("addr:port", as Request::peer) under: an IPv4 address as it is (also when
// IPv4-mapped), an IPv6 address by its /64 ("2001:db8:1:2::/64"), since one
// host usually holds a whole /64. Anything unparsable: the text before the
// last ':'. Pure; thread-safe.
std::string unverified_source_key(const std::string& peer);

// The caps on unverified TLS connections of a listener that admits
// `max_connections` in all: at most half of them (and 4096) without a
// verified client certificate, so strangers never hold every slot the
// nodes' sessions need (a swarm listener's cap follows RLIMIT_NOFILE and can
// be 16); per source an eighth of that (at most 32, at least 4 or the
// total). Pure.
struct UnverifiedCaps {
  size_t total;
  size_t per_source;
};
UnverifiedCaps unverified_tls_caps(size_t max_connections);

// The cap on TLS connections with a verified client certificate per
// certificate common name (a node id) of a listener that admits
// `max_connections` in all: half of them, at most 16 (an agent holds 3-4),
// at least 4 (or the total), so one node's certificate cannot hold every
// slot the other nodes need. Connections beyond it are closed after the
// handshake. Pure.
size_t verified_per_node_cap(size_t max_connections);

class Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();  // stops and joins
  // Binds every listen address; an error names the address that failed.
  Status start();
  // Closes the listeners and every connection, including those waiting for
  // a long-poll answer (a Responder called afterwards does nothing), then
  // waits for running handlers to return. Idempotent.
  void stop();
  // Actual TCP port bound for "tcp://host:0" listeners, in listen order.
  std::vector<int> bound_ports() const;
  // Connections open now (for tests and metrics).
  size_t connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shoal::http
