#include "manager/etcd/etcd_membership.h"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <nlohmann/json.hpp>

namespace shoal::etcd {
namespace {

using nlohmann::json;

// An add answer as etcd 3.4's gateway writes it: uint64 ids as strings, the
// new member without a name.
constexpr char kAddAnswer[] = R"({"header":{"cluster_id":"1","member_id":"2","raft_term":"3"},
  "member":{"ID":"12345678901234567890","peerURLs":["https://198.18.0.12:2380"],"isLearner":true},
  "members":[{"ID":"42","name":"m1id","peerURLs":["https://198.18.0.11:2380"],"clientURLs":["https://127.0.0.1:2379"]},
             {"ID":"12345678901234567890","peerURLs":["https://198.18.0.12:2380"],"isLearner":true}]})";

TEST(EtcdMembership, AddRequestIsALearnerWithItsPeerUrl) {
  json j = json::parse(member_add_request("https://198.18.0.12:2380", true));
  EXPECT_EQ(j["peerURLs"], json::array({"https://198.18.0.12:2380"}));
  EXPECT_EQ(j["isLearner"], true);
}

TEST(EtcdMembership, PromoteRequestCarriesTheIdAsADecimalString) {
  EXPECT_EQ(json::parse(member_promote_request(12345678901234567890ULL))["ID"], "12345678901234567890");
}

TEST(EtcdMembership, ParsesTheAddAnswer) {
  auto m = parse_added_member(kAddAnswer);
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->id, 12345678901234567890ULL);
  EXPECT_TRUE(m->learner);
  auto all = parse_members(kAddAnswer);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, 42u);
  EXPECT_EQ((*all)[0].name, "m1id");
  EXPECT_FALSE((*all)[0].learner);
  EXPECT_TRUE(has_learner(*all));
  EXPECT_FALSE(has_learner({(*all)[0]}));
}

TEST(EtcdMembership, InitialClusterNamesTheNewMember) {
  auto all = parse_members(kAddAnswer);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(initial_cluster(*all, 12345678901234567890ULL, "m2id"),
            "m1id=https://198.18.0.11:2380,m2id=https://198.18.0.12:2380");
}

TEST(EtcdMembership, InitialClusterSkipsAnUnstartedOtherMember) {
  std::vector<Member> ms = {{1, "a", {"https://10.0.0.1:2380"}, {}, false}, {2, "", {"https://10.0.0.2:2380"}, {}, true},
                            {3, "", {"https://10.0.0.3:2380"}, {}, true}};
  EXPECT_EQ(initial_cluster(ms, 3, "c"), "a=https://10.0.0.1:2380,c=https://10.0.0.3:2380");
}

TEST(EtcdMembership, AMalformedAnswerIsAnError) {
  EXPECT_FALSE(parse_members("{}").ok());
  EXPECT_FALSE(parse_members("not json").ok());
  EXPECT_FALSE(parse_added_member(R"({"member":{"peerURLs":[]}})").ok());
}

// cancel() ends a call in flight on an etcd that never answers (a listening
// socket nobody accepts from) long before its 10 s timeout, and every later
// call fails at once: ManagerRole::stop_promoter relies on it to bound stop().
TEST(EtcdMembership, CancelEndsACallInFlight) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  socklen_t len = sizeof sa;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  MembershipClient mc("http://127.0.0.1:" + std::to_string(ntohs(sa.sin_port)), {});
  auto call = std::async(std::launch::async, [&] { return mc.promote(42); });
  mc.cancel();
  ASSERT_EQ(call.wait_for(std::chrono::seconds(5)), std::future_status::ready) << "cancel() did not end the call";
  EXPECT_FALSE(call.get().ok());
  EXPECT_FALSE(mc.remove(42).ok());
  ::close(fd);
}

}  // namespace
}  // namespace shoal::etcd
