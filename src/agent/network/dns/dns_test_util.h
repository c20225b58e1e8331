// Test helpers for netdns: DNS messages built and read with ldns, and
// blocking exchanges over loopback sockets bounded by deadlines (poll),
// never by sleeps. For *_test.cc only; not thread-safe per object.
#pragma once

#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

namespace shoal::netdns::testing {

using Bytes = std::vector<uint8_t>;
inline constexpr std::chrono::milliseconds kWait{3000};

inline Bytes make_query(const std::string& name, ldns_rr_type type, uint16_t id, bool edns = false) {
  ldns_pkt* p = ldns_pkt_query_new(ldns_dname_new_frm_str(name.c_str()), type, LDNS_RR_CLASS_IN, LDNS_RD);
  ldns_pkt_set_id(p, id);
  if (edns) ldns_pkt_set_edns_udp_size(p, 4096);
  uint8_t* wire = nullptr;
  size_t size = 0;
  ldns_pkt2wire(&wire, p, &size);
  Bytes out(wire, wire + size);
  std::free(wire);
  ldns_pkt_free(p);
  return out;
}

struct Reply {
  bool parsed = false;
  uint16_t id = 0;
  int rcode = -1;
  bool aa = false, tc = false, qr = false;
  std::string question;         // owner of the first question, as sent
  std::vector<std::string> a;   // A answers, in order
  size_t answers = 0;           // every answer record
  uint32_t ttl = 99;            // of the first answer
};

inline Reply parse_reply(const Bytes& b) {
  Reply r;
  ldns_pkt* p = nullptr;
  if (ldns_wire2pkt(&p, b.data(), b.size()) != LDNS_STATUS_OK) return r;
  r.parsed = true;
  r.id = ldns_pkt_id(p);
  r.rcode = ldns_pkt_get_rcode(p);
  r.aa = ldns_pkt_aa(p);
  r.tc = ldns_pkt_tc(p);
  r.qr = ldns_pkt_qr(p);
  if (ldns_rr_list_rr_count(ldns_pkt_question(p)) > 0) {
    char* s = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(p), 0)));
    r.question = s;
    std::free(s);
  }
  ldns_rr_list* an = ldns_pkt_answer(p);
  r.answers = ldns_rr_list_rr_count(an);
  for (size_t i = 0; i < r.answers; ++i) {
    ldns_rr* rr = ldns_rr_list_rr(an, i);
    if (i == 0) r.ttl = ldns_rr_ttl(rr);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_A) continue;
    char* s = ldns_rdf2str(ldns_rr_rdf(rr, 0));
    r.a.push_back(s);
    std::free(s);
  }
  ldns_pkt_free(p);
  return r;
}

// An answer to `query` (same id and question) with `ips` as A records.
inline Bytes make_answer(const Bytes& query, const std::vector<std::string>& ips) {
  ldns_pkt* q = nullptr;
  ldns_wire2pkt(&q, query.data(), query.size());
  ldns_pkt* r = ldns_pkt_new();
  ldns_pkt_set_id(r, ldns_pkt_id(q));
  ldns_pkt_set_qr(r, true);
  ldns_pkt_set_rd(r, true);
  ldns_pkt_set_ra(r, true);
  ldns_rr* question = ldns_rr_list_rr(ldns_pkt_question(q), 0);
  ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION, ldns_rr_clone(question));
  for (const std::string& ip : ips) {
    ldns_rr* a = ldns_rr_new_frm_type(LDNS_RR_TYPE_A);
    ldns_rr_set_owner(a, ldns_rdf_clone(ldns_rr_owner(question)));
    ldns_rr_set_ttl(a, 300);
    ldns_rr_set_rdf(a, ldns_rdf_new_frm_str(LDNS_RDF_TYPE_A, ip.c_str()), 0);
    ldns_pkt_push_rr(r, LDNS_SECTION_ANSWER, a);
  }
  uint8_t* wire = nullptr;
  size_t size = 0;
  ldns_pkt2wire(&wire, r, &size);
  Bytes out(wire, wire + size);
  std::free(wire);
  ldns_pkt_free(r);
  ldns_pkt_free(q);
  return out;
}

inline sockaddr_in loopback(uint16_t port, const char* ip = "127.0.0.1") {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

inline bool wait_readable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
}

// An fd closed on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// One datagram received on fd within `timeout`, with its sender.
inline std::optional<Bytes> recv_datagram(int fd, std::chrono::milliseconds timeout, sockaddr_in* from = nullptr) {
  if (!wait_readable(fd, timeout)) return std::nullopt;
  Bytes b(65536);
  sockaddr_in f{};
  socklen_t len = sizeof(f);
  ssize_t n = ::recvfrom(fd, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&f), &len);
  if (n < 0) return std::nullopt;
  b.resize(static_cast<size_t>(n));
  if (from != nullptr) *from = f;
  return b;
}

inline int udp_client() { return ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); }

inline void send_datagram(int fd, const Bytes& b, const sockaddr_in& to) {
  ::sendto(fd, b.data(), b.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to));
}

// Sends `query` to ip:port over UDP and waits for one answer.
inline std::optional<Bytes> udp_exchange(uint16_t port, const Bytes& query,
                                         std::chrono::milliseconds timeout = kWait, const char* ip = "127.0.0.1") {
  Fd fd(udp_client());
  send_datagram(fd.fd, query, loopback(port, ip));
  return recv_datagram(fd.fd, timeout);
}

inline bool read_exact(int fd, uint8_t* p, size_t n, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (n > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !wait_readable(fd, left)) return false;
    ssize_t got = ::recv(fd, p, n, 0);
    if (got <= 0) return false;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

inline Bytes framed(const Bytes& msg) {
  Bytes out(2 + msg.size());
  ldns_write_uint16(out.data(), static_cast<uint16_t>(msg.size()));
  std::copy(msg.begin(), msg.end(), out.begin() + 2);
  return out;
}

// One length-prefixed message read from a TCP stream.
inline std::optional<Bytes> read_frame(int fd, std::chrono::milliseconds timeout = kWait) {
  uint8_t len[2];
  if (!read_exact(fd, len, 2, timeout)) return std::nullopt;
  Bytes b(ldns_read_uint16(len));
  if (!read_exact(fd, b.data(), b.size(), timeout)) return std::nullopt;
  return b;
}

inline int tcp_connect(uint16_t port, const char* ip = "127.0.0.1") {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = loopback(port, ip);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline std::optional<Bytes> tcp_exchange(uint16_t port, const Bytes& query) {
  Fd fd(tcp_connect(port));
  if (fd.fd < 0) return std::nullopt;
  Bytes f = framed(query);
  if (::send(fd.fd, f.data(), f.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(f.size())) return std::nullopt;
  return read_frame(fd.fd);
}

// True when the peer closed fd (EOF or reset) within `timeout`.
inline bool closed_by_peer(int fd, std::chrono::milliseconds timeout = kWait) {
  if (!wait_readable(fd, timeout)) return false;
  uint8_t b[64];
  return ::recv(fd, b, sizeof(b), 0) <= 0;
}

}  // namespace shoal::netdns::testing
