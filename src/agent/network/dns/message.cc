#include "agent/network/dns/message.h"

#include <arpa/inet.h>
#include <ldns/ldns.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

namespace shoal::netdns {
namespace {

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;

constexpr size_t kClassicUdpSize = 512;

PktPtr parse(std::span<const uint8_t> msg) {
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, msg.data(), msg.size()) != LDNS_STATUS_OK) return nullptr;
  return PktPtr(raw);
}

std::vector<uint8_t> encode(const ldns_pkt* p) {
  uint8_t* wire = nullptr;
  size_t size = 0;
  if (ldns_pkt2wire(&wire, p, &size) != LDNS_STATUS_OK) {
    std::free(wire);
    return {};
  }
  std::vector<uint8_t> out(wire, wire + size);
  std::free(wire);
  return out;
}

// A response skeleton for `q`: its id, opcode, RD and CD, with `rcode`;
// the question copied when `with_question`.
PktPtr response_to(const ldns_pkt* q, ldns_pkt_rcode rcode, bool with_question) {
  PktPtr r(ldns_pkt_new());
  if (!r) return nullptr;
  ldns_pkt_set_id(r.get(), ldns_pkt_id(q));
  ldns_pkt_set_qr(r.get(), true);
  ldns_pkt_set_opcode(r.get(), ldns_pkt_get_opcode(q));
  ldns_pkt_set_rd(r.get(), ldns_pkt_rd(q));
  ldns_pkt_set_cd(r.get(), ldns_pkt_cd(q));
  ldns_pkt_set_ra(r.get(), true);
  ldns_pkt_set_rcode(r.get(), rcode);
  if (with_question) {
    ldns_rr_list* qs = ldns_pkt_question(q);
    for (size_t i = 0; qs != nullptr && i < ldns_rr_list_rr_count(qs); ++i) {
      ldns_pkt_push_rr(r.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(ldns_rr_list_rr(qs, i)));
    }
  }
  return r;
}

Decision reply(std::vector<uint8_t> bytes) {
  if (bytes.empty()) return {};  // could not encode: drop rather than send garbage
  return Decision{Verdict::kReply, std::move(bytes)};
}

std::string owner_name(const ldns_rr* rr) {
  char* s = ldns_rdf2str(ldns_rr_owner(rr));
  if (s == nullptr) return {};
  std::string out = normalize_name(s);
  std::free(s);
  return out;
}

// The answer to `q` with `count` of the addresses (from `ips`, starting at
// `offset`) as A records.
std::vector<uint8_t> encode_answer(const ldns_pkt* q, const ldns_rr* question, const std::vector<in_addr>& ips,
                                   uint32_t offset, size_t count, bool truncated) {
  PktPtr r = response_to(q, LDNS_RCODE_NOERROR, true);
  if (!r) return {};
  ldns_pkt_set_aa(r.get(), true);
  ldns_pkt_set_tc(r.get(), truncated);
  if (ldns_pkt_edns(q)) ldns_pkt_set_edns_udp_size(r.get(), kMaxUdpAnswer);
  for (size_t i = 0; i < count; ++i) {
    const in_addr& addr = ips[(offset + i) % ips.size()];
    ldns_rr* a = ldns_rr_new();
    if (a == nullptr) return {};
    ldns_rr_set_owner(a, ldns_rdf_clone(ldns_rr_owner(question)));
    ldns_rr_set_type(a, LDNS_RR_TYPE_A);
    ldns_rr_set_class(a, LDNS_RR_CLASS_IN);
    ldns_rr_set_ttl(a, kTtl);
    ldns_rr_push_rdf(a, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, sizeof(addr), &addr));
    ldns_pkt_push_rr(r.get(), LDNS_SECTION_ANSWER, a);
  }
  return encode(r.get());
}

