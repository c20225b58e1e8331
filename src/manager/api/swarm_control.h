// SwarmControl: what the API needs from the node to join, create or leave a
// swarm and to describe the node. Implemented by the daemon (src/daemon).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/objects.h"

namespace shoal {
class Store;
}

namespace shoal::api {

// POST /swarm/init body (Docker's SwarmInitRequest, the fields shoal uses;
// the API refuses non-default ForceNewCluster, DefaultAddrPool, SubnetSize,
// DataPathPort, DataPathAddr, AutoLockManagers and Availability).
struct InitRequest {
  std::string listen_addr = "0.0.0.0:2377";
  std::string advertise_addr;
  std::string spec_json;  // the request's "Spec" object as JSON text, may be empty
  // --default-addr-pool / --default-addr-pool-mask-length, checked by the
  // API: canonical CIDRs that do not overlap, each no longer than subnet_size.
  std::vector<std::string> default_addr_pool = {"10.0.0.0/8"};
  uint32_t subnet_size = 24;
};

// POST /swarm/join body (Docker's SwarmJoinRequest, checked by the API).
struct JoinRequest {
  std::string listen_addr = "0.0.0.0:2377";
  std::string advertise_addr;  // "ip[:port]"; may be empty
  std::vector<std::string> remote_addrs;
  std::string join_token;
};

struct LocalInfo {
  std::string hostname;
  int ncpu = 0;
  int64_t mem_total = 0;
  std::string kernel_version;
  std::string operating_system;
  std::string addr;  // node address
  int containers = 0;
  int containers_running = 0;
  int images = 0;
};

class SwarmControl {
 public:
  virtual ~SwarmControl() = default;
  // Creates a single-manager swarm with this node as leader. Returns the node id.
  virtual Result<std::string> init(const InitRequest& req) = 0;
  // Joins the swarm a manager at one of req.remote_addrs runs (docs/cluster.md).
  // Hosts that cannot join answer kUnimplemented.
  virtual Status join(const JoinRequest& req) { return unimplemented("this node cannot join a swarm"); }
  virtual Status leave(bool force) = 0;
  virtual bool active() const = 0;
  virtual std::string node_id() const = 0;
  // The cluster store; null when the node is not a manager of a swarm. The
  // pointer shares ownership of what the store needs (backend included), so
  // a request holding it stays safe while `swarm leave` tears the role down
  // (its writes then fail with kUnavailable).
  virtual std::shared_ptr<Store> store() = 0;
  virtual LocalInfo local_info() const = 0;
  // The swarm's join tokens. They are not part of the Cluster object (the
  // store never holds or caches them as API JSON): the node's manager
  // storage keeps them apart, sealed at rest in shoald. kUnavailable when
  // the node is not a manager of a swarm.
  virtual Result<JoinTokens> join_tokens() = 0;
  virtual Status set_join_tokens(const JoinTokens& tokens) = 0;
  // Seals `plain` (a service's --with-registry-auth header) with the
  // swarm's data key under `context` (manager/api/registry_auth.h), for the
  // service's stored-only field. Default: kUnimplemented (this host keeps no
  // data key, so credentials are refused, not kept in the clear).
  virtual Result<std::string> seal_registry_auth(const std::string& plain, const std::string& context) {
    return unimplemented("this host keeps no data key to seal registry credentials with: create the service "
                         "without --with-registry-auth");
  }
  // The managers' status from the live state (leader key, etcd members,
  // session keys: src/node/manager_status.h), by node id, for `node ls` and
  // `node inspect`; empty when unknown (the stored ManagerStatus is shown).
  virtual std::map<std::string, ManagerStatus> live_manager_statuses(const std::vector<Node>& nodes) { return {}; }
  // Node promote/demote (docs/cluster.md "Managers"): checks that `current`
  // may change to next.spec.role now (one membership change at a time; a
  // demotion must keep quorum) and stores `next` (a put compared on
  // current's version: kConflict when it changed); the node then starts or
  // stops its manager role. Hosts that cannot: kUnimplemented, nothing stored.
  virtual Status change_role(Store& store, const Node& current, const Node& next) {
    return unimplemented("changing node " + current.description.hostname + "'s role (node promote/demote) is not "
                         "implemented by this host: it cannot start or stop the manager role on a node");
  }
  // `swarm init --force-new-cluster` on a manager of a swarm that lost
  // quorum: its etcd member becomes the only one (data kept) and the swarm
  // goes on with this one manager. Returns the node id. Default: kUnimplemented.
  virtual Result<std::string> force_new_cluster(const InitRequest& req) {
    return unimplemented("this host cannot recover a swarm (--force-new-cluster)");
  }
};

}  // namespace shoal::api
