// ManagerRole: the backing store of this node's manager in shoald: its local
// etcd member and a client of it (node::ManagerStorage). The store, election,
// control loops and dispatcher over it are built by the composition root
// (src/node/manager.h).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "common/result.h"
#include "manager/ca/root_ca.h"
#include "node/swarm_node.h"

namespace shoal::etcd {
class EtcdMember;
}
namespace shoal {
class EtcdBackend;
}

namespace shoal::daemon {

struct ManagerOptions {
  std::string data_root;
  std::string node_id;
  int etcd_client_port = 2379;
  int etcd_peer_port = 2380;
  // swarm init only: the new swarm's root CA. start() then issues the etcd
  // certificates (<data-root>/certs), creates the sealing key
  // (<data-root>/manager/seal.key, 0600) and stores the CA's private key
  // sealed under it at kSealedRootCAKey. Null on restart: the files are there.
  const ca::RootCA* new_swarm_ca = nullptr;
  std::string advertise_ip;  // also a SAN of the member certificate (init only)
};

// Where the root CA's private key lives, sealed (AES-256-GCM): outside the
// /shoal/ prefix the store lists and watches, so it is never decoded, cached
// or served as an object. Replicated with the rest of etcd; a manager that
// joins later gets the sealing key over its join session.
constexpr char kSealedRootCAKey[] = "/shoal-sealed/root-ca-key";
// The swarm's join tokens ({"Worker": ..., "Manager": ...}), sealed the same
// way: `GET /swarm` shows them to the API's clients (root's, as in Docker),
// `swarm join-token` prints them again, and they are never in the clear at
// rest or in the store's cache.
constexpr char kSealedJoinTokens[] = "/shoal-sealed/join-tokens";

class ManagerRole : public node::ManagerStorage {
 public:
  explicit ManagerRole(ManagerOptions options);
  ~ManagerRole() override;
  // Starts etcd (creating its data dir on first start) and its client.
  Status start();
  // Stops etcd; the client stays valid (its requests then fail).
  void stop() override;
  // Stops, then deletes the etcd data (leaving the swarm).
  void destroy() override;
  Backend& backend() override;

  // The root CA's private key (PEM), read from etcd and unsealed with this
  // manager's key. kPermissionDenied if the blob does not verify.
  Result<std::string> root_ca_key();

  // node::ManagerStorage: the join tokens, sealed at kSealedJoinTokens.
  // kNotFound if none were stored, kPermissionDenied if the blob does not
  // verify under this manager's key.
  Result<JoinTokens> join_tokens() override;
  Status set_join_tokens(const JoinTokens& tokens) override;

 private:
  ManagerOptions options_;
  std::unique_ptr<etcd::EtcdMember> etcd_;
  std::unique_ptr<EtcdBackend> backend_;
};

}  // namespace shoal::daemon
