// HTTP/1.1 server on Boost.Beast: one coroutine per connection on a small I/O
// thread pool; handlers run on a separate worker pool. Listens on unix sockets
// and TCP. Keep-alive and chunked streaming are supported.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "http/message.h"

namespace shoal::http {

struct ServerOptions {
  // "unix:///run/shoal/shoal.sock" or "tcp://127.0.0.1:2377". A unix socket
  // file left by a dead process is replaced; its parent directory is created.
  std::vector<std::string> listen;
  int io_threads = 2;
  int worker_threads = 8;
};

class Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();  // stops and joins
  // Binds every listen address; an error names the address that failed.
  Status start();
  void stop();
  // Actual TCP port bound for "tcp://host:0" listeners, in listen order.
  std::vector<int> bound_ports() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shoal::http
