#include "manager/allocator/network_ipam.h"

#include <set>

#include "common/ipv4.h"

namespace shoal::allocator {

namespace {

constexpr int kMinPrefix = 16;  // the store reserves address space in /24 blocks: at most 256 per network
constexpr int kMaxPrefix = 24;  // ... and whole blocks: two networks never share one /24

struct Taken {
  ipv4::Cidr cidr;
  const Network* owner;
};

std::vector<Taken> taken_subnets(const std::vector<Network>& existing) {
  std::vector<Taken> out;
  for (const auto& n : existing) {
    for (const auto& c : n.ipam) {
      auto cidr = ipv4::parse_cidr(c.subnet);
      if (cidr.ok()) out.push_back({*cidr, &n});
    }
  }
  return out;
}

const Taken* overlapping(const std::vector<Taken>& taken, const ipv4::Cidr& c) {
  for (const auto& t : taken) {
    if (ipv4::overlaps(t.cidr, c)) return &t;
  }
  return nullptr;
}

// A requested IPAM.Config entry, completed (gateway) and checked.
Result<IpamConfig> check_requested(const IpamConfig& want, const std::vector<Taken>& taken) {
  if (want.subnet.empty()) {
    if (!want.ip_range.empty() || !want.gateway.empty()) {
      return invalid_argument("IPAM.Config: an IP range or gateway needs a subnet (--subnet)");
    }
    return invalid_argument("IPAM.Config: an entry needs a Subnet");
  }
  SHOAL_ASSIGN_OR_RETURN(ipv4::Cidr subnet, ipv4::parse_cidr(want.subnet));
  SHOAL_RETURN_IF_ERROR(check_usable(subnet, "subnet"));
  if (subnet.prefix < kMinPrefix || subnet.prefix > kMaxPrefix) {
    return invalid_argument("subnet " + want.subnet + ": overlay subnets are /" + std::to_string(kMinPrefix) + " to /" +
                            std::to_string(kMaxPrefix) + "; give a prefix length in that range");
  }
  uint32_t first = subnet.base + 1, broadcast = ipv4::last(subnet);
  IpamConfig out{ipv4::format(subnet), "", ""};
  if (!want.gateway.empty()) {
    SHOAL_ASSIGN_OR_RETURN(uint32_t gw, ipv4::parse_addr(want.gateway));
    if (!ipv4::contains(subnet, gw) || gw == subnet.base || gw == broadcast) {
      return invalid_argument("gateway " + want.gateway + " is not a usable address of subnet " + out.subnet +
                              " (" + ipv4::format(first) + " to " + ipv4::format(broadcast - 1) + ")");
    }
    out.gateway = ipv4::format(gw);
  } else {
    out.gateway = ipv4::format(first);
  }
  if (!want.ip_range.empty()) {
    SHOAL_ASSIGN_OR_RETURN(ipv4::Cidr range, ipv4::parse_cidr(want.ip_range));
    if (!ipv4::contains(subnet, range)) {
      return invalid_argument("IP range " + want.ip_range + " is not inside subnet " + out.subnet);
    }
    out.ip_range = ipv4::format(range);
  }
  if (const Taken* t = overlapping(taken, subnet)) {
    return already_exists("subnet " + out.subnet + " overlaps subnet " + ipv4::format(t->cidr) + " of network " +
                          t->owner->spec.name + "; choose another subnet, or leave --subnet out to get a free one");
  }
  return out;
}

}  // namespace

Status check_usable(const ipv4::Cidr& c, const std::string& what) {
  static const std::pair<const char*, const char*> kUnusable[] = {{"0.0.0.0/8", "\"this network\""},
                                                                   {"127.0.0.0/8", "loopback"},
                                                                   {"169.254.0.0/16", "link-local"},
                                                                   {"224.0.0.0/3", "multicast and reserved"}};
  for (const auto& [cidr, name] : kUnusable) {
    if (ipv4::overlaps(c, *ipv4::parse_cidr(cidr))) {
      return invalid_argument(what + " " + ipv4::format(c) + " overlaps " + cidr + " (" + name +
                              " addresses), which overlay networks cannot use; choose a private range such as 10.0.0.0/8");
    }
  }
  return ok_status();
}

Result<std::vector<IpamConfig>> plan_subnets(const NetworkSpec& spec, const std::vector<Network>& existing,
                                             const std::vector<std::string>& pools, uint32_t subnet_size) {
  std::vector<Taken> taken = taken_subnets(existing);
  std::vector<IpamConfig> out;
  if (!spec.ipam.empty()) {
    for (const auto& want : spec.ipam) {
      SHOAL_ASSIGN_OR_RETURN(IpamConfig c, check_requested(want, taken));
      // Entries of one request must not overlap each other either.
      auto cidr = *ipv4::parse_cidr(c.subnet);
      for (const auto& prev : out) {
        if (ipv4::overlaps(*ipv4::parse_cidr(prev.subnet), cidr)) {
          return invalid_argument("subnets " + prev.subnet + " and " + c.subnet + " of this request overlap");
        }
      }
      out.push_back(std::move(c));
    }
    return out;
  }
  int size = static_cast<int>(subnet_size);
  for (const auto& p : pools) {
    auto pool = ipv4::parse_cidr(p);
    if (!pool.ok() || size < pool->prefix || size > 32) continue;
    uint64_t count = uint64_t{1} << (size - pool->prefix);
    uint64_t step = uint64_t{1} << (32 - size);
    for (uint64_t i = 0; i < count; ++i) {
      ipv4::Cidr c{pool->base + static_cast<uint32_t>(i * step), size};
      if (const Taken* t = overlapping(taken, c)) {
        // Skip past the taken subnet in one step (a /16 inside a /8 pool).
        uint64_t next = (uint64_t{ipv4::last(t->cidr)} + 1 - pool->base + step - 1) / step;
        if (next > i) i = next - 1;
        continue;
      }
      return std::vector<IpamConfig>{{ipv4::format(c), "", ipv4::format(c.base + 1)}};
    }
  }
  return failed_precondition("no free /" + std::to_string(subnet_size) +
                             " subnet is left in the default address pool; remove unused networks, or give --subnet");
}

Result<uint32_t> plan_vni(const std::vector<Network>& existing) {
  std::set<uint32_t> used;
  for (const auto& n : existing) used.insert(n.vni);
  for (uint32_t v = kFirstVni; v <= kLastVni; ++v) {
    if (!used.count(v)) return v;
  }
  return failed_precondition("every VXLAN id is in use; remove unused networks");
}

}  // namespace shoal::allocator
