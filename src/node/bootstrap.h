// create_swarm: what `swarm init` writes, once for everyone (shoald, the
// benchmarks, the API and integration tests): the Cluster object (root CA
// certificate, the request's address pool settings; the join tokens go to
// the ManagerStorage, apart from objects) and this node as the
// swarm's first manager, in one batch.
#pragma once

#include <optional>
#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "manager/api/swarm_control.h"
#include "manager/ca/root_ca.h"
#include "model/objects.h"
#include "store/store.h"

namespace shoal::node {

// The swarm's root CA and join tokens.
struct SwarmCredentials {
  ca::RootCA root_ca;
  std::string worker_token;
  std::string manager_token;
};

// A new root CA and join tokens pinned to it.
Result<SwarmCredentials> new_swarm_credentials();

struct SwarmBootstrap {
  std::string node_id;
  std::string advertise_addr;  // "ip:port" (the manager's swarm address)
  NodeDescription description;
  api::InitRequest request;
  // Created when absent; tests may inject fixed ones.
  std::optional<SwarmCredentials> credentials;
  // Ids are new when empty (tests may fix the cluster's).
  std::string cluster_id;
};

// The swarm address ("host:port", "[v6]:port") from an init request, as
// Docker derives it: the request's advertise address, else the listen
// address's IP when it names one (not 0.0.0.0 or ::), else `fallback`, else
// 127.0.0.1; an address without a port takes the listen address's port
// (2377 when that has none either). Pure; thread-safe.
std::string swarm_address(const api::InitRequest& req, const std::string& fallback);

// Writes the swarm's first objects. kFailedPrecondition if the store already
// holds a cluster (`swarm leave --force` first); errors of the store as they are.
Status create_swarm(Store& store, Clock& clock, const SwarmBootstrap& b);

}  // namespace shoal::node
