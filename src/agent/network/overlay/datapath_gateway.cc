// Datapath's gateway bridge (datapath.h: GatewayConfig): the node-namespace
// half of the way out for tasks on non-internal networks.
#include "agent/network/overlay/datapath.h"

#include <fcntl.h>
#include <net/if.h>
#include <unistd.h>

#include <cctype>

#include "agent/network/overlay/plug.h"
#include "agent/network/overlay/rtnl.h"
#include "common/ipv4.h"

namespace shoal::netoverlay {

namespace {

bool has_prefix(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

}  // namespace

std::string Datapath::gateway_veth_name(const std::string& task_id) { return "gw-" + task_id.substr(0, kTaskIdChars); }

Result<std::pair<std::string, int>> Datapath::gateway_address() const {
  const GatewayConfig& g = opts_.gateway;
  auto subnet = ipv4::parse_cidr(g.subnet);
  if (!subnet.ok()) return subnet.status().with_context("netoverlay: the gateway subnet");
  if (subnet->prefix < 8 || subnet->prefix > 30)
    return invalid_argument("netoverlay: the gateway subnet " + g.subnet + " must be a /8 to /30");
  return std::make_pair(ipv4::format(subnet->base + 1), subnet->prefix);
}

Status Datapath::ensure_gateway() {
  const GatewayConfig& g = opts_.gateway;
  if (g.bridge.empty() || g.bridge.size() >= IFNAMSIZ || g.bridge.find_first_of("/ \t\n:") != std::string::npos)
    return invalid_argument("netoverlay: \"" + g.bridge + "\" is not a valid bridge name");
  if (g.mtu < 68 || g.mtu > 65535) return invalid_argument("netoverlay: gateway MTU outside 68..65535");
  SHOAL_ASSIGN_OR_RETURN(auto addr, gateway_address());
  std::lock_guard lock(mu_);
  SHOAL_ASSIGN_OR_RETURN(rtnl::Socket node, rtnl::Socket::open_in(node_ns_.get(), "the node's network namespace"));
  SHOAL_ASSIGN_OR_RETURN(auto br, rtnl::get_link(node, g.bridge));
  if (br && br->kind != "bridge")
    return failed_precondition("the node has a device " + g.bridge + " of kind \"" + br->kind +
                               "\" under the gateway bridge's name: remove or rename it");
  if (!br) {
    SHOAL_RETURN_IF_ERROR(rtnl::add_bridge(node, g.bridge, g.mtu));
    SHOAL_ASSIGN_OR_RETURN(br, rtnl::get_link(node, g.bridge));
    if (!br) return internal_error(g.bridge + " vanished right after it was created in " + node.where());
  }
  // No IPv6 on the bridge, before it is up: a task's router advertisement
  // must not give the node an address or a route (CVE-2020-13401).
  SHOAL_RETURN_IF_ERROR(run_in_netns_thread(node_ns_.get(), "the node", [&] {
    std::string path = "/proc/sys/net/ipv6/conf/" + g.bridge + "/disable_ipv6";
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? ok_status() : errno_status("opening " + path, errno);  // no IPv6 at all
    ssize_t n = ::write(fd, "1", 1);
    int err = errno;
    ::close(fd);
    return n == 1 ? ok_status() : errno_status("writing " + path, err);
  }));
  rtnl::LinkChange c;
  c.mtu = g.mtu;
  c.up = true;
  SHOAL_RETURN_IF_ERROR(rtnl::change_link(node, *br, c));
  return rtnl::add_address(node, *br, addr.first, addr.second);
}

Status Datapath::attach_gateway(const LocalEndpoint& e) {
  if (e.task_id.size() < kTaskIdChars) return invalid_argument("task id \"" + e.task_id + "\" is too short");
  for (char ch : e.task_id)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-' && ch != '.')
      return invalid_argument("task id \"" + e.task_id + "\" has characters outside [A-Za-z0-9_.-]");
  if (e.ifname.empty() || e.ifname.size() >= IFNAMSIZ || e.ifname.find_first_of("/ \t\n:") != std::string::npos)
    return invalid_argument("task " + e.task_id + ": \"" + e.ifname + "\" is not a valid interface name");
  SHOAL_ASSIGN_OR_RETURN(auto addr, gateway_address());
  auto subnet = ipv4::parse_cidr(opts_.gateway.subnet);
  auto ip = ipv4::parse_addr(e.ip);
  if (!ip.ok()) return ip.status().with_context("task " + e.task_id + ": gateway address");
  if (!ipv4::contains(*subnet, *ip) || *ip <= subnet->base + 1 || *ip >= ipv4::last(*subnet))
    return invalid_argument("task " + e.task_id + ": " + e.ip + " is not a task address of the gateway subnet " +
                            opts_.gateway.subnet);
  std::string mac = e.mac.empty() ? mac_for_ip(e.ip) : e.mac;

  std::lock_guard lock(mu_);
  SHOAL_ASSIGN_OR_RETURN(rtnl::Socket node, rtnl::Socket::open_in(node_ns_.get(), "the node's network namespace"));
  SHOAL_ASSIGN_OR_RETURN(auto br, rtnl::get_link(node, opts_.gateway.bridge));
  if (!br || br->kind != "bridge")
    return failed_precondition("the gateway bridge " + opts_.gateway.bridge + " is not there: ensure_gateway first");
  SHOAL_ASSIGN_OR_RETURN(UniqueFd task_fd, open_netns(e.netns_path, "task " + e.task_id));
  const std::string task_where = "the namespace of task " + e.task_id + " (" + e.netns_path + ")";
  SHOAL_ASSIGN_OR_RETURN(rtnl::Socket task, rtnl::Socket::open_in(task_fd.get(), task_where));
  detail::Plug p;
  p.side = &node;
  p.bridge = *br;
  p.host_name = gateway_veth_name(e.task_id);
  p.task = &task;
  p.task_fd = task_fd.get();
  p.task_id = e.task_id;
  p.netns_path = e.netns_path;
  p.what = "the gateway bridge " + opts_.gateway.bridge;
  p.ifname = e.ifname;
  p.ip = e.ip;
  p.mac = mac;
  p.prefix = addr.second;
  p.gateway = addr.first;
  SHOAL_RETURN_IF_ERROR(detail::plug_veth(p));
  // The node's ARP entry for the task is permanent: another task cannot
  // claim its address and take its replies.
  return rtnl::replace_neigh(node, *br, {e.ip, mac});
}

Status Datapath::detach_gateway(const std::string& task_id, const std::string& ip) {
  if (task_id.size() < kTaskIdChars) return ok_status();
  std::lock_guard lock(mu_);
  SHOAL_ASSIGN_OR_RETURN(rtnl::Socket node, rtnl::Socket::open_in(node_ns_.get(), "the node's network namespace"));
  const std::string name = gateway_veth_name(task_id);
  SHOAL_ASSIGN_OR_RETURN(auto host, rtnl::get_link(node, name));
  SHOAL_ASSIGN_OR_RETURN(auto br, rtnl::get_link(node, opts_.gateway.bridge));
  if (br && br->kind == "bridge" && ipv4::parse_addr(ip).ok())
    SHOAL_RETURN_IF_ERROR(rtnl::delete_neigh(node, *br, {ip, mac_for_ip(ip)}));
  // Only our veth: one plugged into the gateway bridge.
  if (!host || host->kind != "veth" || !br || host->master != br->index) return ok_status();
  return rtnl::delete_link(node, host->index, name);  // the task's end goes with it
}

Status Datapath::remove_gateway() {
  std::lock_guard lock(mu_);
  SHOAL_ASSIGN_OR_RETURN(rtnl::Socket node, rtnl::Socket::open_in(node_ns_.get(), "the node's network namespace"));
  SHOAL_ASSIGN_OR_RETURN(auto br, rtnl::get_link(node, opts_.gateway.bridge));
  if (!br || br->kind != "bridge") return ok_status();
  SHOAL_ASSIGN_OR_RETURN(auto links, rtnl::list_links(node));
  for (const auto& l : links)
    if (l.master == br->index && l.kind == "veth" && has_prefix(l.name, "gw-"))
      SHOAL_RETURN_IF_ERROR(rtnl::delete_link(node, l.index, l.name));
  return rtnl::delete_link(node, br->index, opts_.gateway.bridge);
}

}  // namespace shoal::netoverlay
