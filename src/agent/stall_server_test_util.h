// StallServer (tests only): a TCP server on 127.0.0.1 that reads each
// request's head and then holds the connection without answering until
// release() (then every held and later request gets a 200 with the given
// body and Content-Type) or its destruction: a registry, token realm or CDN
// that stalls. Thread-safe: one thread accepts, one per connection.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace shoal::agent::testing {

class StallServer {
 public:
  StallServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      return;
    }
    port_ = ntohs(a.sin_port);
    accepter_ = std::thread([this] { accept_loop(); });
  }
  ~StallServer() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (accepter_.joinable()) accepter_.join();
    for (auto& t : conns_) t.join();
    if (fd_ >= 0) close(fd_);
  }
  StallServer(const StallServer&) = delete;
  StallServer& operator=(const StallServer&) = delete;

  std::string domain() const { return "127.0.0.1:" + std::to_string(port_); }

  // Waits (up to `deadline`) until `n` request heads have arrived.
  bool wait_requests(int n, std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, deadline, [&] { return requests_ >= n; });
  }
  int requests() {
    std::lock_guard lk(mu_);
    return requests_;
  }
  void release(std::string body, std::string content_type = "application/octet-stream") {
    std::lock_guard lk(mu_);
    released_ = true;
    body_ = std::move(body);
    content_type_ = std::move(content_type);
    cv_.notify_all();
  }

 private:
  void accept_loop() {
    for (;;) {
      {
        std::lock_guard lk(mu_);
        if (stop_) return;
      }
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::lock_guard lk(mu_);
      conns_.emplace_back([this, c] { serve(c); });
    }
  }
  void serve(int c) {
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
      {
        std::lock_guard lk(mu_);
        if (stop_) break;
      }
      pollfd p{c, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      ssize_t n = read(c, buf, sizeof buf);
      if (n <= 0) break;
      head.append(buf, static_cast<size_t>(n));
    }
    std::unique_lock lk(mu_);
    if (head.find("\r\n\r\n") != std::string::npos) {
      ++requests_;
      cv_.notify_all();
      cv_.wait(lk, [&] { return stop_ || released_; });
      if (released_ && !stop_) {
        std::string r = "HTTP/1.1 200 OK\r\nContent-Type: " + content_type_ +
                        "\r\nConnection: close\r\nContent-Length: " + std::to_string(body_.size()) + "\r\n\r\n" + body_;
        lk.unlock();
        for (size_t off = 0; off < r.size();) {
          ssize_t w = write(c, r.data() + off, r.size() - off);
          if (w <= 0) break;
          off += static_cast<size_t>(w);
        }
      }
    }
    close(c);
  }

  int fd_ = -1;
  int port_ = 0;
  std::thread accepter_;
  std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::vector<std::thread> conns_;
  bool stop_ = false;
  bool released_ = false;
  int requests_ = 0;
  std::string body_, content_type_;
};

}  // namespace shoal::agent::testing
