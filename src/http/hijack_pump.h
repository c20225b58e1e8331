// The server's side of a hijacked connection (Response::hijack), for
// server.cc only: after the response head, bytes are copied both ways
// between the client's stream and the hijack's two descriptors.
//
// Contract (all on the connection's one I/O thread, as everything of a
// connection is): the client's bytes, starting with what the request's
// buffer already held past the request, go to `in`; the client's EOF or an
// error closes `in`. `out` is copied to the client until it ends (EOF or
// error) or a write to the client fails; then the sending side is shut (the
// client sees the stream's end) where the stream can half-close (unix, TCP;
// `shutdown_send` says whether it did), the client gets up to 2 s to close
// its side (so that closing does not reset the connection under unread
// output), and the pump returns; the caller closes the connection. `stop()` (the server's stop) closes both descriptors
// and the reads, so the pump returns at once. Each write to the client is
// bounded by `guard_write` (the server's write timeout): one that stops
// reading is cut off.
#pragma once

#include <fcntl.h>

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <functional>
#include <memory>
#include <vector>

#include "http/message.h"

namespace shoal::http::internal {

namespace hnet = boost::asio;

struct HijackPipes {
  explicit HijackPipes(const hnet::any_io_executor& ex) : in(ex), out(ex), input_ended(ex) {}
  hnet::posix::stream_descriptor in, out;
  bool input_done = false;
  bool closing = false;  // the pump is ending: the input starts no new read
  hnet::steady_timer input_ended;  // cancelled when the input side finished
  void close_all() {
    boost::system::error_code ec;
    in.close(ec);
    out.close(ec);
  }
};

// Takes a descriptor into `d` (non-blocking, as asio's reactor wants).
inline void adopt_fd(hnet::posix::stream_descriptor& d, int& fd) {
  if (fd < 0) return;
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  boost::system::error_code ec;
  d.assign(fd, ec);
  if (ec) ::close(fd);
  fd = -1;
}

// Client -> in. `sock` is the connection's stream (plain or TLS).
template <typename Socket>
hnet::awaitable<void> hijack_input(std::shared_ptr<void> keep, Socket& sock, std::shared_ptr<HijackPipes> p,
                                   std::vector<char> pending) {
  boost::system::error_code ec;
  bool sink = !p->in.is_open();  // nothing takes input: read and drop (to see the client's close)
  if (!pending.empty() && !sink) {
    co_await hnet::async_write(p->in, hnet::buffer(pending), hnet::redirect_error(hnet::use_awaitable, ec));
    if (ec) sink = true;
  }
  std::vector<char> b(16384);
  while (!p->closing) {
    ec = {};
    size_t n = co_await sock.async_read_some(hnet::buffer(b), hnet::redirect_error(hnet::use_awaitable, ec));
    if (n > 0 && !sink) {
      boost::system::error_code wec;
      co_await hnet::async_write(p->in, hnet::buffer(b.data(), n), hnet::redirect_error(hnet::use_awaitable, wec));
      if (wec) sink = true;  // the process closed its input: keep reading, to see the client go
    }
    if (ec) break;
  }
  boost::system::error_code ignore;
  p->in.close(ignore);  // EOF to the process
  p->input_done = true;
  p->input_ended.cancel();
  (void)keep;
}

// Runs the whole hijacked stream; returns when it is over. `cancel_reads`
// cancels the outstanding read on `sock`; `on_stop` is set to what the
// server's stop must call (and cleared before returning).
template <typename Socket>
hnet::awaitable<void> pump_hijacked(std::shared_ptr<void> keep, Socket& sock, const hnet::any_io_executor& ex,
                                    boost::beast::flat_buffer& buf, Hijack& h,
                                    std::function<void()> cancel_reads, std::function<void()>& on_stop,
                                    std::function<bool()> shutdown_send, std::function<void(bool)> guard_write) {
  auto p = std::make_shared<HijackPipes>(ex);
  adopt_fd(p->in, h.in);
  adopt_fd(p->out, h.out);
  std::vector<char> pending(static_cast<const char*>(buf.data().data()),
                            static_cast<const char*>(buf.data().data()) + buf.size());
  buf.consume(buf.size());
  on_stop = [p, cancel_reads] {
    p->close_all();
    cancel_reads();
  };
  hnet::co_spawn(ex, hijack_input(keep, sock, p, std::move(pending)), hnet::detached);
  std::vector<char> b(16384);
  boost::system::error_code ec;
  while (p->out.is_open()) {
    ec = {};
    size_t n = co_await p->out.async_read_some(hnet::buffer(b), hnet::redirect_error(hnet::use_awaitable, ec));
    if (n > 0) {
      boost::system::error_code wec;
      guard_write(true);  // a client that stops reading is cut off after the write timeout
      co_await hnet::async_write(sock, hnet::buffer(b.data(), n), hnet::redirect_error(hnet::use_awaitable, wec));
      guard_write(false);
      if (wec) break;
    }
    if (ec) break;
  }
  boost::system::error_code ignore;
  p->out.close(ignore);
  // Let the client read the end and close; then stop reading from it.
  if (shutdown_send() && !p->input_done) {
    p->input_ended.expires_after(std::chrono::seconds(2));
    co_await p->input_ended.async_wait(hnet::redirect_error(hnet::use_awaitable, ignore));
  }
  p->closing = true;
  if (!p->input_done) {
    cancel_reads();
    p->in.close(ignore);
    while (!p->input_done) {  // the input coroutine ends at its next resumption
      p->input_ended.expires_after(std::chrono::milliseconds(50));
      co_await p->input_ended.async_wait(hnet::redirect_error(hnet::use_awaitable, ignore));
    }
  }
  on_stop = nullptr;
}

}  // namespace shoal::http::internal
