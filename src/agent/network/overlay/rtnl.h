// A thin layer over libnl-route-3 for what the overlay datapath needs:
// links (bridge, VXLAN, veth), IPv4 addresses, a default route, VXLAN FDB
// entries and neighbour entries. Plain structs in, plain structs out; libnl
// objects never leave rtnl.cc.
//
// Every call works in the network namespace its Socket was opened in, and
// every error says what was being done, to which device, in which namespace
// (the Socket's `where`), and libnl's reason.
//
// Internal to the netoverlay component. A Socket is not thread-safe (one
// user at a time); different Sockets are independent.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

struct nl_sock;

namespace shoal::netoverlay::rtnl {

// A NETLINK_ROUTE socket bound to one network namespace.
class Socket {
 public:
  // Opens the socket from a helper thread that joined `ns_fd`; `where`
  // names the namespace in every error of calls on this socket.
  static Result<Socket> open_in(int ns_fd, const std::string& where);

  Socket(Socket&&) noexcept;
  Socket& operator=(Socket&&) noexcept;
  ~Socket();

  nl_sock* get() const { return sk_; }
  const std::string& where() const { return where_; }

 private:
  Socket(nl_sock* sk, std::string where) : sk_(sk), where_(std::move(where)) {}
  nl_sock* sk_ = nullptr;
  std::string where_;
};

struct Link {
  int index = 0;
  std::string name;
  std::string kind;   // "bridge", "vxlan", "veth", "" (loopback, ...)
  unsigned flags = 0;  // IFF_*
  unsigned mtu = 0;
  int master = 0;      // ifindex of the bridge it is a port of, 0: none
  std::string mac;     // "02:42:0a:00:00:02"
  // Only for kind == "vxlan":
  uint32_t vni = 0;
  uint16_t port = 0;
  std::string local;  // underlay source address
};

// The link called `name`; nullopt when there is none.
Result<std::optional<Link>> get_link(Socket& s, const std::string& name);
Result<std::vector<Link>> list_links(Socket& s);

// What to change on an existing link; unset fields are left alone.
struct LinkChange {
  std::optional<std::string> name;  // rename (the link must be down)
  std::optional<unsigned> mtu;
  std::optional<int> master;        // enslave to this bridge ifindex
  std::optional<std::string> mac;
  bool up = false;                  // set IFF_UP
  int ns_fd = -1;                   // move to this network namespace
};
Status change_link(Socket& s, const Link& link, const LinkChange& c);
// Deletes the link with this index (`name` is for messages). Already gone: ok.
Status delete_link(Socket& s, int index, const std::string& name);

Status add_bridge(Socket& s, const std::string& name, unsigned mtu);

struct VxlanSpec {
  std::string name;
  uint32_t vni = 0;
  std::string local;  // underlay IPv4: the source of encapsulated packets
  uint16_t port = 4789;
  unsigned mtu = 1450;
};
// Learning off, ARP proxy on (ARP requests for IPs in the device's
// neighbour table are answered locally), no l2miss/l3miss notifications.
Status add_vxlan(Socket& s, const VxlanSpec& v);

struct VethSpec {
  std::string name;       // this end, created in the Socket's namespace
  unsigned mtu = 1450;
  std::string peer_name;  // the other end, created in `peer_ns_fd`
  std::string peer_mac;
  int peer_ns_fd = -1;
};
Status add_veth(Socket& s, const VethSpec& v);

// Adds ip/prefix to the link; already there: ok.
Status add_address(Socket& s, const Link& link, const std::string& ip, int prefix);
// The IPv4 addresses on the link, as "ip/prefix".
Result<std::vector<std::string>> list_addresses(Socket& s, int ifindex);
// Creates or replaces the main table's IPv4 default route: via `gateway` on `link`.
Status replace_default_route(Socket& s, const Link& link, const std::string& gateway);

// A VXLAN FDB entry (bridge fdb ... self permanent): frames to `mac` go to
// the VTEP `dst`.
struct FdbEntry {
  std::string mac;
  std::string dst;
  bool operator==(const FdbEntry&) const = default;
};
// A permanent IPv4 neighbour entry: `ip` is at `mac`.
struct NeighEntry {
  std::string ip;
  std::string mac;
  bool operator==(const NeighEntry&) const = default;
};
// The device's own FDB entries that have a remote destination.
Result<std::vector<FdbEntry>> list_fdb(Socket& s, int ifindex);
// The device's permanent IPv4 neighbour entries.
Result<std::vector<NeighEntry>> list_neigh(Socket& s, int ifindex);
Status replace_fdb(Socket& s, const Link& link, const FdbEntry& e);
Status delete_fdb(Socket& s, const Link& link, const FdbEntry& e);  // missing: ok
Status replace_neigh(Socket& s, const Link& link, const NeighEntry& e);
Status delete_neigh(Socket& s, const Link& link, const NeighEntry& e);  // missing: ok

// "aa:bb:cc:dd:ee:ff" (any case) -> 6 bytes; false when malformed.
bool parse_mac(const std::string& s, unsigned char out[6]);

}  // namespace shoal::netoverlay::rtnl
