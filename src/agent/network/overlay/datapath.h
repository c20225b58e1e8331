// Datapath: the overlay networks of one node, in the kernel (Docker's overlay
// driver, without gossip: remote endpoints come from the cluster state).
//
// Per overlay network the node has a network namespace, bind-mounted at
// <state_dir>/ns-<first 12 chars of the network id>, holding
//   - bridge br0, with the network's gateway address (gateway/prefix);
//   - vxlan0 (the network's VNI, UDP dstport Options::vxlan_port, local =
//     Options::underlay_ip, learning off, ARP proxy on), a port of br0.
//     vxlan0 is created in the node's namespace and then moved, so its UDP
//     socket stays where the underlay address is;
//   - per local task a veth whose network-namespace end, ve-<task id 11>,
//     is a port of br0 and whose other end is in the task's namespace.
// Every device of a network has the network's MTU.
//
// Remote endpoints are static: per (ip, mac, vtep) a permanent FDB entry
// mac -> vtep and a permanent neighbour entry ip -> mac on vxlan0. With
// the ARP proxy on, vxlan0 answers the tasks' ARP requests from those
// neighbour entries, so no broadcast ever crosses the underlay.
//
// The node's namespace is the one Options::node_netns_path names, or, when
// that is empty, the one of the thread that calls create(). The Datapath
// never switches a caller's thread to another namespace: namespace work is
// done by short-lived helper threads (see os/netns_file.h).
//
// Every operation is idempotent and repairs what a crash may have left half
// made; "missing" is success for removals. Errors say what failed, on which
// device, in which namespace, and why.
//
// Trust: the state_dir is this process's alone (see create()). Namespace
// files in it are opened without following symlinks (O_NOFOLLOW) and must
// hold a mounted namespace other than the node's own: a symlink or a bind
// mount of the node's namespace put there is refused, never worked on. In
// the node's namespace the datapath deletes nothing but its own leftover
// temporary VXLAN device (see remove_network); in a network's namespace
// only the links it makes there (br0, vxlan0, ve-*).
//
// Thread-safe: one mutex serialises all operations. Only one Datapath
// (i.e. one process) may manage a given state_dir.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "os/netns_file.h"
#include "common/result.h"

namespace shoal::netoverlay {

// The namespace helpers of os/netns_file.h, by their short names here.
using os::UniqueFd;
using os::create_netns_file;
using os::is_mount_point;
using os::is_netns_mount;
using os::open_current_netns;
using os::open_netns;
using os::open_netns_nofollow;
using os::remove_netns_file;
using os::run_in_netns_thread;


struct NetworkConfig {
  std::string id;       // at least 12 chars of [A-Za-z0-9_.-]; the first 12 name the namespace
  uint32_t vni = 0;     // 1..16777215, unique per node
  std::string subnet;   // "10.0.1.0/24"
  std::string gateway;  // "10.0.1.1": inside subnet; put on br0
  uint32_t mtu = 1450;  // 68..65535
};

struct LocalEndpoint {
  std::string task_id;     // at least 11 chars; the first 11 name the veth end in the network namespace
  std::string netns_path;  // the task's network namespace file
  std::string ifname;      // its interface name in the task ("eth0"), at most 15 chars
  std::string ip;          // in the network's subnet, no prefix: the subnet's is used
  std::string mac;         // empty: mac_for_ip(ip)
  bool default_route = false;  // the task's default route goes via this network's gateway
};

struct RemotePeer {
  std::string ip;    // a task on another node
  std::string mac;   // its MAC; empty: mac_for_ip(ip)
  std::string vtep;  // the underlay IPv4 of its node
  bool operator==(const RemotePeer&) const = default;
};

// The gateway bridge (Docker's docker_gwbridge): a bridge in the node's own
// namespace through which tasks on non-internal networks reach the outside.
// Each such task gets one more interface, plugged into it, with an address
// of `subnet` and its default route via the bridge's address (the subnet's
// first host). The addresses are the node's own business (the same subnet
// on every node; the agent hands them out); NAT and isolation are nftables
// rules (netlb::render_gateway_ruleset).
struct GatewayConfig {
  std::string bridge = "shoal_gwbridge";  // at most 15 characters
  std::string subnet = "172.18.0.0/16";   // /8 to /30
  uint32_t mtu = 1500;
};

struct Options {
  std::string state_dir;        // namespace files live here; created if missing; made 0700 (see create())
  std::string underlay_ip;      // this node's VTEP address (in the node namespace)
  uint16_t vxlan_port = 4789;
  std::string node_netns_path;  // empty: the namespace of the thread calling create()
  GatewayConfig gateway;
};

class Datapath {
 public:
  // Checks the options and secures state_dir: created (with its parents)
  // if missing; then, through an fd opened O_DIRECTORY|O_NOFOLLOW, given
  // to this process's effective user and group (root: the datapath needs
  // CAP_NET_ADMIN and CAP_SYS_ADMIN) with fchown if another owns it, and
  // set to mode 0700 with fchmod if it has any other mode (group/other
  // bits, setgid, sticky). A state_dir that is a symlink, not a directory,
  // or "/" is kFailedPrecondition, and nothing about it is changed. From
  // then on state_dir is the directory's real path (symlinks in its parent
  // path resolved), which netns_path() returns paths under. The parents
  // themselves are not checked: they must not be writable by others.
  static Result<std::unique_ptr<Datapath>> create(Options o);

