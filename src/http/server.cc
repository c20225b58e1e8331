// Beast server: one C++20 coroutine per connection, on the executor of one of
// the server's I/O contexts (round robin), each run by exactly one thread.
// Everything that touches a connection (its socket, its timers, the wake-up
// from a handler answering on a worker or any other thread) runs on that
// context's thread, so a check of the exchange followed by a wait cannot miss
// a wake-up posted in between. (A strand over one shared multi-thread context
// gave the same order at the price of a queue and an allocation per handler.) Handlers run on a worker pool and answer through
// a shared ExchangeState, which holds no Boost object: it wakes the
// connection through a Wakeup that is cleared when the connection ends or the
// server stops, so a late answer (a long poll answered after stop) is a no-op.
// A handler's client-gone callback makes await_answer watch the socket
// (ConnBase::watching) and run it (ExchangeState::client_went) on a close.
#include "http/server.h"

#include <sys/socket.h>
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
#include <algorithm>
#include <cerrno>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/log.h"
#include "http/exchange_state.h"
#include "http/hijack_pump.h"
#include "http/tls_server.h"

namespace shoal::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using net::awaitable;
using net::use_awaitable;
using ConnEx = net::io_context::executor_type;  // of a context one thread runs
using tls::TlsSocket;
using internal::ExchangeState;
using internal::Wakeup;

namespace {

// The parts of a connection that do not depend on the socket type. Every
// member is used on `ex` (its context's one thread) only.
struct ConnBase : std::enable_shared_from_this<ConnBase> {
  explicit ConnBase(ConnEx e) : ex(e), wake_timer(e) {}
  virtual ~ConnBase() = default;
  virtual void close_socket() = 0;

  ConnEx ex;
  net::steady_timer wake_timer;  // cancelled by a wake-up
  std::shared_ptr<Wakeup> wakeup = std::make_shared<Wakeup>();
  // When the server's sweeper closes the socket (steady clock, ns; kNoDeadline:
  // never). Set on `ex`, read by the sweeper from its own thread. One
  // sweeper for all connections instead of a timer wait and cancel per
  // phase of every request: those were a large part of the server's work
  // with a thousand agents' long polls and status reports.
  static constexpr int64_t kNoDeadline = std::numeric_limits<int64_t>::max();
  std::atomic<int64_t> deadline_ns{kNoDeadline};
  bool stopping = false;
  bool timed_out = false;
  bool woken = false;
  PeerCertificate peer_cert;  // set by the TLS handshake
  // The watch of the socket while a handler waits holding a client-gone
  // callback (ExchangeState::watch_wanted; Server::Impl::watch_peer). One
  // operation at a time: for unix and TCP a wait for readability, then a
  // peek tells a close or reset from the start of a pipelined request (left
  // in the socket); for TLS a read through the stream (a wait on the TCP
  // socket misses what the TLS layer holds already), whose bytes, a next
  // request's start, wait in `watched` for the request buffer.
  bool watching = false;    // an operation is outstanding
  bool watch_stop = false;  // it was cancelled (answer, stop): learn nothing more, do not re-arm
  bool peer_gone = false;   // the client closed (or half-closed) or reset the connection
  bool peer_sent = false;   // a next request began: the watch ends for this exchange
  std::vector<char> watched;

