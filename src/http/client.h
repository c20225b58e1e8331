// Synchronous HTTP/1.1 client (Boost.Beast) for unix sockets and TCP, with a
// small keep-alive connection pool. Thread-safe: concurrent requests use
// separate connections.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "http/message.h"

namespace shoal::http {

// TLS for an "https://" endpoint: the server is verified against ca_file
// (and must name the dialled host in its certificate); cert_file/key_file,
// when given, are presented as the client certificate.
//
// The *_pem fields, when set, are used instead of the files (for callers that
// read their key files themselves, without following symlinks).
// server_name: the name the server's certificate must carry instead of the
// dialled host (a swarm's managers are "swarm-manager"). insecure_skip_verify
// accepts any server certificate: only for fetching something the caller
// checks by other means (a joining node fetches the root CA and checks it
// against the digest its join token pins), never for anything else.
struct TlsOptions {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
  std::string server_name;
  bool insecure_skip_verify = false;
};

// Whether a request may be sent again on a fresh connection when the pooled
// connection it went out on fails. kByMethod: only GET, HEAD and OPTIONS.
// kYes: the caller knows this request is safe to repeat (a read sent as POST,
// as etcd's gateway takes them).
enum class Idempotent { kByMethod, kYes };

class Client {
 public:
  // endpoint: "unix:///path/to.sock", "http://host:port", "tcp://host:port"
  // or "https://host:port" (with `tls`). Bad TLS files make every request
  // fail with kInvalidArgument naming the file.
  explicit Client(std::string endpoint, TlsOptions tls = {});
  ~Client();

  // Sends one request; a transport failure (connect refused, timeout, reset)
  // is a kUnavailable/kDeadlineExceeded Status naming the endpoint. HTTP error
  // statuses are returned as Responses, not as errors.
  //
  // Never sends a request twice by itself unless `idempotent` allows it: a
  // pooled connection found closed before sending is replaced (nothing was
  // sent), but one that fails after the request went out makes a
  // non-idempotent request fail with a Status for which outcome_unknown() is
  // true (the server may have applied it: re-read before retrying). Failures
  // before anything was sent (connect refused) are not outcome-unknown.
  Result<Response> request(const std::string& method, const std::string& target,
                           const std::string& body = "", const Headers& headers = {},
                           std::chrono::milliseconds timeout = std::chrono::seconds(30),
                           Idempotent idempotent = Idempotent::kByMethod);

  // True for a failure of request() after the request may have reached the
  // server (written, then no complete answer).
  static bool outcome_unknown(const Status& st);

  // Streams a response body: on_data is called with each piece of body as it
  // arrives, until the server ends the body, on_data returns false, or
  // `cancel` becomes true (checked at least every 200 ms; connect and write
  // end at once only on cancel(), which also ends the stream). Returns the final
  // status (ok when the server ended the body or the caller stopped it).
  // `headers` are sent with the request; `headers_out`, when given, receives
  // the response's headers before the first on_data; `idle_timeout` (0:
  // none) ends the stream with kDeadlineExceeded when no byte arrives for
  // that long (a stalled server).
  Status stream(const std::string& method, const std::string& target, const std::string& body,
                const std::function<bool(const std::string&)>& on_data,
                const std::atomic<bool>& cancel, int* status_out = nullptr, const Headers& headers = {},
                Headers* headers_out = nullptr,
                std::chrono::milliseconds idle_timeout = std::chrono::milliseconds(0));

  // Makes every request in flight on this client return at once (kUnavailable,
  // "cancelled"; outcome_unknown() when its bytes had started to go out),
  // and every later one fail without being sent: for an owner
  // that is shutting down and must not wait out long polls and timeouts.
  // Sticky; thread-safe.
  void cancel();

  const std::string& endpoint() const { return endpoint_; }

 public:
  struct Pool;  // internal

 private:
  std::string endpoint_;
  std::unique_ptr<Pool> pool_;
};

}  // namespace shoal::http