// An error response to `query` (its id, RD and question) with `rcode`;
// empty when the query cannot be parsed.
std::vector<uint8_t> error_for(std::span<const uint8_t> query, ldns_pkt_rcode rcode) {
  if (query.size() < LDNS_HEADER_SIZE) return {};
  PktPtr q = parse(query);
  if (!q) return {};
  PktPtr r = response_to(q.get(), rcode, true);
  if (!r) return {};
  return encode(r.get());
}

}  // namespace

uint32_t RoundRobin::next(const std::string& name) {
  if (next_.size() >= kMaxNames && next_.count(name) == 0) next_.clear();
  return next_[name]++;
}

Decision answer_query(std::span<const uint8_t> query, const NameTable* scope, RoundRobin& rr, bool tcp) {
  // Responses are never answered: two resolvers must not ping-pong.
  if (query.size() < LDNS_HEADER_SIZE || LDNS_QR_WIRE(query.data())) return {};
  PktPtr q = parse(query);
  if (!q) return {};
  if (ldns_pkt_get_opcode(q.get()) != LDNS_PACKET_QUERY) {
    return reply(encode(response_to(q.get(), LDNS_RCODE_NOTIMPL, true).get()));
  }
  if (ldns_pkt_qdcount(q.get()) != 1 || ldns_rr_list_rr_count(ldns_pkt_question(q.get())) != 1) {
    return reply(encode(response_to(q.get(), LDNS_RCODE_FORMERR, false).get()));
  }
  const ldns_rr* question = ldns_rr_list_rr(ldns_pkt_question(q.get()), 0);
  if (ldns_rr_get_class(question) != LDNS_RR_CLASS_IN || scope == nullptr) return {Verdict::kForward, {}};
  const std::string name = owner_name(question);
  auto it = scope->find(name);
  if (it == scope->end()) return {Verdict::kForward, {}};

  std::vector<in_addr> ips;
  const ldns_rr_type type = ldns_rr_get_type(question);
  if (type == LDNS_RR_TYPE_A || type == LDNS_RR_TYPE_ANY) {
    for (const std::string& s : it->second) {
      in_addr a{};
      if (inet_pton(AF_INET, s.c_str(), &a) == 1) ips.push_back(a);
    }
  }
  if (ips.empty()) return reply(encode_answer(q.get(), question, ips, 0, 0, false));
  const uint32_t offset = ips.size() > 1 ? rr.next(name) % ips.size() : 0;

  std::vector<uint8_t> out = encode_answer(q.get(), question, ips, offset, ips.size(), false);
  if (tcp || out.empty()) return reply(std::move(out));
  size_t limit = kClassicUdpSize;
  if (ldns_pkt_edns(q.get())) {
    limit = std::clamp<size_t>(ldns_pkt_edns_udp_size(q.get()), kClassicUdpSize, kMaxUdpAnswer);
  }
  if (out.size() <= limit) return reply(std::move(out));
  // Too big for the client's UDP buffer: as many records as fit, and TC.
  size_t count = ips.size() * limit / out.size();
  for (;;) {
    out = encode_answer(q.get(), question, ips, offset, count, true);
    if (out.empty() || out.size() <= limit || count == 0) break;
    --count;
  }
  return reply(std::move(out));
}

std::vector<uint8_t> servfail_for(std::span<const uint8_t> query) { return error_for(query, LDNS_RCODE_SERVFAIL); }

std::vector<uint8_t> refused_for(std::span<const uint8_t> query) { return error_for(query, LDNS_RCODE_REFUSED); }

int message_id(std::span<const uint8_t> msg) {
  if (msg.size() < LDNS_HEADER_SIZE) return -1;
  return LDNS_ID_WIRE(msg.data());
}

void set_message_id(std::span<uint8_t> msg, uint16_t id) {
  if (msg.size() >= LDNS_HEADER_SIZE) LDNS_ID_SET(msg.data(), id);
}

bool is_response(std::span<const uint8_t> msg) {
  return msg.size() >= LDNS_HEADER_SIZE && LDNS_QR_WIRE(msg.data()) != 0;
}

}  // namespace shoal::netdns
