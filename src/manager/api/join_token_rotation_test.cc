// POST /swarm/update?rotate…Token=true against a rotation that lands between
// the route's read of the tokens and its write: the write's version compare
// fails (kConflict), and the route rotates again over what the other stored.
#include <gtest/gtest.h>

#include "manager/api/api_test_util.h"

namespace shoal::api {
namespace {

using testing::FakeContainers;
using testing::FakeControl;
using testing::make_request;

// FakeControl with the stored tokens' version compare of shoald's
// ManagerStorage/ManagerRole, and `races` concurrent rotations (of the
// manager token) that each commit just before the next write.
class RacingControl : public FakeControl {
 public:
  using FakeControl::FakeControl;
  Result<JoinTokens> join_tokens() override {
    auto t = FakeControl::join_tokens();
    if (t.ok()) t->version = version_;
    return t;
  }
  Status set_join_tokens(const JoinTokens& t) override {
    ++writes;
    if (races > 0) {
      --races;
      auto cur = FakeControl::join_tokens();
      if (!cur.ok()) return cur.status();
      cur->manager = "SWMTKN-1-digest-concurrent" + std::to_string(++version_);
      SHOAL_RETURN_IF_ERROR(FakeControl::set_join_tokens(*cur));
    }
    if (t.version != version_) return conflict("the join tokens were changed concurrently: read them again and retry");
    ++version_;
    return FakeControl::set_join_tokens(t);
  }
  int races = 0;
  int writes = 0;

 private:
  int64_t version_ = 0;
};

class JoinTokenRotationTest : public ::testing::Test {
 protected:
  http::Response call(const std::string& method, const std::string& target, const std::string& body = "") {
    return api.handle(make_request(method, target, body));
  }
  // Rotates the worker token through the API; the update's response.
  http::Response rotate_worker() {
    auto j = json::parse(call("GET", "/v1.41/swarm").body);
    std::string v = std::to_string(j["Version"]["Index"].get<uint64_t>());
    return call("POST", "/v1.41/swarm/update?version=" + v + "&rotateWorkerToken=true", j["Spec"].dump());
  }

  FakeClock clock;
  RacingControl control{clock};
  FakeContainers containers;
  Api api{control, &containers, clock};
};

TEST_F(JoinTokenRotationTest, ARotationThatLosesTheRaceRotatesAgainOverTheOther) {
  ASSERT_EQ(call("POST", "/v1.41/swarm/init", "{}").status, 200);
  control.races = 1;
  auto r = rotate_worker();
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(control.writes, 2);  // the write that lost, then the one over the winner's tokens
  auto t = json::parse(call("GET", "/v1.41/swarm").body)["JoinTokens"];
  // Ours: a new worker token of this swarm's CA.
  EXPECT_NE(t["Worker"], "SWMTKN-1-digest-workersecret");
  EXPECT_EQ(t["Worker"].get<std::string>().rfind("SWMTKN-1-digest-", 0), 0u) << t["Worker"];
  // Theirs, kept: the concurrent rotation's manager token, not the stale one we read first.
  EXPECT_EQ(t["Manager"].get<std::string>().rfind("SWMTKN-1-digest-concurrent", 0), 0u) << t["Manager"];
  EXPECT_EQ(control.join_tokens()->worker, t["Worker"]);
}

TEST_F(JoinTokenRotationTest, ARotationThatKeepsLosingGivesUpWithAConflict) {
  ASSERT_EQ(call("POST", "/v1.41/swarm/init", "{}").status, 200);
  control.races = 100;
  auto r = rotate_worker();
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_NE(r.body.find("storing the rotated join tokens"), std::string::npos) << r.body;
  EXPECT_EQ(control.writes, 5);  // bounded: a handful of attempts, then the client is told
  auto t = json::parse(call("GET", "/v1.41/swarm").body)["JoinTokens"];
  EXPECT_EQ(t["Worker"], "SWMTKN-1-digest-workersecret");  // nothing of ours half-written
}

}  // namespace
}  // namespace shoal::api
