// Internal to src/http (included by server.cc only): the state one request
// shares between its handler, on a worker or any other thread, and its
// connection's coroutine: the answer or stream, and the client-gone
// callback (Exchange::on_client_gone). No Boost here: the connection is
// woken through a Wakeup.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "http/message.h"

namespace shoal::http::internal {

// How a handler's thread wakes a connection. fn posts to the connection's
// executor; clear() (connection ended, or server stopped) makes fire() a no-op.
// Thread-safe.
struct Wakeup {
  std::mutex mu;
  std::function<void()> fn;
  void fire() {
    std::lock_guard lk(mu);
    if (fn) fn();
  }
  void clear() {
    std::lock_guard lk(mu);
    fn = nullptr;
  }
};

// Shared between the handler (any thread) and the connection coroutine.
// Thread-safe: every field is under mu. The client-gone callback
// (Exchange::on_client_gone) runs with gone_mu held, taken before mu; an
// answer takes gone_mu after it is recorded (never under mu), so when
// respond() or close() returns no callback runs any more.
struct ExchangeState : Stream {
  explicit ExchangeState(std::shared_ptr<Wakeup> w) : wakeup(std::move(w)) {}
  std::shared_ptr<Wakeup> wakeup;
  mutable std::mutex mu;
  std::optional<Response> response;
  bool streaming = false;
  int stream_status = 200;
  Headers stream_headers;
  std::deque<std::string> chunks;
  size_t chunk_bytes = 0;  // in `chunks` (the writer takes them all at once)
  bool stream_closed = false;
  bool client_gone = false;
  std::function<void()> gone_fn;  // the handler's client-gone callback, until it runs or is answered
  bool watch_wanted = false;      // a callback was registered: the connection watches its socket
  std::mutex gone_mu;

  bool answered_locked() const { return response.has_value() || stream_closed; }
  // After an answer: waits for a client-gone callback still running and
  // drops the one registered (destroyed outside both locks).
  void retire_gone_fn() {
    std::function<void()> fn;
    std::lock_guard g(gone_mu);
    {
      std::lock_guard lk(mu);
      fn.swap(gone_fn);
    }
  }
  // Exchange::on_client_gone: keeps fn and wakes the connection to watch
  // its socket; runs fn now if the client is gone already; drops it if the
  // exchange was answered.
  void on_gone(std::function<void()> fn) {
    bool run_now = false;
    std::lock_guard g(gone_mu);
    {
      std::lock_guard lk(mu);
      if (answered_locked()) return;
      run_now = client_gone;
      if (!run_now) {
        gone_fn = std::move(fn);
        watch_wanted = true;
      }
    }
    if (run_now) {
      fn();
    } else {
      wakeup->fire();
    }
  }
  // The connection ends without having sent the answer (on its executor):
  // no more writes, and the callback runs unless the handler answered.
  void client_went() {
    std::function<void()> fn;
    std::lock_guard g(gone_mu);
    {
      std::lock_guard lk(mu);
      client_gone = true;
      fn.swap(gone_fn);
      if (answered_locked()) fn = nullptr;
    }
    if (fn) fn();
  }

  bool write(const std::string& chunk) override {
    {
      std::lock_guard lk(mu);
      if (client_gone || stream_closed) return false;
      chunks.push_back(chunk);
      chunk_bytes += chunk.size();
    }
    wakeup->fire();
    return true;
  }
  void close() override {
    bool watched;
    {
      std::lock_guard lk(mu);
      stream_closed = true;
      watched = watch_wanted;
    }
    if (watched) retire_gone_fn();
    wakeup->fire();
  }
  size_t queued() const override {
    std::lock_guard lk(mu);
    return chunk_bytes;
  }
  bool closed() const override {
    std::lock_guard lk(mu);
    return client_gone || stream_closed;
  }
  void respond(Response r) {
    bool watched;
    {
      std::lock_guard lk(mu);
      if (response || streaming) return;
      response = std::move(r);
      watched = watch_wanted;
    }
    if (watched) retire_gone_fn();
    wakeup->fire();
  }
  std::shared_ptr<Stream> start(const std::shared_ptr<ExchangeState>& self, int status, Headers headers) {
    {
      std::lock_guard lk(mu);
      streaming = true;
      stream_status = status;
      stream_headers = std::move(headers);
    }
    wakeup->fire();
    return self;
  }
  // A handler threw: answer 500 if nothing was answered, end a started stream.
  void fail(const std::string& message) {
    bool was_streaming;
    {
      std::lock_guard lk(mu);
      was_streaming = streaming;
    }
    if (was_streaming) return close();
    respond(Response{500, {{"Content-Type", "application/json"}},
                     nlohmann::json{{"message", message}}.dump(-1, ' ', false,
                                                               nlohmann::json::error_handler_t::replace) + "\n"});
  }
};

}  // namespace shoal::http::internal
