// Allocator: gives tasks and services the network resources they need, on
// the leader, in memory, before the pass that creates or schedules them
// writes them (orchestrator/pipeline.h).
//
// Addresses: each overlay network's subnet (or its IP range) less its
// network, gateway and broadcast addresses. An address is in use while a
// service holds it as a VIP or a task whose observed state is not terminal
// holds it: the store is the truth, load() rebuilds the book from it each
// pass, so nothing leaks when a leader dies mid-pass and no two live
// endpoints share an address. A task's address stays in use until the task
// is known to have stopped, even when its service is removed or its node
// is down (its container may still run there): the orchestrator deletes
// such a task only once it stopped, and takes it for orphaned (a terminal
// state) only when its node is removed or has been down for 24 hours
// (orchestrator/replicated.h, kOrphanTimeout). Within a network addresses
// are handed out round robin from a cursor (kept across passes while this
// manager leads; a new leader's starts past the highest address in use),
// so a freed address is not reused at once: stale ARP and conntrack entries
// on other nodes expire first.
//
// A task that cannot get an address (the network is full, or gone) stays
// pending with the reason in its status and is not scheduled; each pass
// tries again. Not thread-safe: owned by the leader's pipeline thread.
#pragma once

#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "common/ipv4.h"
#include "model/objects.h"
#include "store/store.h"

namespace shoal::allocator {

class Allocator {
 public:
  // Rebuilds the networks and the addresses in use from `snap`. A network
  // seen for the first time gets its cursor past its highest address in use.
  void load(const StoreSnapshot& snap);

  // Moves new tasks to pending, attaching each to its networks (its spec's,
  // and the ingress network when `publishes_ingress` names its service) with
  // an address on each. Returns the tasks ready to be scheduled: pending,
  // every address allocated. The others keep (or get) the reason they wait.
  std::vector<Task*> allocate(std::vector<Task*>& tasks, const std::unordered_set<std::string>& publishes_ingress,
                              SysTime now);

  // Brings s.virtual_ips in line with its spec (endpoint mode vip: one per
  // attached network, plus ingress when a port is published in ingress
  // mode; dnsrr: none), keeping the addresses it already has. True when it
  // changed. A network without a free address is skipped (retried next pass).
  bool plan_vips(Service& s);

  // Gives the node an address on the ingress network (Node::ingress_addr)
  // when it has none, keeping one it has. True when it changed; false also
  // when there is no ingress network or no free address (retried next pass).
  bool plan_node_ingress(Node& n);

  // The id of the swarm's ingress network; empty when there is none.
  const std::string& ingress_id() const { return ingress_id_; }

 private:
  struct Pool {
    Network network;
    ipv4::Cidr subnet;
    ipv4::Cidr range;  // addresses come from here (the subnet unless IPRange)
    uint32_t gateway = 0;
    std::unordered_set<uint32_t> used;
  };
  // An address on `network_id` ("10.0.1.5/24"), or the reason there is none.
  Result<std::string> take(const std::string& network_id);
  void give_back(const std::string& network_id, const std::string& addr);
  void mark_used(const std::string& network_id, const std::string& addr);
  bool attach(Task& t, bool with_ingress);

  std::unordered_map<std::string, Pool> pools_;
  std::unordered_map<std::string, uint32_t> cursor_;  // network id -> next offset to try
  std::string ingress_id_;
};

// True when the service publishes a port in ingress mode (the routing mesh).
bool publishes_ingress(const ServiceSpec& s);

}  // namespace shoal::allocator
