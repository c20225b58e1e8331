// Beast server: one C++20 coroutine per connection; handlers run on a worker
// pool and answer through a shared ExchangeState whose timer wakes the
// connection's coroutine (Boost 1.74 has no async channel).
#include "http/server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include "common/log.h"

namespace shoal::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using net::awaitable;
using net::use_awaitable;

namespace {

constexpr size_t kBodyLimit = 64 * 1024 * 1024;

// Shared between the handler (any thread) and the connection coroutine.
struct ExchangeState : std::enable_shared_from_this<ExchangeState>, Stream {
  explicit ExchangeState(net::any_io_executor ex) : timer(ex) {}
  net::steady_timer timer;
  std::mutex mu;
  std::optional<Response> response;
  bool streaming = false;
  int stream_status = 200;
  Headers stream_headers;
  std::deque<std::string> chunks;
  bool stream_closed = false;
  bool client_gone = false;

  void wake() {
    auto self = shared_from_this();
    net::post(timer.get_executor(), [self] { self->timer.cancel(); });
  }
  bool write(const std::string& chunk) override {
    {
      std::lock_guard lk(mu);
      if (client_gone || stream_closed) return false;
      chunks.push_back(chunk);
    }
    wake();
    return true;
  }
  void close() override {
    {
      std::lock_guard lk(mu);
      stream_closed = true;
    }
    wake();
  }
  bool closed() const override {
    auto* self = const_cast<ExchangeState*>(this);
    std::lock_guard lk(self->mu);
    return client_gone || stream_closed;
  }
};

Request to_request(const bhttp::request<bhttp::string_body>& r, const std::string& peer) {
  Request req;
  req.method = std::string(r.method_string());
  req.target = std::string(r.target());
  auto q = req.target.find('?');
  req.path = url_decode(req.target.substr(0, q));
  if (q != std::string::npos) req.query = parse_query(req.target.substr(q + 1));
  for (const auto& f : r) req.headers[std::string(f.name_string())] = std::string(f.value());
  req.body = r.body();
  req.peer = peer;
  return req;
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  Handler handler;
  net::io_context ioc;
  std::unique_ptr<net::thread_pool> workers;
  std::vector<std::thread> io_threads;
  std::vector<std::unique_ptr<net::local::stream_protocol::acceptor>> unix_acceptors;
  std::vector<std::unique_ptr<net::ip::tcp::acceptor>> tcp_acceptors;
  std::vector<int> ports;
  std::vector<std::string> unix_paths;
  bool running = false;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> guard;

  template <typename Socket>
  awaitable<void> session(Socket sock, std::string peer) {
    beast::flat_buffer buf;
    beast::error_code ec;
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.body_limit(kBodyLimit);
      co_await bhttp::async_read(sock, buf, parser, net::redirect_error(use_awaitable, ec));
      if (ec) break;
      auto& raw = parser.get();
      bool keep_alive = raw.keep_alive();
      unsigned version = raw.version();
      auto state = std::make_shared<ExchangeState>(sock.get_executor());
      Exchange ex;
      ex.request = to_request(raw, peer);
      ex.respond = [state](Response r) {
        {
          std::lock_guard lk(state->mu);
          if (state->response || state->streaming) return;
          state->response = std::move(r);
        }
        state->wake();
      };
      ex.start_stream = [state](int status, Headers headers) -> std::shared_ptr<Stream> {
        {
          std::lock_guard lk(state->mu);
          state->streaming = true;
          state->stream_status = status;
          state->stream_headers = std::move(headers);
        }
        state->wake();
        return state;
      };
      net::post(*workers, [h = handler, ex = std::move(ex)]() mutable { h(std::move(ex)); });

      // Wait for the answer or the stream to start.
      for (;;) {
        {
          std::lock_guard lk(state->mu);
          if (state->response || state->streaming) break;
        }
        state->timer.expires_at(net::steady_timer::time_point::max());
        co_await state->timer.async_wait(net::redirect_error(use_awaitable, ec));
      }
      bool streaming;
      {
        std::lock_guard lk(state->mu);
        streaming = state->streaming && !state->response;
      }
      if (!streaming) {
        Response r;
        {
          std::lock_guard lk(state->mu);
          r = std::move(*state->response);
        }
        bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), version};
        for (const auto& [k, v] : r.headers) res.set(k, v);
        if (!r.body.empty() && r.headers.find("Content-Type") == r.headers.end()) {
          res.set(bhttp::field::content_type, "application/json");
        }
        res.body() = std::move(r.body);
        res.keep_alive(keep_alive);
        res.prepare_payload();
        co_await bhttp::async_write(sock, res, net::redirect_error(use_awaitable, ec));
        if (ec || !keep_alive) break;
        continue;
      }
      // Streaming: header, then chunks as they come, then the last chunk.
      bhttp::response<bhttp::empty_body> head{static_cast<bhttp::status>(state->stream_status), version};
      for (const auto& [k, v] : state->stream_headers) head.set(k, v);
      head.chunked(true);
      head.keep_alive(false);
      bhttp::response_serializer<bhttp::empty_body> sr{head};
      co_await bhttp::async_write_header(sock, sr, net::redirect_error(use_awaitable, ec));
      while (!ec) {
        std::deque<std::string> pending;
        bool closed;
        {
          std::lock_guard lk(state->mu);
          pending.swap(state->chunks);
          closed = state->stream_closed;
        }
        for (auto& c : pending) {
          if (c.empty()) continue;
          co_await net::async_write(sock, bhttp::make_chunk(net::buffer(c)), net::redirect_error(use_awaitable, ec));
          if (ec) break;
        }
        if (ec) break;
        if (closed) {
          co_await net::async_write(sock, bhttp::make_chunk_last(), net::redirect_error(use_awaitable, ec));
          break;
        }
        state->timer.expires_after(std::chrono::seconds(1));
        co_await state->timer.async_wait(net::redirect_error(use_awaitable, ec));
        ec = {};
        // Detect a client that went away while nothing is being written.
        if (sock.available(ec) == 0 && ec) break;
      }
      {
        std::lock_guard lk(state->mu);
        state->client_gone = true;
      }
      break;
    }
    beast::error_code ignore;
    sock.shutdown(net::socket_base::shutdown_both, ignore);
    sock.close(ignore);
  }

  template <typename Acceptor>
  awaitable<void> accept_loop(Acceptor& acc, std::string label) {
    for (;;) {
      beast::error_code ec;
      auto sock = co_await acc.async_accept(net::redirect_error(use_awaitable, ec));
      if (ec) {
        if (ec == net::error::operation_aborted || !acc.is_open()) co_return;
        continue;
      }
      std::string peer = label;
      if constexpr (std::is_same_v<Acceptor, net::ip::tcp::acceptor>) {
        beast::error_code e2;
        auto ep = sock.remote_endpoint(e2);
        if (!e2) peer = ep.address().to_string() + ":" + std::to_string(ep.port());
      }
      net::co_spawn(ioc, session(std::move(sock), peer), net::detached);
    }
  }
};