  static int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  // Closes the socket after `d` (within the sweep period) unless disarm() or
  // arm() comes first.
  void arm(std::chrono::milliseconds d) {
    deadline_ns.store(now_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(),
                      std::memory_order_relaxed);
  }
  void disarm() { deadline_ns.store(kNoDeadline, std::memory_order_relaxed); }
  // On `ex`, posted by the sweeper: close if the deadline (which arm()
  // may have moved since) has passed.
  void expire_if_due() {
    if (timed_out || stopping || now_ns() < deadline_ns.load(std::memory_order_relaxed)) return;
    timed_out = true;
    close_socket();
  }
  // Set while a hijacked stream runs (hijack_pump.h): ends it.
  std::function<void()> on_stop;
  void shutdown() {
    stopping = true;
    disarm();
    if (on_stop) on_stop();
    close_socket();
    wake_timer.cancel();
  }
  void install_wakeup() {
    std::weak_ptr<ConnBase> weak = weak_from_this();
    std::lock_guard lk(wakeup->mu);
    wakeup->fn = [e = ex, weak] {
      net::post(e, [weak] {
        if (auto c = weak.lock()) {
          c->woken = true;
          c->wake_timer.cancel();
        }
      });
    };
  }
};

template <typename Socket>
struct Conn : ConnBase {
  template <typename... Args>
  Conn(ConnEx e, Args&&... args) : ConnBase(e), sock(std::forward<Args>(args)...) {}
  void close_socket() override {
    beast::error_code ec;
    sock.shutdown(net::socket_base::shutdown_both, ec);
    sock.close(ec);
  }
  Socket sock;
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

// A malformed request (as opposed to a connection that closed or timed out).
bool is_parse_error(const beast::error_code& ec) {
  static const auto& cat = bhttp::make_error_code(bhttp::error::bad_target).category();
  return ec.category() == cat && ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
}

std::string error_body(const std::string& message) {
  return nlohmann::json{{"message", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

std::string unverified_source_key(const std::string& peer) {
  std::string addr = peer.substr(0, peer.rfind(':'));
  boost::system::error_code ec;
  net::ip::address a = net::ip::make_address(addr, ec);
  if (ec || !a.is_v6()) return addr;
  net::ip::address_v6 v6 = a.to_v6();
  if (v6.is_v4_mapped()) return net::ip::make_address_v4(net::ip::v4_mapped, v6).to_string();
  net::ip::address_v6::bytes_type b = v6.to_bytes();
  std::fill(b.begin() + 8, b.end(), 0);
  return net::ip::address_v6(b).to_string() + "/64";
}

UnverifiedCaps unverified_tls_caps(size_t max_connections) {
  constexpr size_t kMaxTotal = 4096, kMaxPerSource = 32;
  size_t total = std::clamp<size_t>(max_connections / 2, 1, kMaxTotal);
  // At least 4 per source: a join's CA fetch may still hold its slot when the join itself connects.
  return {total, std::clamp<size_t>(total / 8, std::min<size_t>(4, total), kMaxPerSource)};
}

size_t verified_per_node_cap(size_t max_connections) {
  constexpr size_t kMaxPerNode = 16;
  return std::clamp<size_t>(max_connections / 2, std::min<size_t>(4, max_connections), kMaxPerNode);
}

struct Server::Impl {
  ServerOptions options;
  Handler handler;
  // One per I/O thread, each run by that thread only (see the top of this
  // file). iocs[0] also runs the acceptors and the sweeper. Created by the
  // constructor, never resized.
  std::vector<std::unique_ptr<net::io_context>> iocs;
  size_t next_ioc = 0;  // round robin of new connections; on iocs[0]'s thread
  ConnEx next_executor() { return iocs[next_ioc++ % iocs.size()]->get_executor(); }
  std::unique_ptr<net::thread_pool> workers;
  std::vector<std::thread> io_threads;
  std::vector<std::unique_ptr<net::local::stream_protocol::acceptor>> unix_acceptors;
  std::vector<std::unique_ptr<net::ip::tcp::acceptor>> tcp_acceptors;
  std::vector<std::unique_ptr<net::ip::tcp::acceptor>> tls_acceptors;
  std::unique_ptr<net::ssl::context> ssl;  // when there are tls_acceptors
  std::vector<int> ports;
  std::vector<std::string> unix_paths;
  bool running = false;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;  // one per iocs entry

  // TLS connections without a verified client certificate (handshaking, or
  // anonymous: joins and CA fetches from anyone on the network): at most
  // unverified_tls_caps(max_connections) per source address and in all,
  // each with small header and body limits, so strangers cannot spend
  // shoald's descriptors or memory, nor one address shut out the others.
  static constexpr size_t kUnverifiedHeaderLimit = 16 * 1024;
  static constexpr uint64_t kUnverifiedBodyLimit = 64 * 1024;
  // Shared with each connection's slot: a coroutine frame that outlives
  // stop() (destroyed with the io_context) may still release its slot.
  struct UnverifiedCounts {
    std::mutex mu;
    size_t total = 0;                              // under mu
    std::unordered_map<std::string, size_t> by_ip;  // under mu
  };
  std::shared_ptr<UnverifiedCounts> unverified = std::make_shared<UnverifiedCounts>();
  // Verified TLS connections per peer certificate common name: at most
  // verified_per_node_cap(max_connections) each (see there). Shared with
  // each connection's slot like `unverified`.
  struct VerifiedCounts {
    std::mutex mu;
    std::unordered_map<std::string, size_t> by_cn;  // under mu
  };
  std::shared_ptr<VerifiedCounts> verified = std::make_shared<VerifiedCounts>();
  struct VerifiedSlot {
    std::shared_ptr<VerifiedCounts> counts;
    std::string cn;
    ~VerifiedSlot() {
      if (!counts) return;
      std::lock_guard lk(counts->mu);
      auto it = counts->by_cn.find(cn);
      if (it != counts->by_cn.end() && --it->second == 0) counts->by_cn.erase(it);
    }
    bool take(const std::shared_ptr<VerifiedCounts>& cs, const std::string& name, size_t cap) {
      std::lock_guard lk(cs->mu);
      size_t& n = cs->by_cn[name];
      if (n >= cap) {
        if (n == 0) cs->by_cn.erase(name);
        return false;
      }
      ++n;
      counts = cs;
      cn = name;
      return true;
    }
  };
  struct UnverifiedSlot {
    std::shared_ptr<UnverifiedCounts> counts;
    std::string ip;
    ~UnverifiedSlot() { release(); }
    // trusted (ServerOptions::trusted_source): counted by its exact address
    // and past caps.total.
    bool take(const std::shared_ptr<UnverifiedCounts>& cs, const std::string& peer, UnverifiedCaps caps,
              const std::function<bool(const std::string&)>& trusted_source) {
      std::string addr = unverified_source_key(peer);
      bool trusted = false;
      if (trusted_source) {
        std::string ip = peer.substr(0, peer.rfind(':'));
        boost::system::error_code ec;
        net::ip::address a = net::ip::make_address(ip, ec);
        if (!ec && a.is_v6() && a.to_v6().is_v4_mapped()) {
          ip = net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6()).to_string();
        }
        trusted = trusted_source(ip);
        if (trusted) addr = "trusted " + ip;
      }
      std::lock_guard lk(cs->mu);
      size_t& n = cs->by_ip[addr];
      if (n >= caps.per_source || (!trusted && cs->total >= caps.total)) {
        if (n == 0) cs->by_ip.erase(addr);
        return false;
      }
      ++n;
      ++cs->total;
      counts = cs;
      ip = std::move(addr);
      return true;
    }
    void release() {
      std::shared_ptr<UnverifiedCounts> cs = std::move(counts);
      if (!cs) return;
      std::lock_guard lk(cs->mu);
      auto it = cs->by_ip.find(ip);
      if (it != cs->by_ip.end() && --it->second == 0) cs->by_ip.erase(it);
      --cs->total;
    }
  };

  mutable std::mutex conns_mu;
  std::condition_variable conns_cv;
  std::unordered_set<std::shared_ptr<ConnBase>> conns;  // open connections
  bool accepting = true;                                 // under conns_mu

  // Closes connections whose deadline passed (see ConnBase::deadline_ns);
  // runs every sweep_period() on the io_context until stop().
  std::unique_ptr<net::steady_timer> sweeper;
  std::chrono::milliseconds sweep_period() const {
    auto m = std::min({options.header_timeout, options.body_timeout, options.idle_timeout, options.write_timeout});
    return std::clamp(m / 8, std::chrono::milliseconds(5), std::chrono::milliseconds(250));
  }
  void sweep(const beast::error_code& ec) {
    if (ec) return;
    int64_t now = ConnBase::now_ns();
    {
      std::lock_guard lk(conns_mu);
      for (const auto& c : conns)
        if (c->deadline_ns.load(std::memory_order_relaxed) <= now) net::post(c->ex, [c] { c->expire_if_due(); });
    }
    sweeper->expires_after(sweep_period());
    sweeper->async_wait([this](const beast::error_code& e) { sweep(e); });
  }

  bool add_conn(const std::shared_ptr<ConnBase>& c) {
    std::lock_guard lk(conns_mu);
    if (!accepting || conns.size() >= options.max_connections) return false;
    conns.insert(c);
    return true;
  }
  void remove_conn(const std::shared_ptr<ConnBase>& c) {
    std::lock_guard lk(conns_mu);
    conns.erase(c);
    conns_cv.notify_all();
  }

  // What lives in one context may hold objects of another (an accept loop on
  // iocs[0] holds the socket it accepts into), so everything using the
  // contexts goes first, then iocs[0], then the others.
  ~Impl() {
    sweeper.reset();
    unix_acceptors.clear();
    tcp_acceptors.clear();
    tls_acceptors.clear();
    conns.clear();
    for (auto& ioc : iocs) ioc.reset();
  }

  uint64_t body_limit_for(const std::string& method, const std::string& path) const {
    uint64_t l = options.route_body_limit ? options.route_body_limit(method, path) : 0;
    return l ? l : options.body_limit;
  }

  // Writes `msg` within write_timeout; false if the write failed.
  template <typename Socket, typename Message>
  awaitable<bool> write_message(Conn<Socket>& c, Message& msg) {
    beast::error_code ec;
    c.arm(options.write_timeout);
    co_await bhttp::async_write(c.sock, msg, net::redirect_error(use_awaitable, ec));
    c.disarm();
    co_return !ec;
  }

  // An error answer after which the connection is closed.
  template <typename Socket>
  awaitable<void> send_error(Conn<Socket>& c, int status, const std::string& message, unsigned version) {
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), version ? version : 11};
    res.set(bhttp::field::content_type, "application/json");
    res.body() = error_body(message);
    res.keep_alive(false);
    res.prepare_payload();
    co_await write_message(c, res);
  }

  // After an early answer (413) the client may still be sending: stop
  // writing and read what comes for a moment before closing, so that the
  // close does not reset the connection before the client read the answer.
  template <typename Socket>
  awaitable<void> linger(Conn<Socket>& c) {
    beast::error_code ec;
    c.sock.shutdown(net::socket_base::shutdown_send, ec);
    c.arm(std::chrono::seconds(2));
    std::vector<char> sink(16384);
    for (int i = 0; i < 4096 && !ec; ++i) {  // at most 64 MiB
      co_await c.sock.async_read_some(net::buffer(sink), net::redirect_error(use_awaitable, ec));
    }
    c.disarm();
  }

  // Reads one request into `parser` within the limits; false when the
  // connection is to be closed (an error answer was sent where one is due).
  // Reads the rest of a body that its route spools into a new 0600 file in
  // `dir` (Beast's file_body over our fd). On success `*path` names it; on
  // failure the file is removed and an answer sent where one is due.
  template <typename Socket>
  awaitable<bool> spool_body(Conn<Socket>& c, beast::flat_buffer& buf,
                             bhttp::request_parser<bhttp::string_body>& parser, const std::string& dir,
                             uint64_t limit, bhttp::request<bhttp::string_body>& out, std::string* path,
                             const std::function<std::string()>& too_large) {
    unsigned version = parser.get().version();
    std::string p = dir + "/upload-XXXXXX";
    int fd = mkstemp(p.data());  // 0600
    if (fd < 0) {
      co_await send_error(c, 500, "cannot store the upload in " + dir + ": " + strerror(errno), version);
      co_return false;
    }
    // Removes the file unless it is handed over, also when this frame is
    // destroyed without resuming (a server stopped mid-upload).
    struct Unlink {
      std::string path;
      ~Unlink() {
        if (!path.empty()) ::unlink(path.c_str());
      }
    } remove_unless_done{p};
    beast::error_code ec;
    bhttp::request_parser<bhttp::file_body> fp{std::move(parser)};
    fp.body_limit(limit);
    beast::file f;
    f.native_handle(fd);
    fp.get().body().reset(std::move(f), ec);
    bool ok = !ec;
    while (ok && !fp.is_done()) {
      c.arm(options.body_timeout);
      co_await bhttp::async_read_some(c.sock, buf, fp, net::redirect_error(use_awaitable, ec));
      if (ec == bhttp::error::body_limit) {
        co_await send_error(c, 413, too_large(), version);
        co_await linger(c);
        ok = false;
      } else if (ec) {
        if (is_parse_error(ec) && !c.timed_out && !c.stopping) {
          co_await send_error(c, 400, "malformed HTTP request body: " + ec.message(), version);
        }
        ok = false;
      }
    }
    c.disarm();
    auto msg = fp.release();
    msg.body().close();  // closes fd
    if (!ok) co_return false;  // the file is removed
    out = bhttp::request<bhttp::string_body>(std::move(msg.base()));
    *path = p;
    remove_unless_done.path.clear();
    co_return true;
  }

  template <typename Socket>
  awaitable<bool> read_request(Conn<Socket>& c, beast::flat_buffer& buf,
                               bhttp::request_parser<bhttp::string_body>& parser, bool first,
                               bhttp::request<bhttp::string_body>& out, std::string* spooled) {
    auto& sock = c.sock;
    beast::error_code ec;
    if (buf.size() == 0) {  // wait for the first byte: the idle (keep-alive) timeout
      c.arm(first ? options.header_timeout : options.idle_timeout);
      if constexpr (std::is_same_v<Socket, TlsSocket>) {
        // Read through TLS, never wait on the TCP socket: the request may
        // already sit in the TLS layer's input (read from the socket with
        // the client's last handshake message), and the socket would then
        // never turn readable: the request hung until the client gave up.
        size_t n = co_await sock.async_read_some(buf.prepare(4096), net::redirect_error(use_awaitable, ec));
        buf.commit(n);
      } else {
        co_await sock.async_wait(net::socket_base::wait_read, net::redirect_error(use_awaitable, ec));
      }
      if (ec || c.stopping || c.timed_out) co_return false;
    }
    size_t header_limit = options.header_limit;
    bool unverified = false;
    if constexpr (std::is_same_v<Socket, TlsSocket>) unverified = !c.peer_cert.verified;
    if (unverified) header_limit = std::min(header_limit, kUnverifiedHeaderLimit);
    parser.header_limit(static_cast<std::uint32_t>(header_limit));
    // Beast checks Content-Length against the body limit (1 MiB by default)
    // with the header; the route's limit is applied once the path is known.
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    c.arm(options.header_timeout);
    co_await bhttp::async_read_header(sock, buf, parser, net::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == bhttp::error::header_limit) {
        co_await send_error(c, 413, "the request headers are larger than " + std::to_string(header_limit) +
                                        " bytes: send smaller headers", 11);
        co_await linger(c);
      } else if (is_parse_error(ec) && !c.timed_out && !c.stopping) {
        co_await send_error(c, 400, "malformed HTTP request: " + ec.message(), 11);
      }
      co_return false;
    }
    auto& head = parser.get();
    std::string target(head.target());
    std::string method(head.method_string());
    uint64_t limit = body_limit_for(method, url_decode(target.substr(0, target.find('?'))));
    if (unverified) limit = std::min(limit, kUnverifiedBodyLimit);
    // Uses only copies: spool_body moves the parser (and `head` with it) away.
    auto too_large = [limit, &method, &target] {
      return "the request body is larger than " + std::to_string(limit) + " bytes, the limit of " + method + " " +
             target.substr(0, std::min<size_t>(64, target.find('?')));
    };
    if (parser.content_length() && *parser.content_length() > limit) {
      co_await send_error(c, 413, too_large(), head.version());
      co_await linger(c);
      co_return false;
    }
    parser.body_limit(limit);
    if (!parser.is_done() && beast::iequals(head[bhttp::field::expect], "100-continue")) {
      bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, head.version()};
      if (!co_await write_message(c, cont)) co_return false;
    }
    std::string spool_dir = options.route_body_spool
                                ? options.route_body_spool(method, url_decode(target.substr(0, target.find('?'))))
                                : std::string();
    if (!spool_dir.empty()) co_return co_await spool_body(c, buf, parser, spool_dir, limit, out, spooled, too_large);
    while (!parser.is_done()) {
      c.arm(options.body_timeout);
      co_await bhttp::async_read_some(sock, buf, parser, net::redirect_error(use_awaitable, ec));
      if (ec == bhttp::error::body_limit) {
        co_await send_error(c, 413, too_large(), head.version());
        co_await linger(c);
        co_return false;
      }
      if (ec) {
        if (is_parse_error(ec) && !c.timed_out && !c.stopping) {
          co_await send_error(c, 400, "malformed HTTP request body: " + ec.message(), head.version());
        }
        co_return false;
      }
    }
    c.disarm();
    out = parser.release();
    co_return true;
  }

