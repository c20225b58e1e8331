// Callers proven by a certificate (Dispatcher::serve with a peer node): the
// node id comes from the certificate, never from the body; one node cannot
// use another's session; status only for the session node's own tasks.
#include <gtest/gtest.h>

#include "manager/dispatcher/dispatcher_test_util.h"

namespace shoal::dispatcher {
namespace {

class DispatcherIdentityTest : public DispatcherFixture {
 protected:
  DispatcherIdentityTest() : DispatcherFixture(std::chrono::milliseconds(200)) {}

  http::Response call(const std::string& peer, const std::string& method, const std::string& op,
                      const std::string& body, std::map<std::string, std::string> query = {}) {
    return send(method, op, body, std::move(query), peer).get();
  }
  std::string register_as(const std::string& peer, const std::string& body_id = "") {
    session::RegisterRequest req;
    req.node_id = body_id;
    req.description.hostname = peer;
    auto r = call(peer, "POST", "session", json(req).dump());
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body).get<session::RegisterResponse>().session_id;
  }
};

TEST_F(DispatcherIdentityTest, TheCertificateNamesTheNode) {
  register_as("cert-node");
  ASSERT_TRUE(store.node("cert-node").has_value());
  EXPECT_EQ(store.node("cert-node")->state, NodeState::kReady);
  register_as("cert-node", "cert-node");  // the same id in the body is fine
}

TEST_F(DispatcherIdentityTest, AnotherNodeIdInTheBodyIsRefused) {
  session::RegisterRequest req;
  req.node_id = "someone-else";
  auto r = call("cert-node", "POST", "session", json(req).dump());
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(r.body.find("client certificate"), std::string::npos) << r.body;
  EXPECT_FALSE(store.node("someone-else").has_value());
  EXPECT_FALSE(store.node("cert-node").has_value());
}

TEST_F(DispatcherIdentityTest, ASessionServesOnlyItsOwnNode) {
  std::string sid = register_as("n1");
  register_as("n2");
  EXPECT_EQ(call("n2", "POST", "heartbeat", json{{"SessionID", sid}}.dump()).status, 403);
  EXPECT_EQ(call("n2", "GET", "assignments", "", {{"session", sid}, {"since", "0"}}).status, 403);
  session::StatusBatch b;
  b.session_id = sid;
  EXPECT_EQ(call("n2", "POST", "status", json(b).dump()).status, 403);
  EXPECT_EQ(call("n1", "POST", "heartbeat", json{{"SessionID", sid}}.dump()).status, 200);
  EXPECT_EQ(call("n1", "GET", "assignments", "", {{"session", sid}, {"since", "0"}}).status, 200);
}

TEST_F(DispatcherIdentityTest, StatusOnlyForTheNodesOwnTasks) {
  Task mine, theirs;
  mine.id = "t-mine";
  mine.service_id = "s";
  mine.slot = 1;
  mine.node_id = "n1";
  mine.status.state = TaskState::kAssigned;
  theirs = mine;
  theirs.id = "t-theirs";
  theirs.slot = 2;
  theirs.node_id = "n2";
  Batch batch;
  batch.create(mine);
  batch.create(theirs);
  ASSERT_TRUE(store.commit(batch).ok());
  std::string sid = register_as("n1");
  session::StatusBatch b;
  b.session_id = sid;
  TaskStatus running;
  running.state = TaskState::kRunning;
  b.updates = {{"t-mine", running}, {"t-theirs", running}};
  ASSERT_EQ(call("n1", "POST", "status", json(b).dump()).status, 200);
  EXPECT_EQ(store.task("t-mine")->status.state, TaskState::kRunning);
  EXPECT_EQ(store.task("t-theirs")->status.state, TaskState::kAssigned);
}

}  // namespace
}  // namespace shoal::dispatcher
