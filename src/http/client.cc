// Beast client. Each connection owns an io_context so that every operation
// can run asynchronously with a deadline (run_for) while the API stays
// synchronous.
#include "http/client.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <variant>

namespace shoal::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

namespace {

struct Conn {
  net::io_context ioc;
  std::variant<net::local::stream_protocol::socket, net::ip::tcp::socket> sock;
  explicit Conn(bool unix_socket)
      : sock(unix_socket ? decltype(sock)(net::local::stream_protocol::socket(ioc))
                         : decltype(sock)(net::ip::tcp::socket(ioc))) {}
  beast::flat_buffer buf;

  void close() {
    beast::error_code ec;
    std::visit([&](auto& s) { s.close(ec); }, sock);
  }
  // Runs queued async work for at most `d`; false on timeout (socket closed).
  bool run_for(std::chrono::milliseconds d, const bool& done) {
    ioc.restart();
    auto deadline = std::chrono::steady_clock::now() + d;
    while (!done) {
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) {
        close();
        ioc.restart();
        ioc.run();  // let the cancelled operations finish
        return false;
      }
      ioc.run_one_for(deadline - now);
    }
    return true;
  }
};

}  // namespace

struct Client::Pool {
  bool unix_socket = true;
  std::string path;
  std::string host;
  std::string port;
  std::mutex mu;
  std::vector<std::unique_ptr<Conn>> idle;
};

Client::Client(std::string endpoint) : endpoint_(std::move(endpoint)), pool_(std::make_unique<Pool>()) {
  if (endpoint_.rfind("unix://", 0) == 0) {
    pool_->path = endpoint_.substr(7);
  } else {
    pool_->unix_socket = false;
    std::string hp = endpoint_.substr(endpoint_.find("://") == std::string::npos ? 0 : endpoint_.find("://") + 3);
    auto slash = hp.find('/');
    if (slash != std::string::npos) hp = hp.substr(0, slash);
    auto colon = hp.rfind(':');
    pool_->host = hp.substr(0, colon);
    pool_->port = colon == std::string::npos ? "80" : hp.substr(colon + 1);
  }
}

Client::~Client() = default;

namespace {

Status connect(Conn& c, Client::Pool& p, std::chrono::milliseconds timeout, const std::string& endpoint);

}  // namespace

Result<Response> Client::request(const std::string& method, const std::string& target, const std::string& body,
                                 const Headers& headers, std::chrono::milliseconds timeout) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<Conn> c;
    bool reused = false;
    {
      std::lock_guard lk(pool_->mu);
      if (!pool_->idle.empty()) {
        c = std::move(pool_->idle.back());
        pool_->idle.pop_back();
        reused = true;
      }
    }
    if (!c) {
      c = std::make_unique<Conn>(pool_->unix_socket);
      Status st = connect(*c, *pool_, timeout, endpoint_);
      if (!st.ok()) return st;
    }
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
    req.set(bhttp::field::host, pool_->unix_socket ? "localhost" : pool_->host);
    req.set(bhttp::field::user_agent, "shoal");
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty() && headers.find("Content-Type") == headers.end()) {
      req.set(bhttp::field::content_type, "application/json");
    }
    req.body() = body;
    req.keep_alive(true);
    req.prepare_payload();
    beast::error_code ec;
    bool done = false;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(256ull * 1024 * 1024);
    std::visit(
        [&](auto& s) {
          bhttp::async_write(s, req, [&](beast::error_code e, size_t) {
            if (e) {
              ec = e;
              done = true;
              return;
            }
            bhttp::async_read(s, c->buf, parser, [&](beast::error_code e2, size_t) {
              ec = e2;
              done = true;
            });
          });
        },
        c->sock);
    if (!c->run_for(timeout, done)) {
      return deadline_exceeded("no answer from " + endpoint_ + " within " + std::to_string(timeout.count()) + " ms");
    }
    if (ec) {
      c->close();
      if (reused) continue;  // the server closed an idle connection: retry once
      return unavailable("talking to " + endpoint_ + ": " + ec.message());
    }
    auto& res = parser.get();
    Response out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& f : res) out.headers[std::string(f.name_string())] = std::string(f.value());
    out.body = std::move(res.body());
    if (res.keep_alive()) {
      std::lock_guard lk(pool_->mu);
      if (pool_->idle.size() < 8) pool_->idle.push_back(std::move(c));
    }
    return out;
  }
  return unavailable("talking to " + endpoint_ + ": connection closed");
}