  // ServerOptions::inline_handler, here on the I/O thread: true if it
  // answered `req` (through `state`, as a worker's handler would).
  bool answer_inline(const Request& req, ExchangeState& state) {
    if (!options.inline_handler) return false;
    try {
      std::optional<Response> r = options.inline_handler(req);
      if (!r) return false;
      state.respond(std::move(*r));
    } catch (const std::exception& e) {
      LOG_ERROR("http", req.method << " " << req.path.substr(0, 128) << ": the inline handler failed: " << e.what());
      state.fail(std::string("internal error: ") + std::string(e.what()).substr(0, 512));
    }
    return true;
  }

  // Hands the request to a worker; the handler answers through `state`.
  void dispatch(Request req, const std::shared_ptr<ExchangeState>& state) {
    Exchange ex;
    ex.request = std::move(req);
    ex.respond = [state](Response r) { state->respond(std::move(r)); };
    ex.start_stream = [state](int status, Headers headers) { return state->start(state, status, std::move(headers)); };
    ex.on_client_gone = [state](std::function<void()> fn) { state->on_gone(std::move(fn)); };
    net::post(*workers, [h = handler, ex = std::move(ex), state]() mutable {
      std::string what = ex.request.method + " " + ex.request.path.substr(0, 128);
      try {
        h(std::move(ex));
      } catch (const std::exception& e) {
        LOG_ERROR("http", what << ": the handler failed: " << e.what());
        state->fail(std::string("internal error: ") + std::string(e.what()).substr(0, 512));
      } catch (...) {
        LOG_ERROR("http", what << ": the handler failed with an unknown exception");
        state->fail("internal error: the request handler failed");
      }
    });
  }

