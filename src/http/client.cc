// Beast client. Each connection owns an io_context so that every operation
// can run asynchronously with a deadline (run_for) while the API stays
// synchronous.
#include "http/client.h"

#include <limits>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/http.hpp>
#include <poll.h>

#include <mutex>
#include <variant>

namespace shoal::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

namespace {

using TlsStream = net::ssl::stream<net::ip::tcp::socket>;
enum class Transport { kUnix, kTcp, kTls };

struct Conn {
  net::io_context ioc;
  // Index = Transport. A TLS stream is neither movable nor assignable in
  // Boost 1.74, so it sits behind a pointer.
  std::variant<net::local::stream_protocol::socket, net::ip::tcp::socket, std::unique_ptr<TlsStream>> sock;
  beast::flat_buffer buf;
  // Links of the pool's list of connections a request is using now (for
  // cancel()); under Pool::mu. Intrusive: tracking a request allocates nothing.
  Conn* prev_in_flight = nullptr;
  Conn* next_in_flight = nullptr;

  Conn(Transport t, net::ssl::context* ssl)
      : sock(t == Transport::kUnix  ? decltype(sock)(std::in_place_index<0>, ioc)
             : t == Transport::kTcp ? decltype(sock)(std::in_place_index<1>, ioc)
                                    : decltype(sock)(std::in_place_index<2>, std::make_unique<TlsStream>(ioc, *ssl))) {}

  // Calls f with the stream requests are written to and read from.
  template <typename F>
  void with_stream(F&& f) {
    std::visit(
        [&](auto& s) {
          if constexpr (std::is_same_v<std::decay_t<decltype(s)>, std::unique_ptr<TlsStream>>) {
            f(*s);
          } else {
            f(s);
          }
        },
        sock);
  }
  int native_fd() {
    if (auto* t = std::get_if<2>(&sock)) return (*t)->lowest_layer().native_handle();
    int fd = -1;
    std::visit(
        [&](auto& s) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(s)>, std::unique_ptr<TlsStream>>) fd = s.native_handle();
        },
        sock);
    return fd;
  }
  // An idle pooled connection the server has closed (or that has bytes
  // nobody asked for) must not carry a request: checked before reuse, so a
  // request is never sent where it would only be lost.
  bool stale() {
    pollfd p{native_fd(), POLLIN | POLLRDHUP, 0};
    return ::poll(&p, 1, 0) != 0;
  }
  void close() {
    beast::error_code ec;
    if (auto* t = std::get_if<2>(&sock)) {
      (*t)->lowest_layer().close(ec);
      return;
    }
    std::visit(
        [&](auto& s) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(s)>, std::unique_ptr<TlsStream>>) s.close(ec);
        },
        sock);
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

bool idempotent_method(const std::string& m) { return m == "GET" || m == "HEAD" || m == "OPTIONS"; }

constexpr char kOutcomeUnknown[] = "outcome unknown: ";

}  // namespace

struct Client::Pool {
  Transport transport = Transport::kUnix;
  std::unique_ptr<net::ssl::context> ssl;  // kTls only
  std::string server_name;  // kTls: the name to verify instead of `host`
  bool skip_verify = false;  // kTls: TlsOptions::insecure_skip_verify
  Status setup;                            // why the client cannot be used (bad TLS files), else ok
  std::string path;
  std::string host;
  std::string port;
  // The Host header: "localhost" on unix; host, with ":port" unless the
  // scheme's default (RFC 9110 7.2; servers such as docker-registry build
  // absolute URLs from it).
  std::string host_header = "localhost";
  std::mutex mu;
  std::vector<std::unique_ptr<Conn>> idle;
  bool cancelled = false;       // cancel() was called
  Conn* in_flight = nullptr;    // head of the list of connections a request is using now

  // Under mu: adds c to the in-flight list.
  void link_locked(Conn* c) {
    c->prev_in_flight = nullptr;
    c->next_in_flight = in_flight;
    if (in_flight) in_flight->prev_in_flight = c;
    in_flight = c;
  }
  // Under mu: removes c (which is in the list) from it.
  void unlink_locked(Conn* c) {
    if (c->prev_in_flight) c->prev_in_flight->next_in_flight = c->next_in_flight;
    else in_flight = c->next_in_flight;
    if (c->next_in_flight) c->next_in_flight->prev_in_flight = c->prev_in_flight;
    c->prev_in_flight = c->next_in_flight = nullptr;
  }
};

void Client::cancel() {
  std::lock_guard lk(pool_->mu);
  pool_->cancelled = true;
  pool_->idle.clear();
  // Closing the socket on its own io_context (post is thread-safe) ends the
  // pending operations of the request thread's run_for at once.
  for (Conn* c = pool_->in_flight; c; c = c->next_in_flight) net::post(c->ioc, [c] { c->close(); });
}

