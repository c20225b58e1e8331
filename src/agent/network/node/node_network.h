// NodeNetwork: a node's overlay networks for its tasks, programmed from the
// NetworkView the dispatcher sends (model/network_view.h). It ties the
// datapath's parts together:
//   - overlay (netoverlay::Datapath): per network a namespace with br0 and
//     vxlan0; per task a veth into the task's own network namespace;
//     static VXLAN peers for the endpoints on other nodes;
//   - the gateway bridge (Datapath's GatewayConfig, Docker's docker_gwbridge):
//     a task on at least one network that is neither internal nor ingress
//     gets one more interface there, last, with a node-local address and its
//     default route; the node masquerades its traffic (netlb's gateway
//     tables). Tasks only on internal networks have no way out;
//   - dns (netdns::Resolver): per task listeners on 127.0.0.11:53 inside
//     its namespace, with the names of the services it shares a network with;
//   - lb (netlb): per task the `ip shoal` table that spreads connections to
//     each VIP over the service's serving tasks.
//
// Layout under Options::state_dir (root-only): the datapath's network
// namespaces (ns-<id12>), and per attached task tasks/<task id> (its network
// namespace file, which the container joins) and tasks/<task id>.json (its
// attachments: network, address, interface), so that after a restart of
// shoald the tasks still running are found again: set_view re-attaches
// them (idempotently), reopens their resolver listeners and re-applies
// their rules.
//
// Contracts:
//   - attach_task waits until the view holds every network of the task (the
//     dispatcher may send the assignment before the view that goes with
//     it), bounded by Options::view_wait and by `cancel`: a task never
//     starts on a half-known network.
//   - set_view reprograms only what changed: peers are set exactly (the
//     datapath leaves unchanged entries alone), scopes are replaced, a
//     task's ruleset is re-applied only when its text differs (so conntrack,
//     hence established connections, are untouched by churn elsewhere).
//   - A network no longer in the view and used by no attached task is
//     removed from the node.
//
// Thread safety: every public method may be called from any thread; one
// mutex serialises the kernel work (attach/detach/set_view), released while
// attach_task waits for the view.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "agent/network/dns/resolver.h"
#include "agent/network/lb/ruleset.h"
#include "agent/network/overlay/datapath.h"
#include "common/result.h"
#include "model/network_view.h"
#include "model/objects.h"

namespace shoal::netnode {

struct Options {
  std::string state_dir;        // e.g. <data-root>/network
  std::string node_id;          // this node: endpoints of other nodes are VXLAN peers
  std::string underlay_ip;      // this node's address in the cluster (the VTEP)
  uint16_t vxlan_port = 4789;
  std::string node_netns_path;  // empty: the namespace of the thread calling create() (tests: a namespace file)
  netdns::Options dns;
  std::chrono::milliseconds view_wait{30000};
  netoverlay::GatewayConfig gateway;  // the way out for tasks on non-internal networks
  // What the node serves itself ({"tcp", 2377}, etcd's, the API's TCP
  // ports; the VXLAN port is added by create()): never taken over by the
  // mesh, whatever a view says (the manager refuses the defaults already).
  std::vector<std::pair<std::string, uint16_t>> own_ports;
};

// One interface of an attached task (persisted in tasks/<id>.json).
struct Attachment {
  std::string network_id;  // empty: the gateway bridge (the way out)
  std::string ip;          // no prefix
  std::string ifname;      // eth0, eth1, ... in the order of Task::networks, the gateway's last
  bool default_route = false;
};

// The `ip shoal-mesh` script for the node from the ingress network's view:
// each service's ingress-mode ports to its serving tasks there, SNAT to
// `snat_source` (the node's ingress address). node_mesh.cc.
// Ports in `own_ports` are left out (logged).
Result<std::string> mesh_ruleset(const session::NetworkInfo& ingress, const std::string& snat_source,
                                 const std::vector<std::pair<std::string, uint16_t>>& own_ports = {});

class NodeNetwork {
 public:
  static Result<std::unique_ptr<NodeNetwork>> create(Options o);
  ~NodeNetwork();  // stop()
  NodeNetwork(const NodeNetwork&) = delete;
  NodeNetwork& operator=(const NodeNetwork&) = delete;