  // Makes the network's namespace, br0 and vxlan0, or repairs them: a
  // missing piece is made, a vxlan0 with another VNI, port or local
  // address is replaced (its peers then need a new set_peers),
  // addresses/MTU/master/up are (re)applied. Tasks and peers already there
  // are left untouched. vxlan0 is made as temp_vxlan_name(id) in the
  // node's namespace: a device there by that name that is this datapath's
  // leftover (see remove_network) is replaced, any other device by that
  // name is kFailedPrecondition (saying which device) and left alone. A
  // namespace file that is a symlink, or holds the node's namespace, is
  // kFailedPrecondition.
  Status ensure_network(const NetworkConfig& n);
  // Connects a task: creates its veth pair (or re-applies its address, MAC,
  // MTU, up state and default route when already there). The network must
  // have been ensured (kFailedPrecondition otherwise) and `e.ifname` must
  // not be taken in the task by something else (kAlreadyExists).
  Status attach(const std::string& network_id, const LocalEndpoint& e);
  // Removes the task's veth pair (both ends). Missing network or task: ok.
  Status detach(const std::string& network_id, const std::string& task_id);
  // Makes vxlan0's static FDB and neighbour entries exactly `peers`:
  // entries not wanted are removed, missing ones added, unchanged ones not
  // touched (so established traffic is not disturbed). Two peers with the
  // same IP or MAC but different values are kInvalidArgument.
  Status set_peers(const std::string& network_id, const std::vector<RemotePeer>& peers);
  // Removes the network's links (br0, vxlan0 and the ve-* veths, which
  // detaches its tasks; other links go with the namespace), namespace,
  // bind mount and file, and a VXLAN device left in the node's namespace
  // by an interrupted ensure_network. Missing: ok. `network_id` may be just
  // the 12-char prefix networks() returns.
  // In the node's namespace only a device named temp_vxlan_name(id) that
  // is of kind "vxlan" with this datapath's dstport (Options::vxlan_port)
  // and local address (Options::underlay_ip) and is no bridge's port is
  // deleted; a link of another kind or another VXLAN device with that name
  // is left as it is (and the rest of the removal still done). A namespace
  // file that is a symlink is not followed (the symlink itself is removed);
  // one holding the node's own namespace has no link deleted, only the
  // file unmounted and removed.
  Status remove_network(const std::string& network_id);
  // The networks that have a namespace file in state_dir (their 12-char id
  // prefixes): what an agent finds again after a restart.
  std::vector<std::string> networks() const;
  // remove_network for each of networks() (the node leaves; lab down).
  Status remove_all();

  // Makes the gateway bridge in the node's namespace, or repairs it
  // (address, MTU, up). A device of that name that is not a bridge is
  // kFailedPrecondition, left alone.
  Status ensure_gateway();
  // Plugs the task into the gateway bridge: a veth gw-<task id 11> in the
  // node's namespace, `e.ifname` in the task with `e.ip` (in the gateway
  // subnet, not its first host) and the task's default route via the
  // bridge. `e.default_route` is ignored (always set). The node's neighbour
  // entry for e.ip on the bridge is made permanent (no ARP spoofing by
  // another task). The bridge has no IPv6. Idempotent.
  Status attach_gateway(const LocalEndpoint& e);
  // Removes the task's gateway veth (both ends) and the node's permanent
  // neighbour entry for `ip` (its gateway address). Missing: ok.
  Status detach_gateway(const std::string& task_id, const std::string& ip);
  // Removes the gateway bridge and every gw- veth plugged into it. Missing: ok.
  Status remove_gateway();
  // The bridge's address (the tasks' default gateway) and the prefix length.
  Result<std::pair<std::string, int>> gateway_address() const;
  static std::string gateway_veth_name(const std::string& task_id);  // "gw-" + 11 chars

  // The path of the network's namespace file: <state_dir>/ns-<id12>, with
  // state_dir as create() resolved it.
  std::string netns_path(const std::string& network_id) const;
  // Docker's MAC for an IPv4 address: 02:42 followed by the address bytes.
  // Empty when `ip` is not an IPv4 address.
  static std::string mac_for_ip(const std::string& ip);

  // Name rules, public for tests and for callers that want to check a name.
  static constexpr size_t kNsIdChars = 12;
  static constexpr size_t kTaskIdChars = 11;
  static std::string veth_name(const std::string& task_id);      // "ve-" + 11 chars
  static std::string temp_vxlan_name(const std::string& net_id);  // "vx-" + 12 chars

 private:
  explicit Datapath(Options o, UniqueFd node_ns) : opts_(std::move(o)), node_ns_(std::move(node_ns)) {}
  Status remove_network_locked(const std::string& network_id);

  const Options opts_;
  const UniqueFd node_ns_;  // the node's network namespace
  mutable std::mutex mu_;
};

}  // namespace shoal::netoverlay