Server::Server(ServerOptions options, Handler handler) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
}

Server::~Server() { stop(); }

Status Server::start() {
  auto& im = *impl_;
  im.workers = std::make_unique<net::thread_pool>(im.options.worker_threads);
  for (const auto& addr : im.options.listen) {
    try {
      if (addr.rfind("unix://", 0) == 0) {
        std::string path = addr.substr(7);
        std::error_code fec;
        std::filesystem::create_directories(std::filesystem::path(path).parent_path(), fec);
        // A socket file left by a dead process: is anybody answering on it?
        if (std::filesystem::exists(path)) {
          net::local::stream_protocol::socket probe(im.ioc);
          beast::error_code ec;
          probe.connect(net::local::stream_protocol::endpoint(path), ec);
          if (!ec) return unavailable("another process is serving " + addr + "; stop it or use another -H");
          ::unlink(path.c_str());
        }
        auto acc = std::make_unique<net::local::stream_protocol::acceptor>(
            im.ioc, net::local::stream_protocol::endpoint(path));
        ::chmod(path.c_str(), 0660);
        im.unix_paths.push_back(path);
        im.unix_acceptors.push_back(std::move(acc));
      } else if (addr.rfind("tcp://", 0) == 0) {
        std::string hp = addr.substr(6);
        auto colon = hp.rfind(':');
        if (colon == std::string::npos) return invalid_argument("listen address " + addr + " needs a port");
        auto ep = net::ip::tcp::endpoint(net::ip::make_address(hp.substr(0, colon)),
                                         static_cast<unsigned short>(std::stoi(hp.substr(colon + 1))));
        auto acc = std::make_unique<net::ip::tcp::acceptor>(im.ioc);
        acc->open(ep.protocol());
        acc->set_option(net::socket_base::reuse_address(true));
        acc->bind(ep);
        acc->listen(net::socket_base::max_listen_connections);
        im.ports.push_back(acc->local_endpoint().port());
        im.tcp_acceptors.push_back(std::move(acc));
      } else {
        return invalid_argument("unsupported listen address " + addr + ": use unix:// or tcp://");
      }
    } catch (const std::exception& e) {
      return unavailable("cannot listen on " + addr + ": " + e.what());
    }
  }
  for (auto& a : im.unix_acceptors) net::co_spawn(im.ioc, im.accept_loop(*a, "unix"), net::detached);
  for (auto& a : im.tcp_acceptors) net::co_spawn(im.ioc, im.accept_loop(*a, "tcp"), net::detached);
  im.guard.emplace(im.ioc.get_executor());
  for (int i = 0; i < std::max(1, im.options.io_threads); ++i) {
    im.io_threads.emplace_back([&im] { im.ioc.run(); });
  }
  im.running = true;
  return ok_status();
}

void Server::stop() {
  auto& im = *impl_;
  if (!im.running) return;
  im.running = false;
  net::post(im.ioc, [&im] {
    beast::error_code ec;
    for (auto& a : im.unix_acceptors) a->close(ec);
    for (auto& a : im.tcp_acceptors) a->close(ec);
  });
  im.guard.reset();
  im.ioc.stop();
  for (auto& t : im.io_threads) t.join();
  im.io_threads.clear();
  im.workers->join();
  for (const auto& p : im.unix_paths) ::unlink(p.c_str());
}

std::vector<int> Server::bound_ports() const { return impl_->ports; }

}  // namespace shoal::http
