// --with-registry-auth: a service's credentials travel only in the
// assignments of the node its tasks are assigned to, unsealed by the
// injected DispatcherOptions::unseal_registry_auth.
#include <gtest/gtest.h>

#include "manager/dispatcher/dispatcher.h"
#include "manager/dispatcher/dispatcher_test_util.h"

namespace shoal::dispatcher {
namespace {

// A stand-in seal: "sealed:" + service id + ":" + plain (the real one is
// manager/ca/sealed.h, wired by the node); unseal checks the service id.
constexpr char kHeader[] = "eyJ1c2VybmFtZSI6ImFsaWNlIiwicGFzc3dvcmQiOiJzM2NyM3QifQ";
std::string fake_seal(const std::string& service_id, const std::string& plain) {
  return "sealed:" + service_id + ":" + plain;
}

class RegistryAuthDispatchTest : public DispatcherFixture {
 protected:
  RegistryAuthDispatchTest() : DispatcherFixture(std::chrono::milliseconds(2000)) {}
  void SetUp() override {
    ASSERT_TRUE(store.start().ok());
    DispatcherOptions o;
    o.long_poll_timeout = std::chrono::milliseconds(2000);
    o.unseal_registry_auth = [](const std::string& sealed, const std::string& service_id) -> Result<std::string> {
      std::string prefix = "sealed:" + service_id + ":";
      if (sealed.rfind(prefix, 0) != 0) return Status(Code::kPermissionDenied, "sealed for another service");
      return sealed.substr(prefix.size());
    };
    d = std::make_unique<Dispatcher>(store, clock, o);
    d->start();
    Service authed;
    authed.id = "authed";
    authed.spec.name = "authed";
    authed.registry_auth_sealed = fake_seal("authed", kHeader);
    Service plain;
    plain.id = "plain";
    plain.spec.name = "plain";
    Service moved;  // a blob sealed for another service is not sent
    moved.id = "moved";
    moved.spec.name = "moved";
    moved.registry_auth_sealed = fake_seal("authed", kHeader);
    Batch b;
    b.create(authed);
    b.create(plain);
    b.create(moved);
    ASSERT_TRUE(store.commit(b).ok());
  }
  std::string register_node(const std::string& id) {
    session::RegisterRequest req;
    req.node_id = id;
    req.description.hostname = id;
    auto r = send("POST", "session", json(req).dump()).get();
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body).get<session::RegisterResponse>().session_id;
  }
  void add_task(const std::string& id, const std::string& service, const std::string& node,
                TaskState desired = TaskState::kRunning) {
    Task t;
    t.id = id;
    t.service_id = service;
    t.slot = ++last_slot_;
    t.node_id = node;
    t.status.state = TaskState::kAssigned;
    t.desired_state = desired;
    Batch b;
    b.create(t);
    ASSERT_TRUE(store.commit(b).ok());
  }
  // The node's whole assignment set: its body and the parsed set.
  std::pair<std::string, session::AssignmentSet> assignments(const std::string& sid) {
    auto r = send("GET", "assignments", "", {{"session", sid}, {"since", "0"}}).get();
    EXPECT_EQ(r.status, 200) << r.body;
    return {r.body, json::parse(r.body).get<session::AssignmentSet>()};
  }
  uint64_t last_slot_ = 0;
};

TEST_F(RegistryAuthDispatchTest, OnlyTheAssignedNodesAssignmentCarriesThem) {
  std::string s1 = register_node("n1");
  std::string s2 = register_node("n2");
  add_task("t1", "authed", "n1");
  add_task("t2", "plain", "n2");
  add_task("t3", "plain", "n1");
  auto [body1, set1] = assignments(s1);
  ASSERT_EQ(set1.tasks.size(), 2u);
  EXPECT_EQ(set1.registry_auth, (std::map<std::string, std::string>{{"authed", kHeader}}));
  for (const auto& t : set1.tasks) {  // each task carries its own service's, in memory only
    EXPECT_EQ(t.registry_auth, t.service_id == "authed" ? kHeader : "") << t.id;
  }
  auto [body2, set2] = assignments(s2);
  ASSERT_EQ(set2.tasks.size(), 1u);
  EXPECT_TRUE(set2.registry_auth.empty());
  EXPECT_EQ(body2.find(kHeader), std::string::npos) << body2;
  EXPECT_EQ(body2.find("sealed:"), std::string::npos) << body2;
  // The task's stored form never carries them: only the set's map does.
  EXPECT_EQ(json(to_stored(set1.tasks[0])).dump().find(kHeader), std::string::npos);
}

TEST_F(RegistryAuthDispatchTest, NotForTasksBeingShutDownNorBlobsSealedForAnotherService) {
  std::string s1 = register_node("n1");
  add_task("t1", "authed", "n1", TaskState::kShutdown);
  add_task("t2", "moved", "n1");
  auto [body, set] = assignments(s1);
  ASSERT_EQ(set.tasks.size(), 2u);
  EXPECT_TRUE(set.registry_auth.empty());
  EXPECT_EQ(body.find(kHeader), std::string::npos) << body;
}

}  // namespace
}  // namespace shoal::dispatcher