  // The view changed (the agent got it in an assignment set).
  void set_view(session::NetworkView view);
  // Gives the task its network namespace, attached to each network of
  // Task::networks, its resolver and its VIP rules, and its host-mode ports
  // (Task::host_ports, on the gateway bridge even without a network);
  // returns the namespace file's path for the container ("" for a task with
  // neither: the runtime then makes it a namespace with only loopback).
  // Idempotent.
  // kUnavailable when the view does not arrive in time or on cancel/stop;
  // kFailedPrecondition for an attachment without an address.
  Result<std::string> attach_task(const Task& task, const std::atomic<bool>* cancel = nullptr);
  // Undoes attach_task: rules, resolver listeners, veths, namespace file.
  // Unknown task: ok.
  Status detach_task(const std::string& task_id);
  // The tasks with a namespace here (attached, or found after a restart).
  std::vector<std::string> tasks() const;
  // The node leaves the swarm: every task detached, every network removed.
  Status remove_all();
  // Wakes attach_task waiters (they fail) and stops the resolver.
  void stop();

  // Task ids that may name files: [a-z0-9], 11 to 64 chars.
  static bool valid_task_id(const std::string& id);

 private:
  struct LocalTask {
    std::vector<Attachment> attachments;
    std::vector<PortConfig> host_ports;  // Task::host_ports: mapped from the node to its gateway address
    std::set<std::string> networks() const;
    bool dns = false;      // resolver listeners open
    std::string ruleset;   // the `ip shoal` script last applied
  };
  NodeNetwork(Options o, std::unique_ptr<netoverlay::Datapath> dp, std::unique_ptr<netdns::Resolver> r);
  std::string task_ns(const std::string& id) const;
  Status program_task_locked(const std::string& id, LocalTask& t);
  Status attach_locked(const std::string& id, const std::vector<Attachment>& atts,
                       const std::vector<PortConfig>& host_ports);
  void reconcile_locked();
  Status apply_guard_locked();
  Status ensure_gateway_locked();
  Status make_network_locked(const session::NetworkInfo& n);
  // The `ip shoal-mesh` table: the routing mesh's ports while the view has
  // them, and the host-mode ports of the tasks here (node_mesh.cc).
  // `ingress_allowed` false: the routing mesh's part is not remade (the
  // VXLAN guard is not in place): what stands of it is kept, and the
  // host-mode ports are mapped in any case. The result is the host-mode
  // ports' (what attach_task reports); a failure of the mesh's part is
  // logged.
  Status program_mesh_locked(bool ingress_allowed = true);
  void take_mesh_down_locked();
  bool own_port(const PortConfig& p) const;  // Options::own_ports has it
  void unplug_mesh_locked();
  // The host-mode ports of the tasks here, to their gateway addresses,
  // leaving out (logged) those the mesh's `mesh_ports` hold.
  std::vector<netlb::PublishedPort> host_ports_locked(const std::vector<netlb::PublishedPort>& mesh_ports) const;
  // The gateway bridge's tables, letting in the DNATed connections to
  // `host_ports` (re-applied when they change).
  Status apply_gateway_table_locked(const std::vector<netlb::PublishedPort>& host_ports);
  // route_localnet on the gateway bridge (127.0.0.1:P of a host-mode port
  // is DNATed out of it): set while host-mode ports are mapped, after the
  // table's guards. Status of the last setting kept in localnet_gw_.
  void set_gateway_localnet_locked(bool on);
  void drop_gateway_if_unused_locked();
  Result<std::string> free_gateway_ip_locked() const;
  void load_tasks();

  const Options opts_;
  std::unique_ptr<netoverlay::Datapath> dp_;
  std::unique_ptr<netdns::Resolver> resolver_;
  mutable std::mutex mu_;
  std::condition_variable view_cv_;
  session::NetworkView view_;
  bool stopped_ = false;
  std::map<std::string, LocalTask> tasks_;  // attached or recovered
  std::map<std::string, std::string> made_;  // networks made since start -> their config and peers as made
  std::string guard_;                       // the VXLAN guard script applied; empty: none
  bool gateway_ready_ = false;              // bridge, tables and forwarding made since start
  // The bridge may exist: true from start (a previous run may have left it)
  // until its removal succeeded; set again when it is made.
  bool gateway_bridge_ = true;
  // The mesh script applied; empty: none; "(unknown)" until the first view
  // (a previous run may have left one: the first view without a mesh
  // removes it).
  std::string mesh_ = "(unknown)";
  std::string mesh_network_;  // the ingress network the node is plugged into for it
  std::string mesh_plug_;     // "<network> <address>" of that plug, as made
  netlb::MeshConfig last_mesh_;  // the mesh's ports and fence as last made (kept while it cannot be remade)
  // route_localnet as last set on the gateway bridge; unknown at start (a
  // previous run may have left it set), so the first program settles it.
  std::optional<bool> localnet_gw_;
  std::string gateway_script_;        // the gateway tables as applied; empty: none since start
  std::set<std::string> mapped_ips_;  // gateway addresses the applied mesh table maps host-mode ports to
};

}  // namespace shoal::netnode
