#include "daemon/swarm_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/files.h"

namespace shoal::daemon {

namespace fs = std::filesystem;

namespace {
std::string state_path(const std::string& root) { return root + "/swarm/state.json"; }
}  // namespace

Result<std::optional<SwarmState>> load_swarm_state(const std::string& data_root) {
  std::ifstream in(state_path(data_root));
  if (!in) return std::optional<SwarmState>();
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    auto j = nlohmann::json::parse(ss.str());
    SwarmState s;
    s.node_id = j.at("NodeID").get<std::string>();
    s.role = j.value("Role", "manager");
    s.advertise_addr = j.value("AdvertiseAddr", "");
    s.etcd_client_port = j.value("EtcdClientPort", 2379);
    s.etcd_peer_port = j.value("EtcdPeerPort", 2380);
    return std::optional<SwarmState>(s);
  } catch (const std::exception& e) {
    return internal_error("corrupt swarm state " + state_path(data_root) + ": " + e.what() +
                          "; move it away to start this node outside the swarm");
  }
}

Status save_swarm_state(const std::string& data_root, const SwarmState& s) {
  nlohmann::json j = {{"NodeID", s.node_id},
                      {"Role", s.role},
                      {"AdvertiseAddr", s.advertise_addr},
                      {"EtcdClientPort", s.etcd_client_port},
                      {"EtcdPeerPort", s.etcd_peer_port}};
  std::error_code ec;
  fs::create_directories(fs::path(state_path(data_root)).parent_path(), ec);
  return write_file_atomic(state_path(data_root), j.dump(2), 0600);
}

Status remove_swarm_state(const std::string& data_root) {
  std::error_code ec;
  fs::remove(state_path(data_root), ec);
  if (ec) return internal_error("removing " + state_path(data_root) + ": " + ec.message());
  return ok_status();
}

}  // namespace shoal::daemon
