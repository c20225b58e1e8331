// A node removed with `node rm` keeps a valid certificate: the dispatcher
// refuses its sessions (Cluster::removed_nodes) until that would have expired.
#include <gtest/gtest.h>

#include <future>
#include <memory>

#include "manager/dispatcher/dispatcher.h"
#include "manager/dispatcher/dispatcher_test_util.h"
#include "store/memory_backend.h"

namespace shoal::dispatcher {
namespace {

class RemovedNodeTest : public DispatcherFixture {
 protected:
  RemovedNodeTest() : DispatcherFixture(std::chrono::milliseconds(25000)) {}
  void SetUp() override {
    DispatcherFixture::SetUp();
    Cluster c;
    c.id = "cluster1";
    Batch b;
    b.create(c);
    ASSERT_TRUE(store.commit(b).ok());
  }

  http::Response call(const std::string& peer, const std::string& method, const std::string& op,
                      const std::string& body, std::map<std::string, std::string> query = {}) {
    return send(method, op, body, std::move(query), peer).get();
  }
  http::Response register_as(const std::string& node) {
    session::RegisterRequest req;
    req.description.hostname = node;
    return call(node, "POST", "session", json(req).dump());
  }
  void mark_removed(const std::string& node, SysTime until) {  // what `node rm` writes
    Batch b;
    if (store.node(node)) b.remove(Kind::kNode, node);
    b.update_cluster("cluster1", [&](Cluster& c) {
      c.removed_nodes[node] = until;
      return true;
    });
    ASSERT_TRUE(store.commit(b).ok());
  }

};

TEST_F(RemovedNodeTest, ARemovedNodesCertificateGetsNoSession) {
  auto r = register_as("n1");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string sid = json::parse(r.body).get<session::RegisterResponse>().session_id;
  mark_removed("n1", clock.now() + std::chrono::hours(24));
  // Its open session ends, and registering again is refused, with the fix.
  auto hb = call("n1", "POST", "heartbeat", json{{"SessionID", sid}}.dump());
  EXPECT_EQ(hb.status, 403) << hb.body;
  EXPECT_NE(hb.body.find("was removed from the swarm; leave and join again"), std::string::npos) << hb.body;
  EXPECT_EQ(call("n1", "GET", "assignments", "", {{"session", sid}, {"since", "0"}}).status, 404);
  r = register_as("n1");
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(r.body.find("node \\\"n1\\\" was removed from the swarm; leave and join again"), std::string::npos) << r.body;
  EXPECT_FALSE(store.node("n1").has_value());  // not created again
  EXPECT_EQ(register_as("n2").status, 200);    // other nodes are unaffected
}

TEST_F(RemovedNodeTest, TheEntryEndsWhenTheCertificateWouldHaveExpired) {
  mark_removed("n1", clock.now() + std::chrono::hours(1));
  EXPECT_EQ(register_as("n1").status, 403);
  clock.advance(std::chrono::hours(2));
  EXPECT_EQ(register_as("n1").status, 200);
}

// A node's unknown call is not echoed whole (its path can be 64 KiB).
TEST_F(RemovedNodeTest, AnUnknownCallIsQuotedBounded) {
  auto r = call("n1", "GET", std::string(60000, 'x'), "");
  EXPECT_EQ(r.status, 404);
  EXPECT_LT(r.body.size(), 512u);
}

// `node rm` commits after a register read the cached cluster and before the
// register's own commit: the register does not bring the node back Ready.
class RemovedNodeRaceTest : public DispatcherFixture {
 protected:
  RemovedNodeRaceTest() : DispatcherFixture(std::chrono::milliseconds(200)) {}
};

TEST_F(RemovedNodeRaceTest, ARegisterRacingNodeRmDoesNotRecreateTheNode) {
  Batch b;
  Cluster c;
  c.id = "cluster1";
  b.create(c);
  ASSERT_TRUE(store.commit(b).ok());
  faults.hold_watches();  // this manager's cache misses the removal below
  Store other(backend);
  ASSERT_TRUE(other.start().ok());
  Batch rm;
  rm.update_cluster("cluster1", [&](Cluster& cl) {
    cl.removed_nodes["n1"] = clock.now() + std::chrono::hours(24);
    return true;
  });
  ASSERT_TRUE(other.commit(rm).ok());
  other.stop();
  size_t writes = faults.writes();
  session::RegisterRequest req;
  auto r = std::async(std::launch::async, [&] {  // register answers on the calling thread
    return send("POST", "session", json(req).dump(), {}, std::string("n1")).get();
  });
  // The register has written; the cache catches up with both writes.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (faults.writes() == writes && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  ASSERT_GT(faults.writes(), writes);
  faults.drop_watches();
  ASSERT_EQ(r.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto res = r.get();
  EXPECT_EQ(res.status, 403) << res.body;
  EXPECT_NE(res.body.find("was removed from the swarm"), std::string::npos) << res.body;
  ASSERT_TRUE(store.sync().ok());
  EXPECT_FALSE(store.node("n1").has_value()) << "the removed node was created again";
}

TEST(RemovedNodes, KeptInTheStoredClusterButNotShown) {
  Cluster c;
  c.removed_nodes["n1"] = std::chrono::system_clock::from_time_t(2000000000);
  Cluster back;
  from_stored(to_stored(c), back);
  EXPECT_EQ(back.removed_nodes, c.removed_nodes);
  EXPECT_FALSE(to_api(c).contains("RemovedNodes"));
}

}  // namespace
}  // namespace shoal::dispatcher
