// The names one asking task can resolve through the embedded DNS, and how
// the agent builds them from what it knows about services.
//
// A Scope is an immutable table: lower-case name without trailing dot ->
// IPv4 addresses (dotted quads) in the order they are stored; the resolver
// rotates them per query. A name present with no address is still ours: it
// is answered NOERROR with no record (e.g. tasks.x while x has no running
// task), never forwarded upstream. The agent rebuilds a task's scope
// whenever a service, task or network it can see changes and hands it to
// Resolver::set_scope. Pure functions; a Scope is shared between threads
// read-only (thread-safe because nothing writes it after build).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace shoal::netdns {

using NameTable = std::unordered_map<std::string, std::vector<std::string>>;
using Scope = std::shared_ptr<const NameTable>;

// One service as seen on one network it is attached to.
struct ServiceNetwork {
  std::string vip;                    // endpoint mode vip; empty for dnsrr
  std::vector<std::string> task_ips;  // its running tasks' addresses on this network
  std::vector<std::string> aliases;   // network aliases of the service on this network
};

struct ServiceEntry {
  std::string name;
  bool dnsrr = false;  // endpoint mode dnsrr: the name resolves to task IPs, no VIP
  std::map<std::string, ServiceNetwork> networks;  // network id -> attachment
};

// "Web.Example." -> "web.example": lower-case ASCII, one trailing dot dropped.
std::string normalize_name(std::string_view name);

// The scope of a task attached to `task_networks`: for every service sharing
// at least one of those networks, on each shared network,
//   <name> and each alias -> the VIP (vip mode) or the task IPs (dnsrr);
//   tasks.<name>          -> the task IPs.
// Addresses from several shared networks are merged, duplicates dropped,
// first-seen order kept (networks in id order, then the lists' order).
Scope build_scope(const std::set<std::string>& task_networks, const std::vector<ServiceEntry>& services);

// A scope from a literal table (names normalized, duplicates merged); for
// callers that compute the records themselves, and for tests.
Scope make_scope(const NameTable& records);

}  // namespace shoal::netdns
