#include "agent/network/lb/apply.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <nftables/libnftables.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <mutex>

#include "os/netns_file.h"

namespace shoal::netlb {

namespace {

// libnftables' nft_ctx_new() runs a one-time global initialization guarded
// by a plain static flag; serialize every use of the library.
std::mutex& nft_mutex() {
  static std::mutex m;
  return m;
}

std::string trimmed(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
  return out;
}

// Runs `script` with a libnftables context made on the calling thread (and
// so in its namespace). `output`, when given, receives nft's output.
Status run_nft(const std::string& script, std::string* output) {
  // libnftables exit()s the whole process when it cannot open its netlink
  // socket; find out first, with a socket of our own, and fail gracefully.
  int probe = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (probe < 0) return errno_status("opening a netfilter netlink socket", errno);
  ::close(probe);
  std::lock_guard lock(nft_mutex());
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (!ctx) return internal_error("nft_ctx_new failed");
  nft_ctx_buffer_output(ctx);
  nft_ctx_buffer_error(ctx);
  int rc = nft_run_cmd_from_buffer(ctx, script.c_str());
  Status st;
  if (rc != 0) {
    std::string err = trimmed(nft_ctx_get_error_buffer(ctx));
    st = internal_error("nft: " + (err.empty() ? std::string("failed without a message") : err));
  } else if (output) {
    *output = nft_ctx_get_output_buffer(ctx);
  }
  nft_ctx_free(ctx);
  return st;
}

Status check_table_name(const std::string& family, const std::string& name) {
  static const char* kFamilies[] = {"ip", "ip6", "inet", "arp", "bridge", "netdev"};
  bool known = false;
  for (const char* f : kFamilies) known = known || family == f;
  if (!known) return invalid_argument("nftables family \"" + family + "\" is not one of ip ip6 inet arp bridge netdev");
  bool ok = !name.empty() && name.size() <= 64 && std::isalpha(static_cast<unsigned char>(name[0]));
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
  if (!ok) return invalid_argument("nftables table name must be a letter then letters, digits, - or _ (up to 64)");
  return ok_status();
}

Status write_sysctl(const std::string& key, const std::string& value) {
  std::string path = "/proc/sys/" + key;
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno_status("opening " + path, errno);
  ssize_t n;
  do n = ::write(fd, value.data(), value.size());
  while (n < 0 && errno == EINTR);
  int e = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) return errno_status("writing " + path, n < 0 ? e : EIO);
  return ok_status();
}

}  // namespace

Status apply_ruleset(const std::string& netns_path, const std::string& script) {
  Status st = os::call_in_netns(netns_path, [&] { return run_nft(script, nullptr); });
  return netns_path.empty() ? st : st.with_context("in " + netns_path);
}

Status remove_table(const std::string& netns_path, const std::string& family, const std::string& name) {
  SHOAL_RETURN_IF_ERROR(check_table_name(family, name));
  // Create-then-delete in one transaction: deleting a missing table is ok.
  const std::string t = family + " " + name;
  return apply_ruleset(netns_path, "table " + t + " {}\ndelete table " + t + "\n");
}

Result<bool> table_exists(const std::string& netns_path, const std::string& family, const std::string& name) {
  SHOAL_RETURN_IF_ERROR(check_table_name(family, name));
  std::string out;
  Status st = os::call_in_netns(netns_path, [&] { return run_nft("list tables " + family, &out); });
  if (!st.ok()) return st;
  const std::string line = "table " + family + " " + name + "\n";
  return out.find(line) == 0 || out.find("\n" + line) != std::string::npos;
}

Result<std::string> list_table(const std::string& netns_path, const std::string& family, const std::string& name) {
  SHOAL_RETURN_IF_ERROR(check_table_name(family, name));
  std::string out;
  Status st = os::call_in_netns(netns_path, [&] { return run_nft("list table " + family + " " + name, &out); });
  if (!st.ok()) return netns_path.empty() ? st : st.with_context("in " + netns_path);
  return out;
}

Status enable_mesh_sysctls(const std::string& netns_path) {
  return os::call_in_netns(netns_path, [] {
    SHOAL_RETURN_IF_ERROR(write_sysctl("net/ipv4/ip_forward", "1"));
    return write_sysctl("net/ipv4/conf/all/route_localnet", "1");
  });
}

Status set_sysctl(const std::string& netns_path, const std::string& key, const std::string& value) {
  if (key.empty() || key.find("..") != std::string::npos || key[0] == '/')
    return invalid_argument("sysctl key \"" + key + "\" must be a relative path like net/ipv4/ip_forward");
  return os::call_in_netns(netns_path, [&] { return write_sysctl(key, value); });
}

Status enable_forwarding(const std::string& netns_path) {
  return os::call_in_netns(netns_path, [] { return write_sysctl("net/ipv4/ip_forward", "1"); });
}

Result<std::string> read_sysctl(const std::string& netns_path, const std::string& key) {
  if (key.empty() || key.find("..") != std::string::npos || key[0] == '/')
    return invalid_argument("sysctl key \"" + key + "\" must be a relative path like net/ipv4/ip_forward");
  std::string value;
  Status st = os::call_in_netns(netns_path, [&] {
    std::string path = "/proc/sys/" + key;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_status("opening " + path, errno);
    char buf[256];
    ssize_t n;
    do n = ::read(fd, buf, sizeof buf);
    while (n < 0 && errno == EINTR);
    int e = errno;
    ::close(fd);
    if (n < 0) return errno_status("reading " + path, e);
    value = trimmed(std::string(buf, n).c_str());
    return ok_status();
  });
  if (!st.ok()) return st;
  return value;
}

}  // namespace shoal::netlb
