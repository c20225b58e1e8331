// DNS messages for the embedded resolver, built and parsed with ldns: the
// decision on one query against a task's Scope, the SERVFAIL made when
// forwarding fails (or is not allowed now), the REFUSED made for a task
// that may not forward, and the header fields the forwarder rewrites.
//
// Answers (our names, class IN):
//   A or ANY  -> NOERROR, AA, every address of the name as an A record with
//                TTL kTtl, rotated by the caller's round-robin counter;
//   other     -> NOERROR with no answer (NODATA), so a client asking AAAA
//                first falls back to A instead of giving up on NXDOMAIN.
// A UDP answer is cut to what the client can take (512 bytes, or its EDNS
// size up to kMaxUdpAnswer) with TC set, so it retries over TCP.
// Anything else (a name not ours, another class) is left to the forwarder.
// Hostile input: a packet ldns cannot parse, or a response (QR set), is
// dropped; a parsable query with other than one question is FORMERR; an
// opcode other than QUERY is NOTIMP. Pure functions; RoundRobin is not
// thread-safe (the resolver's thread owns it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/network/dns/scope.h"

namespace shoal::netdns {

// TTL 0: RFC 1035 allows it ("use only for the transaction in progress"),
// and nothing may cache an answer, so a client sees scaling at its very
// next lookup. TTL 1 would let a cache that rounds up hold an old set for
// up to 2 s, over the 1 s bound answers must follow scaling within.
inline constexpr uint32_t kTtl = 0;
inline constexpr size_t kMaxUdpAnswer = 1232;  // the DNS flag day 2020 EDNS size

// Per-name rotation counters. Bounded: when more than kMaxNames names are
// tracked the table is cleared (rotation restarts; nothing else is lost).
class RoundRobin {
 public:
  static constexpr size_t kMaxNames = 4096;
  // The offset to start this answer of `name` at; grows by one per call.
  uint32_t next(const std::string& name);

 private:
  std::unordered_map<std::string, uint32_t> next_;
};

enum class Verdict { kDrop, kReply, kForward };
struct Decision {
  Verdict verdict = Verdict::kDrop;
  std::vector<uint8_t> reply;  // kReply: the whole message (no TCP length prefix)
};

// What to do with `query` (one DNS message) from a task whose scope is
// `scope` (null: nothing is ours). `tcp`: it came over TCP (no size cut).
Decision answer_query(std::span<const uint8_t> query, const NameTable* scope, RoundRobin& rr, bool tcp);

// A SERVFAIL response to `query` (its id, RD and question); empty when the
// query cannot be parsed.
std::vector<uint8_t> servfail_for(std::span<const uint8_t> query);
// The same with rcode REFUSED: the answer to a name not in the scope of a
// task that may not reach the nameservers (RFC 1035: policy refusal).
std::vector<uint8_t> refused_for(std::span<const uint8_t> query);

// Header access for relaying without re-encoding (ldns' wire macros).
// Messages shorter than a header have no id: message_id returns -1 then.
int message_id(std::span<const uint8_t> msg);
void set_message_id(std::span<uint8_t> msg, uint16_t id);  // msg.size() >= 12
// True when `msg` is a response (QR set) of at least a header's length.
bool is_response(std::span<const uint8_t> msg);

}  // namespace shoal::netdns
