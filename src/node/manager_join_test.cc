// The manager side of a manager join refuses a certificate that is not
// enough on its own: the joiner must present the swarm's current manager
// token again (one rotated since, or the worker token, is refused before
// anything is admitted), and a removed or already known node is not
// admitted as a new manager.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "node/join.h"
#include "node/swarm_node.h"
#include "store/memory_backend.h"
#include "store/store.h"

namespace shoal::node {
namespace {

using nlohmann::json;

constexpr char kWorkerToken[] = "SWMTKN-1-worker-current";
constexpr char kManagerToken[] = "SWMTKN-1-manager-currnt";
constexpr char kRotatedToken[] = "SWMTKN-1-manager-rotatd";

struct ManagerJoinCall {
  int admitted = 0;
  CaServiceParts parts;

  ManagerJoinCall() {
    parts.join_tokens = []() -> Result<JoinTokens> { return JoinTokens{kWorkerToken, kManagerToken}; };
    parts.cluster_id = [] { return std::string("cluster1"); };
    parts.admit_manager = [this](const ManagerAdmission&) -> Result<ManagerGrant> {
      ++admitted;
      ManagerGrant g;
      g.seal_key = "k";
      return g;
    };
  }

  // POSTs manager-join as node "n1" with a verified manager certificate.
  http::Response post(const json& body) {
    http::Exchange ex;
    ex.request.method = "POST";
    ex.request.path = std::string(kCaPrefix) + "manager-join";
    ex.request.peer = "10.0.0.2:40000";
    ex.request.peer_cert = {true, "n1", "swarm-manager", "cluster1"};
    ex.request.body = body.dump();
    http::Response out;
    ex.respond = [&](http::Response r) { out = std::move(r); };
    serve_ca(parts, std::move(ex));
    return out;
  }
};

json request_with(const std::optional<std::string>& token) {
  json j = {{"MemberCSR", "m"}, {"ClientCSR", "c"}, {"AdvertiseAddr", "10.0.0.2:2377"}};
  if (token) j["Token"] = *token;
  return j;
}

TEST(ManagerJoin, NeedsTheCurrentManagerToken) {
  ManagerJoinCall call;
  for (const auto& t : std::vector<std::optional<std::string>>{kRotatedToken, kWorkerToken, "", std::nullopt}) {
    http::Response r = call.post(request_with(t));
    EXPECT_EQ(r.status, 403) << t.value_or("(no Token)") << ": " << r.body;
    EXPECT_NE(r.body.find("current manager token"), std::string::npos) << r.body;
  }
  EXPECT_EQ(call.admitted, 0) << "nothing is admitted without the current manager token";
  http::Response ok = call.post(request_with(kManagerToken));
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(call.admitted, 1);
}

TEST(ManagerJoin, ANonStringTokenIsRefused) {
  ManagerJoinCall call;
  json j = request_with(std::nullopt);
  j["Token"] = 42;
  http::Response r = call.post(j);
  EXPECT_EQ(r.status, 400) << "a malformed request, not a wrong token";
  EXPECT_NE(r.body.find("Token must be a string"), std::string::npos) << r.body;
  EXPECT_EQ(call.admitted, 0);
}

class CheckNewManager : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(store.start().ok()); }
  void TearDown() override { store.stop(); }
  MemoryBackend backend;
  Store store{backend};
  Time now = Time{} + std::chrono::hours(1000);
};

TEST_F(CheckNewManager, ANewNodeIsAdmitted) {
  EXPECT_TRUE(check_new_manager(store, "n1", now).ok());
}

TEST_F(CheckNewManager, ARemovedNodeIsRefused) {
  Cluster c;
  c.id = "cluster1";
  c.removed_nodes["n1"] = now + std::chrono::hours(1);
  c.removed_nodes["n2"] = now - std::chrono::hours(1);  // expired
  Batch b;
  b.create(c);
  ASSERT_TRUE(store.commit(b).ok());
  Status st = check_new_manager(store, "n1", now);
  EXPECT_EQ(st.code(), Code::kPermissionDenied) << st.message();
  EXPECT_NE(st.message().find("removed"), std::string::npos) << st.message();
  EXPECT_TRUE(check_new_manager(store, "n2", now).ok());
}

TEST_F(CheckNewManager, AKnownNodeIsRefused) {
  Node n;
  n.id = "n1";
  n.spec.role = NodeRole::kWorker;
  Batch b;
  b.create(n);
  ASSERT_TRUE(store.commit(b).ok());
  Status st = check_new_manager(store, "n1", now);
  EXPECT_EQ(st.code(), Code::kAlreadyExists) << st.message();
  EXPECT_TRUE(check_new_manager(store, "n3", now).ok());
}

}  // namespace
}  // namespace shoal::node
