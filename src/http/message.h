// Plain HTTP request/response values shared by the server, the client and
// every route handler. No Boost here: handlers stay pure functions of these.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/result.h"

namespace shoal::http {

// The one mapping of an error Code to its HTTP status, used by every server
// of shoal (the Docker API, daemon-local routes, agent sessions):
// kInvalidArgument/kFailedPrecondition 400, kNotFound 404, kAlreadyExists/
// kConflict 409, kPermissionDenied 403, kUnavailable 503, kDeadlineExceeded
// 504, kInternal 500, kUnimplemented 501.
int status_for(Code code);

// Case-insensitive header map (HTTP header names are case-insensitive).
struct CaseInsensitiveLess {
  bool operator()(const std::string& a, const std::string& b) const;
};
using Headers = std::map<std::string, std::string, CaseInsensitiveLess>;

// The client certificate a TLS listener verified (ServerOptions::tls): empty
// (verified false) on unix and plain TCP listeners and for a TLS client that
// presented none.
struct PeerCertificate {
  bool verified = false;
  std::string common_name;          // CN (a swarm node's id)
  std::string organizational_unit;  // OU (its role: swarm-worker, swarm-manager)
  std::string organization;         // O (its cluster)
};

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request target: path plus "?query"
  std::string path;    // decoded path without the query, e.g. "/v1.41/services/abc"
  std::map<std::string, std::string> query;  // decoded query parameters (last one wins)
  Headers headers;
  std::string body;
  // Set instead of `body` when the route spools its body to disk
  // (ServerOptions::route_body_spool): a 0600 file holding the whole body,
  // which the handler owns and must remove.
  std::string body_file;
  std::string peer;  // "unix" or "ip:port" of the client
  PeerCertificate peer_cert;

  std::optional<std::string> query_param(const std::string& key) const;
};

// A response that takes the connection over once its head is written
// (Docker's hijacked streams, e.g. POST /exec/{id}/start). The server owns
// both descriptors from then on: what the client sends is written to `in`
// (closed, so the reader sees EOF, when the client half-closes or goes
// away); what is read from `out` is sent to the client until `out` ends,
// then the connection is closed. No idle timeout applies (a shell may be
// idle for hours); each write to the client is bounded by the write timeout
// (one that stops reading is cut off); the server's stop ends it. Either may be -1 (no
// input wanted: the client's bytes are discarded).
struct Hijack {
  int in = -1;
  int out = -1;
  Hijack() = default;
  Hijack(int i, int o) : in(i), out(o) {}
  Hijack(const Hijack&) = delete;
  Hijack& operator=(const Hijack&) = delete;
  ~Hijack();  // closes what the server did not take
};

struct Response {
  int status = 200;
  Headers headers;  // Content-Type defaults to application/json when a body is set
  std::string body;
  // Set: `body` is ignored; the head (status and headers as given, e.g. 101
  // with Upgrade: tcp) is followed by the hijacked stream.
  std::shared_ptr<Hijack> hijack;
};

// Delivers the response for one request. Call exactly once, from any thread;
// it may be kept and called later (long polling).
using Responder = std::function<void(Response)>;

// A streaming response: the handler writes chunks (chunked transfer
// encoding) until it calls close(); write() returns false once the client is
// gone, so producers know to stop. Thread-safe.
class Stream {
 public:
  virtual ~Stream() = default;
  virtual bool write(const std::string& chunk) = 0;
  virtual void close() = 0;
  virtual bool closed() const = 0;
  // Bytes written but not yet taken for sending: a producer faster than
  // the client waits while this is large (backpressure).
  virtual size_t queued() const { return 0; }
};

// Registers `fn` to learn that the client went away before its answer: see
// Exchange::on_client_gone.
using ClientGoneHook = std::function<void(std::function<void()> fn)>;

// Either respond through `respond` or, to stream, call `start_stream(status,
// headers)` once instead and write to the returned Stream.
struct Exchange {
  Request request;
  Responder respond;
  std::function<std::shared_ptr<Stream>(int status, Headers headers)> start_stream;
  // For a handler that answers later (a long poll): on_client_gone(fn)
  // makes fn run once if the client goes away before the exchange is
  // answered (respond called, or a started stream closed): the connection
  // closed (also only half-closed, as Go's server counts it) or reset, or
  // the server stopped. The server watches the socket of an exchange
  // answered through `respond` from the registration on, so fn runs within
  // moments of the client's close; a streaming exchange notices only when a
  // write fails or the server stops. It never runs once the exchange was
  // answered, and once `respond` has returned, fn has finished or never will
  // (so fn may use what the responder's caller keeps alive until it
  // answers). A later call replaces an earlier fn.
  // fn runs on a server I/O thread, or at once on the calling thread when
  // the client is already gone: it must be quick and not block, must not
  // call `respond`, and the caller must not hold a lock fn takes (nor may
  // whoever calls `respond` while fn might run). fn should not hold the
  // Responder (drop it from where it is kept instead).
  // Empty where the client cannot go away (in-process callers): check
  // before calling. Thread-safe.
  ClientGoneHook on_client_gone;
};

// Handlers run on a worker pool, not on I/O threads, so they may block
// (e.g. on an etcd write). A handler that throws is answered with a 500 by the
// server (and logged); handlers should still turn errors into responses.
using Handler = std::function<void(Exchange)>;

// Helpers.
std::string url_decode(const std::string& s);
std::string url_encode(const std::string& s);
// Splits "a=b&c=d" into a map, decoding each part.
std::map<std::string, std::string> parse_query(const std::string& q);

}  // namespace shoal::http