namespace {

Status tls_setup(Client::Pool& p, const TlsOptions& tls, const std::string& endpoint) {
  if (tls.ca_file.empty() && tls.ca_pem.empty() && !tls.insecure_skip_verify) {
    return invalid_argument("https endpoint " + endpoint + " needs a CA certificate to verify the server against");
  }
  p.ssl = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
  p.ssl->set_options(net::ssl::context::no_sslv2 | net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                     net::ssl::context::no_tlsv1_1);
  beast::error_code ec;
  p.server_name = tls.server_name;
  p.skip_verify = tls.insecure_skip_verify;
  if (tls.insecure_skip_verify) {
    p.ssl->set_verify_mode(net::ssl::verify_none, ec);
  } else if (!tls.ca_pem.empty()) {
    p.ssl->add_certificate_authority(net::buffer(tls.ca_pem), ec);
    if (ec) return invalid_argument("loading the CA certificate for " + endpoint + ": " + ec.message());
    p.ssl->set_verify_mode(net::ssl::verify_peer, ec);
  } else {
    p.ssl->load_verify_file(tls.ca_file, ec);
    if (ec) return invalid_argument("loading the CA certificate " + tls.ca_file + ": " + ec.message());
    p.ssl->set_verify_mode(net::ssl::verify_peer, ec);
  }
  // An encrypted private key is an error, never a passphrase prompt on the
  // terminal (OpenSSL's default callback reads /dev/tty, blocking the caller).
  p.ssl->set_password_callback([](std::size_t, net::ssl::context::password_purpose) { return std::string(); }, ec);
  if (!tls.cert_pem.empty()) {
    p.ssl->use_certificate_chain(net::buffer(tls.cert_pem), ec);
    if (ec) return invalid_argument("loading the client certificate for " + endpoint + ": " + ec.message());
    p.ssl->use_private_key(net::buffer(tls.key_pem), net::ssl::context::pem, ec);
    if (ec) return invalid_argument("loading the client key for " + endpoint + ": " + ec.message());
  } else if (!tls.cert_file.empty()) {
    p.ssl->use_certificate_chain_file(tls.cert_file, ec);
    if (ec) return invalid_argument("loading the client certificate " + tls.cert_file + ": " + ec.message());
    p.ssl->use_private_key_file(tls.key_file, net::ssl::context::pem, ec);
    if (ec) return invalid_argument("loading the client key " + tls.key_file + ": " + ec.message());
  }
  return ok_status();
}

}  // namespace

Client::Client(std::string endpoint, TlsOptions tls) : endpoint_(std::move(endpoint)), pool_(std::make_unique<Pool>()) {
  if (endpoint_.rfind("unix://", 0) == 0) {
    pool_->path = endpoint_.substr(7);
  } else {
    pool_->transport = endpoint_.rfind("https://", 0) == 0 ? Transport::kTls : Transport::kTcp;
    if (pool_->transport == Transport::kTls) pool_->setup = tls_setup(*pool_, tls, endpoint_);
    std::string hp = endpoint_.substr(endpoint_.find("://") == std::string::npos ? 0 : endpoint_.find("://") + 3);
    auto slash = hp.find('/');
    if (slash != std::string::npos) hp = hp.substr(0, slash);
    auto colon = hp.rfind(':');
    pool_->host = hp.substr(0, colon);
    pool_->port = colon == std::string::npos ? (pool_->transport == Transport::kTls ? "443" : "80")
                                             : hp.substr(colon + 1);
    if (pool_->host.size() > 2 && pool_->host.front() == '[' && pool_->host.back() == ']') {
      pool_->host = pool_->host.substr(1, pool_->host.size() - 2);
    }
    const bool default_port = pool_->port == (pool_->transport == Transport::kTls ? "443" : "80");
    pool_->host_header = default_port ? hp.substr(0, colon) : hp;
  }
}

Client::~Client() = default;

namespace {

Status connect(Conn& c, Client::Pool& p, std::chrono::milliseconds timeout, const std::string& endpoint);

bool is_cancelled(Client::Pool& p) {
  std::lock_guard lk(p.mu);
  return p.cancelled;
}

}  // namespace

bool Client::outcome_unknown(const Status& st) {
  return !st.ok() && st.message().rfind(kOutcomeUnknown, 0) == 0;
}

