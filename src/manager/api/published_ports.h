// Published ports (EndpointSpec.Ports -> Service::endpoint_ports), assigned
// by the manager that takes a service create or update, as Docker's
// allocator does:
//   - an ingress-mode port given a number keeps it, unless another service
//     publishes that protocol/port through the mesh: refused (400) with
//     Docker's message, before anything is written;
//   - an ingress-mode port without one gets the number it had before
//     (an update keeps what clients already use), else the lowest free one
//     of 30000-32767 for its protocol;
//   - the swarm's own ports (2377/tcp, 2379-2380/tcp, 4789/udp) are refused
//     (400): the mesh would take them over on every node (each node also
//     leaves out of its mesh the ports it serves itself, node_mesh.cc);
//   - host-mode ports are the node's business: kept as given.
// Planned on the cache; two managers planning the same port at the same
// moment are settled by the store (its /shoal-ports reservations, store.h):
// one commit fails with the same message. Pure over the store's cache;
// thread-safe as the Store is.
#pragma once

#include "common/result.h"
#include "model/objects.h"
#include "store/store.h"

namespace shoal::api {

inline constexpr uint32_t kFirstDynamicPort = 30000;
inline constexpr uint32_t kLastDynamicPort = 32767;

// Sets next.endpoint_ports from next.spec.endpoint_spec.ports. `old`: the
// service as stored before an update (nullptr for a create); next.id must be
// set (ports the service holds itself are not conflicts).
Status assign_published_ports(const Store& store, const Service* old, Service& next);

}  // namespace shoal::api
