#include "agent/network/dns/scope.h"

#include <algorithm>

namespace shoal::netdns {
namespace {

void add_ips(NameTable& t, const std::string& name, const std::vector<std::string>& ips) {
  std::vector<std::string>& out = t[normalize_name(name)];  // present even when ips is empty
  for (const std::string& ip : ips) {
    if (ip.empty()) continue;
    if (std::find(out.begin(), out.end(), ip) == out.end()) out.push_back(ip);
  }
}

}  // namespace

std::string normalize_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string out(name);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

Scope build_scope(const std::set<std::string>& task_networks, const std::vector<ServiceEntry>& services) {
  auto t = std::make_shared<NameTable>();
  for (const ServiceEntry& s : services) {
    if (s.name.empty()) continue;
    for (const auto& [net, att] : s.networks) {
      if (task_networks.count(net) == 0) continue;
      std::vector<std::string> by_name;
      if (s.dnsrr) {
        by_name = att.task_ips;
      } else if (!att.vip.empty()) {
        by_name.push_back(att.vip);
      }
      add_ips(*t, s.name, by_name);
      for (const std::string& alias : att.aliases) {
        if (!alias.empty()) add_ips(*t, alias, by_name);
      }
      add_ips(*t, "tasks." + s.name, att.task_ips);
    }
  }
  return t;
}

Scope make_scope(const NameTable& records) {
  auto t = std::make_shared<NameTable>();
  for (const auto& [name, ips] : records) add_ips(*t, name, ips);
  return t;
}

}  // namespace shoal::netdns
