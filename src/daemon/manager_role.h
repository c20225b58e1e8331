// ManagerRole: everything a manager node runs besides the API: its local etcd
// member, the store (cache over etcd), leader election, the control loops
// (only while leader) and the dispatcher for agent sessions.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "manager/dispatcher/dispatcher.h"
#include "manager/leader/elector.h"
#include "store/store.h"

namespace shoal::etcd {
class EtcdMember;
}
namespace shoal {
class EtcdBackend;
}
namespace shoal::orchestrator {
class ControlLoops;
}

namespace shoal::daemon {

struct ManagerOptions {
  std::string data_root;
  std::string node_id;
  int etcd_client_port = 2379;
  int etcd_peer_port = 2380;
};

class ManagerRole {
 public:
  ManagerRole(Clock& clock, ManagerOptions options);
  ~ManagerRole();
  // Starts etcd (creating its data dir on first start), the store, the
  // dispatcher and the election.
  Status start();
  void stop();
  // Stops, then deletes the etcd data (leaving the swarm).
  void destroy();

  Store& store() { return *store_; }
  dispatcher::Dispatcher& dispatcher() { return *dispatcher_; }
  bool is_leader() const;

 private:
  Clock& clock_;
  ManagerOptions options_;
  std::unique_ptr<etcd::EtcdMember> etcd_;
  std::unique_ptr<EtcdBackend> backend_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<dispatcher::Dispatcher> dispatcher_;
  std::unique_ptr<leader::Elector> elector_;
  std::mutex loops_mu_;
  std::unique_ptr<orchestrator::ControlLoops> loops_;
};

}  // namespace shoal::daemon