Result<Response> Client::request(const std::string& method, const std::string& target, const std::string& body,
                                 const Headers& headers, std::chrono::milliseconds timeout, Idempotent idempotent) {
  SHOAL_RETURN_IF_ERROR(pool_->setup);
  // Only a request that is safe to repeat may be sent again after a pooled
  // connection failed under it: the server may have applied the first one.
  const bool may_resend = idempotent == Idempotent::kYes || idempotent_method(method);
  auto cancelled = [&] { return unavailable("request to " + endpoint_ + " cancelled: the client is shutting down"); };
  for (int attempt = 0; attempt < 2; ++attempt) {
    // One lock takes a pooled connection and tracks it for cancel(); a new
    // connection (its io_context is costly to make) is made outside the lock.
    std::unique_ptr<Conn> c;
    bool reused = false;
    {
      std::lock_guard lk(pool_->mu);
      if (pool_->cancelled) return cancelled();
      while (!pool_->idle.empty() && !c) {
        c = std::move(pool_->idle.back());
        pool_->idle.pop_back();
        if (c->stale()) c.reset();  // closed by the server while idle: nothing was sent on it
      }
      reused = c != nullptr;
      if (c) pool_->link_locked(c.get());
    }
    if (!c) {
      c = std::make_unique<Conn>(pool_->transport, pool_->ssl.get());
      std::lock_guard lk(pool_->mu);
      if (pool_->cancelled) return cancelled();
      pool_->link_locked(c.get());
    }
    struct Untrack {  // ends the tracking when the request ends, whichever way
      Client::Pool& p;
      Conn* c;
      ~Untrack() {
        if (!c) return;
        std::lock_guard lk(p.mu);
        p.unlink_locked(c);
      }
    } untrack_on_exit{*pool_, c.get()};
    if (!reused) {
      Status st = connect(*c, *pool_, timeout, endpoint_);
      if (!st.ok()) return is_cancelled(*pool_) ? cancelled() : st;  // nothing was sent
    }
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
    req.set(bhttp::field::host, pool_->host_header);
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
    c->with_stream([&](auto& s) {
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
    });
    auto what = [&] { return method + " " + target + " to " + endpoint_; };
    // From here the request's bytes may have gone out: a cancel() now leaves
    // its outcome unknown (a store write cut off at shutdown may be applied).
    auto cancelled_after_send = [&] {
      return unavailable(kOutcomeUnknown + what() +
                         " cancelled after it was sent: the client is shutting down; it may or may not have been applied");
    };
    if (!c->run_for(timeout, done)) {
      if (is_cancelled(*pool_)) return cancelled_after_send();
      return deadline_exceeded(kOutcomeUnknown + what() + ": no answer within " + std::to_string(timeout.count()) +
                               " ms; it may or may not have been applied");
    }
    if (ec) {
      c->close();
      if (is_cancelled(*pool_)) return cancelled_after_send();
      if (reused && may_resend) continue;  // the server closed the connection under us: once more, fresh
      return unavailable(kOutcomeUnknown + what() + " failed after it was sent (" + ec.message() +
                         "); it may or may not have been applied: read the state before trying again");
    }
    auto& res = parser.get();
    Response out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& f : res) out.headers[std::string(f.name_string())] = std::string(f.value());
    out.body = std::move(res.body());
    if (res.keep_alive()) {  // untracked and pooled under one lock
      std::lock_guard lk(pool_->mu);
      pool_->unlink_locked(c.get());
      untrack_on_exit.c = nullptr;
      if (!pool_->cancelled && pool_->idle.size() < 8) pool_->idle.push_back(std::move(c));
    }
    return out;
  }
  return unavailable(kOutcomeUnknown + method + " " + target + " to " + endpoint_ + ": the connection closed twice");
}