  // The end of a watch operation (on the connection's executor): wakes await_answer.
  static void watch_ended(ConnBase& c) {
    c.watching = false;
    c.woken = true;
    c.wake_timer.cancel();
  }

  // Starts watching the socket for the client's close (see ConnBase::watching).
  template <typename Socket>
  static void watch_peer(const std::shared_ptr<Conn<Socket>>& cp) {
    constexpr size_t kWatchBytes = 4096;
    cp->watching = true;
    if constexpr (std::is_same_v<Socket, TlsSocket>) {
      cp->watched.resize(kWatchBytes);
      cp->sock.async_read_some(net::buffer(cp->watched), [cp](const beast::error_code& ec, size_t n) {
        cp->watched.resize(n);
        if (n > 0 || !ec) {
          cp->peer_sent = true;
        } else if (!cp->watch_stop) {
          cp->peer_gone = true;  // close_notify (eof), a bare FIN (stream_truncated), a reset
        }
        watch_ended(*cp);
      });
    } else {
      cp->sock.async_wait(net::socket_base::wait_read, [cp](const beast::error_code& ec) {
        if (!cp->watch_stop) {
          char b;
          ssize_t n = ec ? -1 : ::recv(cp->sock.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
          if (n > 0) {
            cp->peer_sent = true;
          } else if (n < 0 && !ec && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            return watch_peer(cp);  // not readable after all: wait again
          } else {
            cp->peer_gone = true;  // 0: the client's FIN; an error: a reset
          }
        }
        watch_ended(*cp);
      });
    }
  }

  // Cancels the watch operation (the only one outstanding on the socket).
  template <typename Socket>
  static void cancel_watch(Conn<Socket>& c) {
    c.watch_stop = true;
    beast::error_code ec;
    if constexpr (std::is_same_v<Socket, TlsSocket>) {
      c.sock.s.next_layer().cancel(ec);
    } else {
      c.sock.cancel(ec);
    }
  }

  // Waits (on the connection's executor) until the handler answered or
  // started a stream: true then; false if the server stops or the client
  // goes first. While the handler holds a client-gone callback, watches the
  // socket for the client's close, unless bytes of a next request wait
  // already in `buf` (a pipelining client); the watch has ended when this
  // returns, bytes it read appended to `buf`.
  template <typename Socket>
  awaitable<bool> await_answer(const std::shared_ptr<Conn<Socket>>& cp, ExchangeState& state,
                               beast::flat_buffer& buf) {
    Conn<Socket>& c = *cp;
    beast::error_code ec;
    const bool watchable = buf.size() == 0;
    c.peer_sent = c.watch_stop = false;
    for (;;) {
      bool answered, wanted;
      {
        std::lock_guard lk(state.mu);
        answered = state.response || state.streaming;
        wanted = state.watch_wanted;
      }
      const bool done = answered || c.stopping || c.peer_gone;
      if (done && c.watching && !c.watch_stop) cancel_watch(c);
      if (done && !c.watching) {
        if (!c.watched.empty()) {
          buf.commit(net::buffer_copy(buf.prepare(c.watched.size()), net::buffer(c.watched)));
        }
        std::vector<char>().swap(c.watched);
        co_return answered;
      }
      if (!done && wanted && watchable && !c.watching && !c.peer_sent) watch_peer(cp);
      if (c.woken) {  // a wake-up came while we were not waiting: look again
        c.woken = false;
        continue;
      }
      c.wake_timer.expires_at(net::steady_timer::time_point::max());
      co_await c.wake_timer.async_wait(net::redirect_error(use_awaitable, ec));
    }
  }

  template <typename Socket>
  awaitable<void> stream_out(Conn<Socket>& c, ExchangeState& state, unsigned version) {
    auto& sock = c.sock;
    beast::error_code ec;
    bhttp::response<bhttp::empty_body> head{static_cast<bhttp::status>(state.stream_status), version};
    for (const auto& [k, v] : state.stream_headers) head.set(k, v);
    head.chunked(true);
    head.keep_alive(false);
    bhttp::response_serializer<bhttp::empty_body> sr{head};
    c.arm(options.write_timeout);
    co_await bhttp::async_write_header(sock, sr, net::redirect_error(use_awaitable, ec));
    while (!ec && !c.stopping) {
      std::deque<std::string> pending;
      bool closed;
      {
        std::lock_guard lk(state.mu);
        pending.swap(state.chunks);
        state.chunk_bytes = 0;
        closed = state.stream_closed;
      }
      for (auto& chunk : pending) {
        if (chunk.empty()) continue;
        c.arm(options.write_timeout);
        co_await net::async_write(sock, bhttp::make_chunk(net::buffer(chunk)), net::redirect_error(use_awaitable, ec));
        if (ec) break;
      }
      if (ec) break;
      if (closed) {
        c.arm(options.write_timeout);
        co_await net::async_write(sock, bhttp::make_chunk_last(), net::redirect_error(use_awaitable, ec));
        break;
      }
      c.disarm();
      if (c.woken) {
        c.woken = false;
        continue;
      }
      c.wake_timer.expires_after(std::chrono::seconds(1));
      co_await c.wake_timer.async_wait(net::redirect_error(use_awaitable, ec));
      ec = {};
      // Detect a client that went away while nothing is being written
      // (available() reports no FIN: a peek does, for unix and TCP).
      if (sock.available(ec) == 0 && ec) break;
      if constexpr (!std::is_same_v<Socket, TlsSocket>) {
        char b;
        ssize_t n = ::recv(sock.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) break;
      }
    }
    c.disarm();
  }

  // Response::hijack: the head as given (no body, no length), then the
  // stream (hijack_pump.h) until it ends.
  template <typename Socket>
  awaitable<void> serve_hijacked(const std::shared_ptr<Conn<Socket>>& cp, beast::flat_buffer& buf, Response& r,
                                 unsigned version) {
    Conn<Socket>& c = *cp;
    bhttp::response<bhttp::empty_body> head{static_cast<bhttp::status>(r.status), version};
    for (const auto& [k, v] : r.headers) head.set(k, v);
    bhttp::response_serializer<bhttp::empty_body> sr{head};
    beast::error_code ec;
    c.arm(options.write_timeout);
    co_await bhttp::async_write_header(c.sock, sr, net::redirect_error(use_awaitable, ec));
    c.disarm();
    if (ec || c.stopping) co_return;
    auto cancel_reads = [cp] {
      beast::error_code e;
      if constexpr (std::is_same_v<Socket, TlsSocket>) {
        cp->sock.s.next_layer().cancel(e);
      } else {
        cp->sock.cancel(e);
      }
    };
    auto shutdown_send = [cp]() -> bool {
      if constexpr (std::is_same_v<Socket, TlsSocket>) {
        return false;  // TLS has no half-close without close_notify's round trip
      } else {
        beast::error_code e;
        cp->sock.shutdown(net::socket_base::shutdown_send, e);
        return !e;
      }
    };
    auto guard_write = [cp, t = options.write_timeout](bool on) {
      if (on) {
        cp->arm(t);
      } else {
        cp->disarm();
      }
    };
    co_await internal::pump_hijacked(cp, c.sock, c.ex, buf, *r.hijack, cancel_reads, c.on_stop, shutdown_send,
                                     guard_write);
  }

  template <typename Socket>
  awaitable<void> serve_connection(std::shared_ptr<Conn<Socket>> cp, std::string peer) {
    Conn<Socket>& c = *cp;
    beast::flat_buffer buf;
    for (bool first = true; !c.stopping; first = false) {
      bhttp::request_parser<bhttp::string_body> parser;
      bhttp::request<bhttp::string_body> raw;
      std::string spooled;
      if (!co_await read_request(c, buf, parser, first, raw, &spooled)) break;
      bool keep_alive = raw.keep_alive();
      unsigned version = raw.version();
      auto state = std::make_shared<ExchangeState>(c.wakeup);
      Request req = to_request(raw, peer);
      req.peer_cert = c.peer_cert;
      req.body_file = std::move(spooled);
      if (!answer_inline(req, *state)) dispatch(std::move(req), state);
      if (!co_await await_answer(cp, *state, buf)) {
        state->client_went();
        break;
      }
      std::unique_lock lk(state->mu);
      if (state->streaming && !state->response) {
        lk.unlock();
        co_await stream_out(c, *state, version);
        state->client_went();
        break;
      }
      Response r = std::move(*state->response);
      lk.unlock();
      if (r.hijack) {
        co_await serve_hijacked(cp, buf, r, version);
        break;
      }
      bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), version};
      for (const auto& [k, v] : r.headers) res.set(k, v);
      if (!r.body.empty() && r.headers.find("Content-Type") == r.headers.end()) {
        res.set(bhttp::field::content_type, "application/json");
      }
      res.body() = std::move(r.body);
      res.keep_alive(keep_alive);
      res.prepare_payload();
      if (!co_await write_message(c, res) || !keep_alive) break;
    }
  }

  template <typename Socket>
  awaitable<void> session(std::shared_ptr<Conn<Socket>> c, std::string peer) {
    try {
      UnverifiedSlot slot;
      bool admitted = true;
      if constexpr (std::is_same_v<Socket, TlsSocket>) {
        admitted = slot.take(unverified, peer, unverified_tls_caps(options.max_connections), options.trusted_source);
        if (!admitted) {
          LOG_WARN("http", "refusing a TLS connection from " << peer << ": too many connections without a client "
                                                              "certificate are open (from there or in all)");
        }
      }
      VerifiedSlot node_slot;
      if (admitted && co_await handshake(*c, peer)) {
        if (c->peer_cert.verified) {
          slot.release();
          admitted = node_slot.take(verified, c->peer_cert.common_name, verified_per_node_cap(options.max_connections));
          if (!admitted) {
            LOG_WARN("http", "refusing a TLS connection from " << peer << ": node " << c->peer_cert.common_name
                                                                << " already holds "
                                                                << verified_per_node_cap(options.max_connections)
                                                                << " connections");
          }
        }
        if (admitted) co_await serve_connection(c, peer);
      }
    } catch (const std::exception& e) {
      LOG_WARN("http", "connection from " << peer << " failed: " << e.what());
    }
    c->shutdown();
    c->wakeup->clear();
    remove_conn(c);
  }

  // TLS connections: the handshake, within header_timeout; false if it
  // failed (a client certificate of another CA, a plain HTTP client...).
  template <typename Socket>
  awaitable<bool> handshake(Conn<Socket>& c, const std::string& peer) {
    if constexpr (std::is_same_v<Socket, TlsSocket>) {
      beast::error_code ec;
      c.arm(options.header_timeout);
      co_await c.sock.s.async_handshake(net::ssl::stream_base::server, net::redirect_error(use_awaitable, ec));
      c.disarm();
      if (ec) {
        LOG_INFO("http", "TLS handshake with " << peer << " failed: " << ec.message());
        co_return false;
      }
      c.peer_cert = tls::peer_certificate(c.sock.s.native_handle());
    }
    co_return true;
  }

  // Too many connections: answer 503 without waiting on the client, close.
  template <typename Socket>
  void refuse(Socket& sock) {
    if constexpr (std::is_same_v<Socket, TlsSocket>) {  // no plain text into a TLS connection
      beast::error_code ec;
      sock.close(ec);
    } else {
      static const std::string kBody = error_body("too many connections to this server: try again later");
      std::string msg = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
                        "Content-Length: " + std::to_string(kBody.size()) + "\r\n\r\n" + kBody;
      beast::error_code ec;
      sock.non_blocking(true, ec);
      sock.write_some(net::buffer(msg), ec);
      sock.shutdown(net::socket_base::shutdown_both, ec);
      sock.close(ec);
    }
  }

  template <typename Acceptor, typename Socket>
  awaitable<void> accept_loop(Acceptor& acc, std::string label) {
    for (;;) {
      beast::error_code ec;
      ConnEx cex = next_executor();
      typename Acceptor::protocol_type::socket sock(cex);  // accepted into its own context
      co_await acc.async_accept(sock, net::redirect_error(use_awaitable, ec));
      if (ec) {
        if (ec == net::error::operation_aborted || !acc.is_open()) co_return;
        // Out of descriptors or similar: do not spin.
        net::steady_timer pause(co_await net::this_coro::executor, std::chrono::milliseconds(20));
        co_await pause.async_wait(net::redirect_error(use_awaitable, ec));
        continue;
      }
      std::string peer = label;
      if constexpr (!std::is_same_v<Socket, net::local::stream_protocol::socket>) {
        beast::error_code e2;
        auto ep = sock.remote_endpoint(e2);
        if (!e2) peer = ep.address().to_string() + ":" + std::to_string(ep.port());
      }
      std::shared_ptr<Conn<Socket>> c;
      if constexpr (std::is_same_v<Socket, TlsSocket>) {
        c = std::make_shared<Conn<Socket>>(cex, std::move(sock), *ssl);
      } else {
        c = std::make_shared<Conn<Socket>>(cex, std::move(sock));
      }
      if (!add_conn(c)) {
        LOG_WARN("http", "refusing a connection from " << peer << ": " << options.max_connections
                                                        << " connections are open");
        refuse(c->sock);
        continue;
      }
      c->install_wakeup();
      net::co_spawn(cex, session(c, peer), net::detached);
    }
  }
};

