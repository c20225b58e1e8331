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

class Client {
 public:
  // endpoint: "unix:///path/to.sock", "http://host:port" or "tcp://host:port".
  explicit Client(std::string endpoint);
  ~Client();

  // Sends one request; a transport failure (connect refused, timeout, reset)
  // is a kUnavailable/kDeadlineExceeded Status naming the endpoint. HTTP error
  // statuses are returned as Responses, not as errors.
  Result<Response> request(const std::string& method, const std::string& target,
                           const std::string& body = "", const Headers& headers = {},
                           std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // Streams a response body: on_data is called with each piece of body as it
  // arrives, until the server ends the body, on_data returns false, or
  // `cancel` becomes true (checked at least every 200 ms). Returns the final
  // status (ok when the server ended the body or the caller stopped it).
  Status stream(const std::string& method, const std::string& target, const std::string& body,
                const std::function<bool(const std::string&)>& on_data,
                const std::atomic<bool>& cancel, int* status_out = nullptr);

  const std::string& endpoint() const { return endpoint_; }

 public:
  struct Pool;  // internal

 private:
  std::string endpoint_;
  std::unique_ptr<Pool> pool_;
};

}  // namespace shoal::http
