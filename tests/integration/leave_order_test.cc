// swarm leave forgets the membership before it erases the manager's
// storage: shoald killed while the etcd data is being deleted must not
// restart with a membership whose storage is gone (it would refuse to start).
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "agent/fake_executor.h"
#include "node/swarm_node.h"
#include "store/memory_backend.h"

namespace shoal {
namespace {

struct Log {
  std::mutex mu;
  std::vector<std::string> events;
  void add(const std::string& e) {
    std::lock_guard lk(mu);
    events.push_back(e);
  }
};

class LoggingStorage : public node::ManagerStorage {
 public:
  explicit LoggingStorage(Log& log) : log_(log) {}
  Backend& backend() override { return backend_; }
  void stop() override {}
  void destroy() override { log_.add("destroy"); }

 private:
  Log& log_;
  MemoryBackend backend_;
};

TEST(SwarmLeave, ForgetsTheMembershipBeforeTheStorageIsErased) {
  Log log;
  RealClock clock;
  node::NodeParts p;
  p.clock = &clock;
  p.open_storage = [&](const node::Membership&, const node::SwarmCredentials*)
      -> Result<std::unique_ptr<node::ManagerStorage>> {
    return std::unique_ptr<node::ManagerStorage>(std::make_unique<LoggingStorage>(log));
  };
  p.make_executor = [](const node::Membership&) { return std::make_unique<agent::FakeExecutor>(); };
  p.dispatcher_endpoint = "unix:///nonexistent/shoal-leave-order.sock";
  p.persist = [&](const std::optional<node::Membership>& m) {
    log.add(m ? "save" : "forget");
    return ok_status();
  };
  node::SwarmNode n(std::move(p));
  ASSERT_TRUE(n.init(api::InitRequest{}).ok());
  ASSERT_TRUE(n.leave(/*force=*/true).ok());
  std::lock_guard lk(log.mu);
  EXPECT_EQ(log.events, (std::vector<std::string>{"save", "forget", "destroy"}));
}

}  // namespace
}  // namespace shoal
