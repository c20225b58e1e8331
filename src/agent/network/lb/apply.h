// Applying nftables scripts (from ruleset.h) to the kernel with libnftables,
// inside a given network namespace.
//
// Namespaces: a non-empty `netns_path` (/run/netns/NAME, /proc/PID/ns/net)
// is joined by a short-lived thread made for the call (setns(2) changes the
// namespace of the calling thread only); the libnftables context, and with it
// its netlink socket, is created, used and freed on that thread, so the
// kernel sees the request from that namespace. The caller's thread never
// changes namespace. An empty path means the caller's own namespace.
//
// Atomicity: a script is one nft transaction: it applies whole or not at all
// (on error the previous ruleset stays). Conntrack entries, and so
// established flows and their NAT bindings, outlive rule changes: replacing
// a table keeps them (verified by kernel_test.cc). Removing the table does
// not, when nothing else in the namespace uses conntrack: the kernel then
// unregisters conntrack's hooks and NATed flows are no longer translated; to
// stop balancing but keep flows, apply an empty configuration instead.
//
// Flows to a backend that left the set stay on it until they end (UDP ones
// too, as long as the client keeps sending); dropping such conntrack entries
// is not done here yet.
//
// Thread-safe: calls are serialized process-wide, because libnftables keeps
// unsynchronized process-wide state (its one-time initialization).
#pragma once

#include <string>

#include "common/result.h"

namespace shoal::netlb {

// Runs `script` (nft syntax) as one transaction in the namespace. On
// failure the message holds nft's own error text.
Status apply_ruleset(const std::string& netns_path, const std::string& script);

// Deletes table `family` `name` (e.g. "ip", "shoal"); a missing table is ok.
Status remove_table(const std::string& netns_path, const std::string& family, const std::string& name);

// Whether table `family` `name` exists in the namespace.
Result<bool> table_exists(const std::string& netns_path, const std::string& family, const std::string& name);

// The table as nft lists it (`nft list table family name`: the kernel's
// view, in nft's own formatting, which differs from the script that made
// it). A missing table is an error (nft's message).
Result<std::string> list_table(const std::string& netns_path, const std::string& family, const std::string& name);

// The routing mesh needs, in the node's namespace: net.ipv4.ip_forward=1
// (traffic arriving for node:P is forwarded to a backend) and
// net.ipv4.conf.all.route_localnet=1 (127.0.0.1:P may be DNATed to a
// non-loopback address; the mesh table drops 127.0.0.0/8 arriving from
// outside, which this setting would otherwise let through). Sets both.
Status enable_mesh_sysctls(const std::string& netns_path);

// net.ipv4.ip_forward=1 in the namespace: what the gateway bridge needs for
// the tasks' traffic to leave through the node.
Status enable_forwarding(const std::string& netns_path);

// Writes a sysctl (path under /proc/sys, e.g.
// "net/ipv4/conf/shoal_ingress/route_localnet") in the namespace.
Status set_sysctl(const std::string& netns_path, const std::string& key, const std::string& value);

// Reads a sysctl (path under /proc/sys, e.g. "net/ipv4/ip_forward") in the
// namespace; the value without its trailing newline.
Result<std::string> read_sysctl(const std::string& netns_path, const std::string& key);

}  // namespace shoal::netlb