Server::Server(ServerOptions options, Handler handler) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
  // Concurrency hint 1: each context is run by one thread (other threads
  // only post to it), which lets Asio take its single-thread fast paths.
  for (int i = 0; i < std::max(1, impl_->options.io_threads); ++i)
    impl_->iocs.push_back(std::make_unique<net::io_context>(1));
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
          net::local::stream_protocol::socket probe(*im.iocs[0]);
          beast::error_code ec;
          probe.connect(net::local::stream_protocol::endpoint(path), ec);
          if (!ec) return unavailable("another process is serving " + addr + "; stop it or use another -H");
          ::unlink(path.c_str());
        }
        auto acc = std::make_unique<net::local::stream_protocol::acceptor>(
            *im.iocs[0], net::local::stream_protocol::endpoint(path));
        ::chmod(path.c_str(), 0660);
        im.unix_paths.push_back(path);
        im.unix_acceptors.push_back(std::move(acc));
      } else if (addr.rfind("tcp://", 0) == 0 || addr.rfind("tls://", 0) == 0) {
        bool tls = addr.rfind("tls://", 0) == 0;
        if (tls && !im.ssl) {
          auto ctx = tls::make_context(im.options.tls);
          if (!ctx.ok()) return ctx.status().with_context("listening on " + addr);
          im.ssl = std::move(*ctx);
        }
        std::string hp = addr.substr(6);
        auto colon = hp.rfind(':');
        if (colon == std::string::npos) return invalid_argument("listen address " + addr + " needs a port");
        std::string host = hp.substr(0, colon);
        if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);  // [::1]
        auto ep = net::ip::tcp::endpoint(net::ip::make_address(host),
                                         static_cast<unsigned short>(std::stoi(hp.substr(colon + 1))));
        auto acc = std::make_unique<net::ip::tcp::acceptor>(*im.iocs[0]);
        acc->open(ep.protocol());
        acc->set_option(net::socket_base::reuse_address(true));
        acc->bind(ep);
        acc->listen(net::socket_base::max_listen_connections);
        im.ports.push_back(acc->local_endpoint().port());
        (tls ? im.tls_acceptors : im.tcp_acceptors).push_back(std::move(acc));
      } else {
        return invalid_argument("unsupported listen address " + addr + ": use unix://, tcp:// or tls://");
      }
    } catch (const std::exception& e) {
      return unavailable("cannot listen on " + addr + ": " + e.what());
    }
  }
  using UnixSocket = net::local::stream_protocol::socket;
  for (auto& a : im.unix_acceptors) {
    net::co_spawn(*im.iocs[0], im.accept_loop<net::local::stream_protocol::acceptor, UnixSocket>(*a, "unix"), net::detached);
  }
  for (auto& a : im.tcp_acceptors) {
    net::co_spawn(*im.iocs[0], im.accept_loop<net::ip::tcp::acceptor, net::ip::tcp::socket>(*a, "tcp"), net::detached);
  }
  for (auto& a : im.tls_acceptors) {
    net::co_spawn(*im.iocs[0], im.accept_loop<net::ip::tcp::acceptor, TlsSocket>(*a, "tls"), net::detached);
  }
  im.sweeper = std::make_unique<net::steady_timer>(*im.iocs[0], im.sweep_period());
  im.sweeper->async_wait([&im](const beast::error_code& e) { im.sweep(e); });
  for (auto& ioc : im.iocs) {
    im.guards.emplace_back(ioc->get_executor());
    im.io_threads.emplace_back([ctx = ioc.get()] { ctx->run(); });
  }
  im.running = true;
  return ok_status();
}