Status Client::stream(const std::string& method, const std::string& target, const std::string& body,
                      const std::function<bool(const std::string&)>& on_data, const std::atomic<bool>& cancel,
                      int* status_out) {
  Conn c(pool_->unix_socket);
  SHOAL_RETURN_IF_ERROR(connect(c, *pool_, std::chrono::seconds(10), endpoint_));
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
  req.set(bhttp::field::host, pool_->unix_socket ? "localhost" : pool_->host);
  if (!body.empty()) req.set(bhttp::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  beast::error_code ec;
  bool done = false;
  std::visit([&](auto& s) { bhttp::async_write(s, req, [&](beast::error_code e, size_t) { ec = e; done = true; }); },
             c.sock);
  if (!c.run_for(std::chrono::seconds(10), done) || ec) return unavailable("sending to " + endpoint_ + " failed");
  bhttp::response_parser<bhttp::buffer_body> parser;
  parser.body_limit(boost::none);
  done = false;
  std::visit([&](auto& s) { bhttp::async_read_header(s, c.buf, parser, [&](beast::error_code e, size_t) { ec = e; done = true; }); },
             c.sock);
  while (!done) {
    if (cancel) {
      c.close();
      return ok_status();
    }
    c.ioc.restart();
    c.ioc.run_one_for(std::chrono::milliseconds(200));
  }
  if (ec) return unavailable("reading from " + endpoint_ + ": " + ec.message());
  if (status_out) *status_out = static_cast<int>(parser.get().result_int());
  char buf[65536];
  while (!parser.is_done()) {
    parser.get().body().data = buf;
    parser.get().body().size = sizeof buf;
    done = false;
    size_t got = 0;
    std::visit([&](auto& s) {
      bhttp::async_read_some(s, c.buf, parser, [&](beast::error_code e, size_t) { ec = e; done = true; });
    }, c.sock);
    while (!done) {
      if (cancel) {
        c.close();
        c.ioc.restart();
        c.ioc.run();
        return ok_status();
      }
      c.ioc.restart();
      c.ioc.run_one_for(std::chrono::milliseconds(200));
    }
    if (ec == bhttp::error::need_buffer) ec = {};
    got = sizeof buf - parser.get().body().size;
    if (got > 0 && !on_data(std::string(buf, got))) {
      c.close();
      return ok_status();
    }
    if (ec) return unavailable("stream from " + endpoint_ + " ended: " + ec.message());
  }
  return ok_status();
}

namespace {

Status connect(Conn& c, Client::Pool& p, std::chrono::milliseconds timeout, const std::string& endpoint) {
  beast::error_code ec;
  bool done = false;
  if (p.unix_socket) {
    auto& s = std::get<net::local::stream_protocol::socket>(c.sock);
    s.async_connect(net::local::stream_protocol::endpoint(p.path), [&](beast::error_code e) { ec = e; done = true; });
  } else {
    auto& s = std::get<net::ip::tcp::socket>(c.sock);
    net::ip::tcp::resolver r(c.ioc);
    auto eps = r.resolve(p.host, p.port, ec);
    if (ec) return unavailable("cannot resolve " + endpoint + ": " + ec.message());
    net::async_connect(s, eps, [&](beast::error_code e, const net::ip::tcp::endpoint&) { ec = e; done = true; });
  }
  if (!c.run_for(timeout, done)) return deadline_exceeded("connecting to " + endpoint + " timed out");
  if (ec) return unavailable("cannot connect to " + endpoint + ": " + ec.message());
  return ok_status();
}

}  // namespace

}  // namespace shoal::http
