// Rendering nftables rulesets for service load balancing: pure functions
// from the load-balancing model to the text of one nft script.
//
// Three tables, each replaced as a whole by its script (the script starts with
// "table F N {}" + "delete table F N", then the new definition, so applying
// it in one nft transaction swaps the old table for the new atomically):
//
// - `ip shoal`, in each task's network namespace: VIP load balancing. A
//   connection (TCP or UDP, any port: like Docker, a VIP forwards every port)
//   from the task to a VIP is DNATed in nat/output to one of the service's
//   task IPs, round robin (`numgen inc`). Only a connection's first packet
//   passes nat chains; conntrack keeps the chosen backend for the rest of the
//   flow, so replacing the table does not move or cut established flows. A
//   VIP with no backend is rejected (TCP reset / ICMP port unreachable) so
//   connections fail at once instead of waiting on ARP for an address no one
//   owns. No SNAT: the backend replies to the task's own address.
//
// - `ip shoal-mesh`, in a node's own namespace: the routing mesh. Traffic to
//   any local address of the node (`fib daddr type local`: the node's
//   addresses and 127.0.0.1) on a published port is DNATed to a backend
//   task's ip:target, round robin; nat/prerouting handles traffic arriving
//   from elsewhere, nat/output traffic made on the node. Ingress-mode
//   traffic is then SNATed (masquerade, or snat to MeshConfig::snat_source)
//   so replies come back through this node (the client's address is lost, as
//   with Docker's mesh). Host-mode ports are DNATed the same way to the local
//   task but keep the client's address (replies must route back through the
//   node: the task's default route); only their loopback-sourced traffic is
//   masqueraded, since a task cannot answer 127.0.0.1.
//   127.0.0.1:P needs net.ipv4.conf.all.route_localnet=1 in the node's
//   namespace (see enable_mesh_sysctls in apply.h); because that setting
//   would also let neighbours reach services bound to 127.0.0.1, the table
//   drops packets to or from 127.0.0.0/8 that arrive on any interface but
//   `lo`.
//   A published port with no backend is rejected in filter/input.
//
// - `ip shoal-vxlan`, in a node's own namespace: the VXLAN guard. In
//   filter/input (priority -10, before the mesh's input chain) UDP to the
//   node's VXLAN port is accepted only from the peer VTEPs (the underlay
//   addresses of the other nodes, an nft set `peers`) and dropped from
//   anyone else, so no other host can inject frames into an overlay. With
//   no peers every packet to that port is dropped. Only the input hook is
//   filtered: packets the node forwards or sends are not. It is a filter on
//   source addresses, not authentication: a host that can send with a
//   peer's source address on the underlay still gets through (overlay
//   encryption is not done). Replacing the table is one transaction: each
//   packet sees the old set or the new one, so a peer in both is never
//   dropped while the peers change.
//
// The `shoal` and `shoal-mesh` tables hold a `ct state established,related
// accept` rule: it keeps the kernel's conntrack hooks registered when no
// rule needs NAT (no VIP or port has a backend), without which flows NATed
// earlier would stop being translated and break. (The VXLAN guard has no
// such rule and needs none: it NATs nothing, and it looks at every packet
// to the port, established or not.)
//
// Every address and port is validated and re-printed from its parsed form:
// no text from the (cluster-state) input reaches a script unchecked. Output
// is deterministic (VIPs, ports, backends and peers sorted, backends and
// peers deduplicated), so an unchanged configuration renders the identical
// script and the caller may skip re-applying it. IPv4 only. Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace shoal::netlb {

// Table names (family "ip").
inline constexpr const char* kTaskTable = "shoal";
inline constexpr const char* kMeshTable = "shoal-mesh";
inline constexpr const char* kVxlanTable = "shoal-vxlan";
inline constexpr const char* kGatewayTable = "shoal-gw";  // families ip and bridge

// One service VIP as seen from a task: its address and the addresses of the
// service's running tasks on the same network.
struct VipBackends {
  std::string vip;
  std::vector<std::string> backends;
};

// One published port: `published` on the node, forwarded to `target` on the
// backends (running tasks' IPs; for a host-mode port, the local task's).
struct PublishedPort {
  std::string protocol;  // "tcp" or "udp"
  uint16_t published = 0;
  uint16_t target = 0;
  std::vector<std::string> backends;
};

struct MeshConfig {
  std::vector<PublishedPort> ports;       // ingress mode (routing mesh)
  std::vector<PublishedPort> host_ports;  // host mode: tasks on this node only
  std::string snat_source;                // ingress SNAT source; empty: masquerade
  // The node's own interface on the ingress network (its mesh traffic's
  // way to the tasks). Set: the table also fences it off: what arrives on
  // it reaches the node (input) or is routed on (forward) only as a reply
  // to a flow the node started or NATed; what leaves on it (forward,
  // output) is the mesh's DNATed flows and their replies only. So a task
  // on ingress reaches no service of the node, cannot route through it,
  // and nobody reaches a task's other ports through the node.
  std::string ingress_ifname;
};

// The `ip shoal` table for a task's namespace. kInvalidArgument for a
// malformed address or a VIP listed twice; the message names the bad value.
Result<std::string> render_task_ruleset(const std::vector<VipBackends>& vips);

// The `ip shoal-mesh` table for a node's namespace. kInvalidArgument for a
// malformed address, protocol or port (0), or a protocol/port published twice.
Result<std::string> render_mesh_ruleset(const MeshConfig& m);

// The `ip shoal-vxlan` table for a node's namespace: UDP to `port` (the
// node's VXLAN dstport, Options::vxlan_port of the overlay datapath) is
// accepted from `peer_vteps` only (sorted, deduplicated; empty: from no
// one). kInvalidArgument for port 0 or a malformed peer address (as
// parse_ipv4 says: so no loopback peer either); the message names the bad
// value ("peer VTEP \"...\" ..."). The node's own address need not be a
// peer: VXLAN never sends to its own node.
Result<std::string> render_vxlan_guard(uint16_t port, const std::vector<std::string>& peer_vteps);

// The tables `ip shoal-gw` and `bridge shoal-gw` for a node's namespace:
// the way out for tasks plugged into the gateway bridge (netoverlay's
// GatewayConfig), and nothing more. Their traffic to anywhere but the bridge
// is masqueraded to the node's address; the node answers them only within
// their own flows (no service of the node is reachable from a task); they
// cannot send from outside the subnet, to VXLAN's port `vxlan_port` (no
// injecting into other nodes' overlays under the node's address), or to one
// another (neither routed nor bridged); nothing but replies is routed to
// them; and no IPv6 from them is taken at all. Needs ip_forward
// (enable_forwarding in apply.h). kInvalidArgument for a bad subnet, bridge
// name or port. `host_ports`: the host-mode ports mapped to tasks on the
// bridge (their backend: the task's address there): connections the node
// DNATs to exactly those (address, protocol, target port) are let in, and
// nothing else.
Result<std::string> render_gateway_ruleset(const std::string& subnet, const std::string& bridge, uint16_t vxlan_port,
                                           const std::vector<PublishedPort>& host_ports = {});

// Parses a dotted-quad IPv4 address usable as a VIP, backend, SNAT source
// or peer VTEP (not 0.0.0.0/8, 127.0.0.0/8, multicast or 240.0.0.0/4).
// Returns it in host byte order. `what` names the value in the error
// ("backend of VIP 10.0.0.2").
Result<uint32_t> parse_ipv4(const std::string& text, const std::string& what);

}  // namespace shoal::netlb
