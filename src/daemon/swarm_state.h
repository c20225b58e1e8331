// SwarmState: what a node remembers about its swarm membership across
// restarts, in <data-root>/swarm/state.json (written atomically). Its
// presence means "this node is part of a swarm": shoald rejoins on start.
#pragma once

#include <optional>
#include <string>

#include "common/result.h"

namespace shoal::daemon {

struct SwarmState {
  std::string node_id;
  std::string role = "manager";  // manager | worker
  std::string advertise_addr;    // "ip:port"
  int etcd_client_port = 2379;
  int etcd_peer_port = 2380;
};

Result<std::optional<SwarmState>> load_swarm_state(const std::string& data_root);
Status save_swarm_state(const std::string& data_root, const SwarmState& state);
Status remove_swarm_state(const std::string& data_root);


}  // namespace shoal::daemon
