// NetworkView: what one node needs to know of the overlay networks it takes
// part in, derived by the dispatcher from the cluster state and sent in the
// node's AssignmentSet whenever it changes (session_messages.h). The agent
// programs its datapath from it: the network's bridge and VXLAN device, FDB
// and neighbour entries for the endpoints on other nodes, DNS records and
// VIP rotations from the services and their serving endpoints, and the
// routing mesh from the ingress network's published ports. No gossip: the
// store is the one source, as for assignments.
//
// A node's view holds each network one of its live tasks is attached to,
// and the ingress network on every node while some service publishes a port
// through the routing mesh (the mesh answers on every node). Plain data.
#pragma once

#include <string>
#include <vector>

#include "model/objects.h"

namespace shoal::session {

// One live task's address on a network, on any node.
struct Endpoint {
  std::string task_id;
  std::string service_id;
  std::string node_id;
  std::string ip;         // "10.0.1.5" (the network's prefix applies)
  std::string node_addr;  // the task's node's address: the VXLAN tunnel endpoint
  // Running and meant to run: in DNS answers and VIP rotations. A task being
  // stopped on purpose (scale down, update, drain) stops serving as soon as
  // its desired state moves, before the agent sends it its stop signal.
  bool serving = false;
  bool operator==(const Endpoint&) const = default;
};

// A service attached to the network, as DNS and load balancing see it.
struct ServiceRecord {
  std::string id;
  std::string name;
  std::vector<std::string> aliases;  // its aliases on this network
  std::string vip;                   // "10.0.1.2"; empty: dnsrr, or not allocated yet
  std::vector<PortConfig> ports;     // ingress network only: its ports published in ingress mode
  bool operator==(const ServiceRecord&) const = default;
};

struct NetworkInfo {
  std::string id;
  std::string name;
  uint32_t vni = 0;
  std::string subnet;   // "10.0.1.0/24"
  std::string gateway;  // "10.0.1.1"
  bool internal = false;
  bool ingress = false;
  uint32_t mtu = 1450;  // com.docker.network.driver.mtu, else VXLAN over a 1500-byte underlay
  std::vector<Endpoint> endpoints;        // sorted by task id
  std::vector<ServiceRecord> services;    // sorted by service id
  bool operator==(const NetworkInfo&) const = default;
};

struct NetworkView {
  std::vector<NetworkInfo> networks;  // sorted by network id
  // This node's own address on the ingress network ("10.0.0.3", no prefix):
  // the source of its routing mesh's traffic. Empty: none (yet). Other
  // nodes' show in ingress's endpoints with task id "node:<node id>", no
  // service, not serving: peers for VXLAN, never DNS or VIP backends.
  std::string ingress_addr;
  bool operator==(const NetworkView&) const = default;
};

void to_json(json& j, const NetworkView& v);
void from_json(const json& j, NetworkView& v);

}  // namespace shoal::session
