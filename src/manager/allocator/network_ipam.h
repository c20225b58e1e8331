// Network-level IPAM: the subnets and VXLAN id of a new overlay network.
//
// A requested subnet (IPAM.Config) is checked (a canonical IPv4 CIDR from
// /16 to /24, as the store reserves address space in whole /24 blocks; its
// gateway and IP range inside it) and must not overlap any
// existing network's; without one, the first /subnet_size of the swarm's
// default address pools (Docker: 10.0.0.0/8 in /24s) that overlaps none is
// taken. VNIs are the lowest free from 4096 (Docker's overlay range). This
// is planning over a snapshot of the existing networks: the store's
// reservations (Batch::create(Network)) make it atomic, so two managers that
// plan the same subnet concurrently cannot both create it. Pure, thread-safe.
#pragma once

#include <vector>

#include "common/ipv4.h"
#include "common/result.h"
#include "model/objects.h"

namespace shoal::allocator {

inline constexpr uint32_t kFirstVni = 4096;
inline constexpr uint32_t kLastVni = (1u << 24) - 1;

// The allocated IPAM.Config of a network created with `spec` next to
// `existing`, drawing from `pools` in /subnet_size blocks when the spec names
// no subnet. Errors: kInvalidArgument (a bad subnet, gateway or range; with
// what to fix), kAlreadyExists (overlap: names the other network),
// kFailedPrecondition (the pools are full).
Result<std::vector<IpamConfig>> plan_subnets(const NetworkSpec& spec, const std::vector<Network>& existing,
                                             const std::vector<std::string>& pools, uint32_t subnet_size);

// kInvalidArgument when `c` overlaps address space no overlay may use:
// 0.0.0.0/8, loopback 127.0.0.0/8 (the resolver listens on 127.0.0.11),
// link-local 169.254.0.0/16, multicast and reserved 224.0.0.0/3. `what`
// names the field in the message.
Status check_usable(const ipv4::Cidr& c, const std::string& what);

// The lowest VNI from kFirstVni no network in `existing` has.
Result<uint32_t> plan_vni(const std::vector<Network>& existing);

}  // namespace shoal::allocator