Status Client::stream(const std::string& method, const std::string& target, const std::string& body,
                      const std::function<bool(const std::string&)>& on_data, const std::atomic<bool>& cancel,
                      int* status_out, const Headers& headers, Headers* headers_out,
                      std::chrono::milliseconds idle_timeout) {
  SHOAL_RETURN_IF_ERROR(pool_->setup);
  Conn c(pool_->transport, pool_->ssl.get());
  // On the cancel() list for its whole life: connect, TLS handshake and
  // write (each up to 10 s on a hung server) end at once on cancel().
  {
    std::lock_guard lk(pool_->mu);
    if (pool_->cancelled) return ok_status();
    pool_->link_locked(&c);
  }
  struct Untrack {
    Client::Pool& p;
    Conn* c;
    ~Untrack() {
      std::lock_guard lk(p.mu);
      p.unlink_locked(c);
    }
  } untrack_on_exit{*pool_, &c};
  Status connected = connect(c, *pool_, std::chrono::seconds(10), endpoint_);
  if (cancel || is_cancelled(*pool_)) return ok_status();
  SHOAL_RETURN_IF_ERROR(connected);
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
  req.set(bhttp::field::host, pool_->host_header);
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty() && headers.find("Content-Type") == headers.end()) {
    req.set(bhttp::field::content_type, "application/json");
  }
  req.body() = body;
  req.prepare_payload();
  beast::error_code ec;
  // Ends a wait with no byte for idle_timeout (0: never).
  auto stalled = [&, last = std::chrono::steady_clock::now()](bool progressed) mutable {
    if (progressed) last = std::chrono::steady_clock::now();
    return idle_timeout.count() > 0 && std::chrono::steady_clock::now() - last > idle_timeout;
  };
  auto stall_error = [&] {
    c.close();
    return deadline_exceeded("no data from " + endpoint_ + " for " + std::to_string(idle_timeout.count()) + " ms");
  };
  bool done = false;
  c.with_stream([&](auto& s) { bhttp::async_write(s, req, [&](beast::error_code e, size_t) { ec = e; done = true; }); });
  bool sent = c.run_for(std::chrono::seconds(10), done) && !ec;
  if (cancel || is_cancelled(*pool_)) return ok_status();
  if (!sent) return unavailable("sending to " + endpoint_ + " failed");
  bhttp::response_parser<bhttp::buffer_body> parser;
  // No limit, spelled as the largest one: this Beast compares a
  // Content-Length against an empty optional as greater (body_limit error).
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  done = false;
  c.with_stream([&](auto& s) {
    bhttp::async_read_header(s, c.buf, parser, [&](beast::error_code e, size_t) { ec = e; done = true; });
  });
  while (!done) {
    if (cancel) {
      c.close();
      return ok_status();
    }
    if (stalled(false)) return stall_error();
    c.ioc.restart();
    c.ioc.run_one_for(std::chrono::milliseconds(200));
  }
  if (ec) return unavailable("reading from " + endpoint_ + ": " + ec.message());
  if (status_out) *status_out = static_cast<int>(parser.get().result_int());
  if (headers_out) {
    for (const auto& f : parser.get()) (*headers_out)[std::string(f.name_string())] = std::string(f.value());
  }
  stalled(true);
  char buf[65536];
  while (!parser.is_done()) {
    parser.get().body().data = buf;
    parser.get().body().size = sizeof buf;
    done = false;
    size_t got = 0;
    c.with_stream([&](auto& s) {
      bhttp::async_read_some(s, c.buf, parser, [&](beast::error_code e, size_t) { ec = e; done = true; });
    });
    while (!done) {
      if (cancel) {
        c.close();
        c.ioc.restart();
        c.ioc.run();
        return ok_status();
      }
      if (stalled(false)) {
        Status st = stall_error();
        c.ioc.restart();
        c.ioc.run();
        return st;
      }
      c.ioc.restart();
      c.ioc.run_one_for(std::chrono::milliseconds(200));
    }
    if (ec == bhttp::error::need_buffer) ec = {};
    got = sizeof buf - parser.get().body().size;
    stalled(got > 0);
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
  auto deadline = std::chrono::steady_clock::now() + timeout;
  if (p.transport == Transport::kUnix) {
    auto& s = std::get<0>(c.sock);
    s.async_connect(net::local::stream_protocol::endpoint(p.path), [&](beast::error_code e) { ec = e; done = true; });
  } else {
    net::ip::tcp::socket& s = p.transport == Transport::kTcp ? std::get<1>(c.sock) : std::get<2>(c.sock)->next_layer();
    net::ip::tcp::resolver r(c.ioc);
    auto eps = r.resolve(p.host, p.port, ec);
    if (ec) return unavailable("cannot resolve " + endpoint + ": " + ec.message());
    net::async_connect(s, eps, [&](beast::error_code e, const net::ip::tcp::endpoint&) { ec = e; done = true; });
  }
  if (!c.run_for(timeout, done)) return deadline_exceeded("connecting to " + endpoint + " timed out");
  if (ec) return unavailable("cannot connect to " + endpoint + ": " + ec.message());
  if (p.transport != Transport::kTls) return ok_status();
  // TLS: the server must present a certificate of our CA naming the host we
  // dialled (an IP SAN for an address, a DNS SAN for a name).
  TlsStream& t = *std::get<2>(c.sock);
  beast::error_code addr_ec;
  net::ip::make_address(p.host, addr_ec);
  if (addr_ec && !SSL_set_tlsext_host_name(t.native_handle(), p.host.c_str())) {
    return internal_error("setting the TLS server name for " + endpoint + " failed");
  }
  if (!p.skip_verify) t.set_verify_callback(net::ssl::host_name_verification(p.server_name.empty() ? p.host : p.server_name));
  done = false;
  t.async_handshake(net::ssl::stream_base::client, [&](beast::error_code e) { ec = e; done = true; });
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  if (!c.run_for(std::max(left, std::chrono::milliseconds(1)), done)) {
    return deadline_exceeded("TLS handshake with " + endpoint + " timed out");
  }
  if (ec) {
    return unavailable("TLS handshake with " + endpoint + " failed (" + ec.message() +
                       "): the server's certificate must be issued by the swarm's CA for " + p.host);
  }
  return ok_status();
}

}  // namespace

}  // namespace shoal::http