void Server::stop() {
  auto& im = *impl_;
  if (!im.running) return;
  im.running = false;
  net::post(*im.iocs[0], [&im] {
    beast::error_code ec;
    for (auto& a : im.unix_acceptors) a->close(ec);
    for (auto& a : im.tcp_acceptors) a->close(ec);
    for (auto& a : im.tls_acceptors) a->close(ec);
  });
  {
    // Close every connection on its executor; their coroutines then end.
    std::unique_lock lk(im.conns_mu);
    im.accepting = false;
    for (const auto& c : im.conns) net::post(c->ex, [c] { c->shutdown(); });
    im.conns_cv.wait_for(lk, std::chrono::seconds(5), [&] { return im.conns.empty(); });
  }
  im.guards.clear();
  for (auto& ioc : im.iocs) ioc->stop();
  for (auto& t : im.io_threads) t.join();
  im.io_threads.clear();
  {
    // The close posted above may never have run (ioc.stop() drops what is
    // still queued): close them here, where no I/O thread uses them any more.
    beast::error_code ec;
    for (auto& a : im.unix_acceptors) a->close(ec);
    for (auto& a : im.tcp_acceptors) a->close(ec);
    for (auto& a : im.tls_acceptors) a->close(ec);
  }
  {
    // Connections whose coroutine did not end in time: no wake-up may reach
    // the stopped io_context any more.
    std::lock_guard lk(im.conns_mu);
    for (const auto& c : im.conns) c->wakeup->clear();
  }
  im.workers->join();
  for (const auto& p : im.unix_paths) ::unlink(p.c_str());
}

std::vector<int> Server::bound_ports() const { return impl_->ports; }

size_t Server::connections() const {
  std::lock_guard lk(impl_->conns_mu);
  return impl_->conns.size();
}

}  // namespace shoal::http
