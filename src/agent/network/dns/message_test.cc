#include "agent/network/dns/message.h"

#include <gtest/gtest.h>

#include <random>

#include "agent/network/dns/dns_test_util.h"
#include "agent/network/dns/scope.h"

namespace shoal::netdns {
namespace {

using testing::Bytes;
using testing::make_query;
using testing::parse_reply;

const Scope kScope = make_scope({{"web", {"10.0.1.2"}}, {"tasks.web", {"10.0.1.5", "10.0.1.6", "10.0.1.7"}}});

Decision ask(const Bytes& q, RoundRobin& rr, bool tcp = false) { return answer_query(q, kScope.get(), rr, tcp); }

TEST(Message, AnswersAWithTtlZeroAndTheClientsIdAndSpelling) {
  RoundRobin rr;
  Decision d = ask(make_query("WeB.", LDNS_RR_TYPE_A, 4242), rr);
  ASSERT_EQ(d.verdict, Verdict::kReply);
  testing::Reply r = parse_reply(d.reply);
  EXPECT_EQ(r.id, 4242);
  EXPECT_TRUE(r.qr);
  EXPECT_TRUE(r.aa);
  EXPECT_EQ(r.rcode, LDNS_RCODE_NOERROR);
  EXPECT_EQ(r.question, "WeB.");
  EXPECT_EQ(r.a, std::vector<std::string>{"10.0.1.2"});
  EXPECT_EQ(r.ttl, kTtl);
}

TEST(Message, RotatesSeveralAddressesPerQuery) {
  RoundRobin rr;
  std::vector<std::string> firsts;
  for (int i = 0; i < 3; ++i) {
    testing::Reply r = parse_reply(ask(make_query("tasks.web", LDNS_RR_TYPE_A, 1), rr).reply);
    ASSERT_EQ(r.a.size(), 3u);
    firsts.push_back(r.a[0]);
  }
  EXPECT_EQ(firsts, (std::vector<std::string>{"10.0.1.5", "10.0.1.6", "10.0.1.7"}));
}

TEST(Message, AaaaOfOurNameIsNoDataNotNxdomain) {
  RoundRobin rr;
  Decision d = ask(make_query("web", LDNS_RR_TYPE_AAAA, 7), rr);
  ASSERT_EQ(d.verdict, Verdict::kReply);
  testing::Reply r = parse_reply(d.reply);
  EXPECT_EQ(r.rcode, LDNS_RCODE_NOERROR);
  EXPECT_EQ(r.answers, 0u);
}

TEST(Message, UnknownNamesAndOtherClassesAreForwarded) {
  RoundRobin rr;
  EXPECT_EQ(ask(make_query("example.com", LDNS_RR_TYPE_A, 1), rr).verdict, Verdict::kForward);
  EXPECT_EQ(answer_query(make_query("web", LDNS_RR_TYPE_A, 1), nullptr, rr, false).verdict, Verdict::kForward);
  ldns_pkt* p = ldns_pkt_query_new(ldns_dname_new_frm_str("web"), LDNS_RR_TYPE_A, LDNS_RR_CLASS_CH, 0);
  uint8_t* wire = nullptr;
  size_t size = 0;
  ldns_pkt2wire(&wire, p, &size);
  Bytes ch(wire, wire + size);
  free(wire);
  ldns_pkt_free(p);
  EXPECT_EQ(ask(ch, rr).verdict, Verdict::kForward);
}

TEST(Message, MalformedAndResponsesAreDropped) {
  RoundRobin rr;
  EXPECT_EQ(ask(Bytes{}, rr).verdict, Verdict::kDrop);
  EXPECT_EQ(ask(Bytes{1, 2, 3}, rr).verdict, Verdict::kDrop);
  Bytes q = make_query("web", LDNS_RR_TYPE_A, 9);
  Bytes cut(q.begin(), q.end() - 3);  // question runs off the end
  EXPECT_EQ(ask(cut, rr).verdict, Verdict::kDrop);
  Bytes garbage(300, 0xff);
  garbage[2] = 0;  // QR clear so it is read as a query
  EXPECT_EQ(ask(garbage, rr).verdict, Verdict::kDrop);
  Bytes resp = q;
  LDNS_QR_SET(resp.data());
  EXPECT_EQ(ask(resp, rr).verdict, Verdict::kDrop);
}

TEST(Message, NoQuestionIsFormerrOtherOpcodeNotimp) {
  RoundRobin rr;
  ldns_pkt* p = ldns_pkt_new();
  ldns_pkt_set_id(p, 55);
  uint8_t* wire = nullptr;
  size_t size = 0;
  ldns_pkt2wire(&wire, p, &size);
  Bytes empty(wire, wire + size);
  free(wire);
  ldns_pkt_free(p);
  Decision d = ask(empty, rr);
  ASSERT_EQ(d.verdict, Verdict::kReply);
  EXPECT_EQ(parse_reply(d.reply).rcode, LDNS_RCODE_FORMERR);
  EXPECT_EQ(parse_reply(d.reply).id, 55);

  Bytes q = make_query("web", LDNS_RR_TYPE_A, 56);
  LDNS_OPCODE_SET(q.data(), LDNS_PACKET_UPDATE);
  d = ask(q, rr);
  ASSERT_EQ(d.verdict, Verdict::kReply);
  EXPECT_EQ(parse_reply(d.reply).rcode, LDNS_RCODE_NOTIMPL);
}

TEST(Message, BigUdpAnswersAreCutWithTcAndWholeOverTcp) {
  NameTable big;
  for (int i = 0; i < 100; ++i) big["tasks.many"].push_back("10.0.2." + std::to_string(i + 1));
  Scope s = make_scope(big);
  RoundRobin rr;
  Decision udp = answer_query(make_query("tasks.many", LDNS_RR_TYPE_A, 1), s.get(), rr, false);
  ASSERT_EQ(udp.verdict, Verdict::kReply);
  EXPECT_LE(udp.reply.size(), 512u);
  testing::Reply r = parse_reply(udp.reply);
  EXPECT_TRUE(r.tc);
  EXPECT_GT(r.a.size(), 20u);
  EXPECT_LT(r.a.size(), 100u);

  Decision edns = answer_query(make_query("tasks.many", LDNS_RR_TYPE_A, 1, true), s.get(), rr, false);
  EXPECT_LE(edns.reply.size(), kMaxUdpAnswer);
  EXPECT_GT(parse_reply(edns.reply).a.size(), r.a.size());

  Decision tcp = answer_query(make_query("tasks.many", LDNS_RR_TYPE_A, 1), s.get(), rr, true);
  testing::Reply t = parse_reply(tcp.reply);
  EXPECT_FALSE(t.tc);
  EXPECT_EQ(t.a.size(), 100u);
}

TEST(Message, KnownNameWithoutAddressesIsNoData) {
  Scope s = make_scope({{"tasks.idle", {}}});
  RoundRobin rr;
  Decision d = answer_query(make_query("tasks.idle", LDNS_RR_TYPE_A, 3), s.get(), rr, false);
  ASSERT_EQ(d.verdict, Verdict::kReply);
  EXPECT_EQ(parse_reply(d.reply).rcode, LDNS_RCODE_NOERROR);
  EXPECT_EQ(parse_reply(d.reply).answers, 0u);
}

TEST(Message, ServfailKeepsIdAndQuestion) {
  testing::Reply r = parse_reply(servfail_for(make_query("example.com", LDNS_RR_TYPE_A, 77)));
  EXPECT_EQ(r.rcode, LDNS_RCODE_SERVFAIL);
  EXPECT_EQ(r.id, 77);
  EXPECT_EQ(r.question, "example.com.");
  EXPECT_TRUE(servfail_for(Bytes{1, 2}).empty());
}

TEST(Message, RefusedKeepsIdAndQuestion) {
  testing::Reply r = parse_reply(refused_for(make_query("example.com", LDNS_RR_TYPE_AAAA, 78)));
  EXPECT_TRUE(r.qr);
  EXPECT_EQ(r.rcode, LDNS_RCODE_REFUSED);
  EXPECT_EQ(r.id, 78);
  EXPECT_EQ(r.question, "example.com.");
  EXPECT_EQ(r.answers, 0u);
  EXPECT_TRUE(refused_for(Bytes{1, 2}).empty());
}

TEST(Message, HeaderHelpers) {
  Bytes q = make_query("x", LDNS_RR_TYPE_A, 0x1234);
  EXPECT_EQ(message_id(q), 0x1234);
  set_message_id(q, 0xbeef);
  EXPECT_EQ(message_id(q), 0xbeef);
  EXPECT_FALSE(is_response(q));
  EXPECT_EQ(message_id(Bytes{1}), -1);
}

TEST(Message, MutatedQueriesNeverCrash) {
  // Deterministic hostile input: byte flips and cuts of valid queries.
  RoundRobin rr;
  std::mt19937 rng(12345);
  const Bytes base = make_query("tasks.web", LDNS_RR_TYPE_A, 1, true);
  for (int i = 0; i < 5000; ++i) {
    Bytes q = base;
    for (int k = 0; k < 1 + i % 4; ++k) q[rng() % q.size()] = static_cast<uint8_t>(rng());
    if (i % 3 == 0) q.resize(rng() % q.size());
    Decision d = ask(q, rr);
    if (d.verdict == Verdict::kReply) {
      EXPECT_TRUE(parse_reply(d.reply).parsed);
    }
    servfail_for(q);
    refused_for(q);
  }
}

TEST(RoundRobinTable, IsBounded) {
  RoundRobin rr;
  for (size_t i = 0; i < RoundRobin::kMaxNames + 10; ++i) rr.next("n" + std::to_string(i));
  EXPECT_EQ(rr.next("n0"), 0u);  // cleared once full: counting restarted
}

}  // namespace
}  // namespace shoal::netdns
