// Plugging a task into a bridge with a veth pair: shared by the overlay
// networks (the bridge br0 in a network's namespace) and the gateway bridge
// (in the node's namespace). Internal to the netoverlay component; callers
// hold the Datapath's mutex.
#pragma once

#include <string>

#include "agent/network/overlay/rtnl.h"
#include "common/result.h"

namespace shoal::netoverlay::detail {

struct Plug {
  rtnl::Socket* side = nullptr;  // the bridge's namespace: the host end lives there
  rtnl::Link bridge;
  std::string host_name;         // the host end's name ("ve-..." or "gw-...")
  rtnl::Socket* task = nullptr;  // the task's namespace
  int task_fd = -1;
  std::string task_id, netns_path, what;  // `what`: the bridge, for messages ("network X")
  std::string ifname, ip, mac;
  int prefix = 24;
  std::string gateway;  // non-empty: the task's default route goes via it
};

// Creates the pair (or re-applies MTU, master, MAC, address, up state and
// the default route to one already there). A host end whose task end is
// gone is made again; a task end without our host end is kAlreadyExists.
Status plug_veth(const Plug& p);

// Brings the namespace's loopback up (idempotent).
Status bring_up_lo(rtnl::Socket& s);

}  // namespace shoal::netoverlay::detail
