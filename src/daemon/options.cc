#include "daemon/options.h"

#include <arpa/inet.h>

namespace shoal::daemon {

namespace {

// A tcp:// listen address on loopback, in the form the HTTP server binds:
// "localhost" becomes 127.0.0.1 (loopback only, never what a resolver might
// answer), an IPv6 address keeps its brackets ("tcp://[::1]:2375"). Empty if
// the host is not loopback; an error if the address is malformed.
Result<std::string> loopback_tcp(const std::string& addr) {
  std::string hp = addr.substr(6);  // after "tcp://"
  std::string host, port;
  bool v6 = !hp.empty() && hp[0] == '[';
  if (v6) {
    auto close = hp.find(']');
    if (close == std::string::npos || close + 1 >= hp.size() || hp[close + 1] != ':') {
      return invalid_argument("invalid listen address " + addr + ": write an IPv6 address as tcp://[::1]:PORT");
    }
    host = hp.substr(1, close - 1);
    port = hp.substr(close + 2);
  } else {
    auto colon = hp.rfind(':');
    if (colon == std::string::npos) return invalid_argument("listen address " + addr + " needs a port: tcp://HOST:PORT");
    host = hp.substr(0, colon);
    port = hp.substr(colon + 1);
  }
  bool port_ok = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos &&
                 std::stoi(port) <= 65535;
  if (!port_ok) return invalid_argument("invalid port in listen address " + addr + ": a port is 0-65535");
  if (host == "localhost") return "tcp://127.0.0.1:" + port;
  in_addr a4;
  if (!v6 && inet_pton(AF_INET, host.c_str(), &a4) == 1) {
    return (ntohl(a4.s_addr) >> 24) == 127 ? addr : std::string();
  }
  in6_addr a6;
  if (v6 && inet_pton(AF_INET6, host.c_str(), &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6) ? addr : std::string();
  return std::string();
}

}  // namespace

std::string daemon_usage() {
  return R"(Usage:  shoald [OPTIONS]

The shoal node daemon: serves the Docker Engine API (v1.41) and runs this
node's share of the swarm.

Options:
  -H, --host list               API socket(s) to listen on (default unix:///run/shoal/shoal.sock);
                                tcp://HOST:PORT is accepted on loopback addresses only (127.0.0.0/8,
                                ::1, localhost): serving the API over TLS with client certificates
                                (--tlsverify) is not implemented yet
      --data-root string        Root of persistent state (default "/var/lib/shoal")
      --etcd-client-port int    Port of this manager's etcd member for clients (default 2379)
      --etcd-peer-port int      Port of this manager's etcd member for peers (default 2380)
      --advertise-addr string   Address other nodes reach this node at (default 127.0.0.1)
      --insecure-registry list  Registry to pull from over plain http: HOST[:PORT] or an IPv4 CIDR
                                (loopback registries always are; every other one is https)
      --registry-certs-dir string  Per-registry TLS files (default "/etc/shoal/certs.d"):
                                DIR/HOST[:PORT]/ca.crt is trusted for that registry besides the
                                system CAs, client.cert and client.key are its client certificate;
                                a registry with such a directory is always reached over https
  -l, --log-level string        debug, info, warn or error (default "info")
  -h, --help                    Print usage
)";
}

Result<DaemonOptions> parse_daemon_options(const std::vector<std::string>& args) {
  DaemonOptions o;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    std::string value;
    bool has_value = false;
    if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_value = true;
    }
    auto take = [&](const std::string& flag) -> Result<std::string> {
      if (has_value) return value;
      if (i + 1 >= args.size()) return invalid_argument("flag needs an argument: " + flag);
      return args[++i];
    };
    auto take_port = [&](const std::string& flag) -> Result<int> {
      SHOAL_ASSIGN_OR_RETURN(std::string v, take(flag));
      try {
        size_t pos = 0;
        int p = std::stoi(v, &pos);
        if (pos == v.size() && p > 0 && p < 65536) return p;
      } catch (...) {
      }
      return invalid_argument("invalid value \"" + v + "\" for flag " + flag + ": a port is 1-65535");
    };
    if (a == "-H" || a == "--host") {
      SHOAL_ASSIGN_OR_RETURN(std::string v, take(a));
      if (v.rfind("unix://", 0) != 0 && v.rfind("tcp://", 0) != 0) {
        return invalid_argument("invalid value \"" + v + "\" for flag " + a +
                                ": use unix:///path/to.sock or tcp://host:port");
      }
      std::string bound = v;  // only 127.0.0.0/8, ::1 and localhost (as 127.0.0.1)
      if (v.rfind("tcp://", 0) == 0) {
        SHOAL_ASSIGN_OR_RETURN(bound, loopback_tcp(v));
      }
      if (bound.empty()) {
        return invalid_argument(
            "refusing to listen on " + v + ": the Docker API gives full control of this host (root), and a TCP "
            "listener off loopback needs TLS with client certificates, which shoald does not implement yet; "
            "listen on a unix socket or a loopback address (tcp://127.0.0.1:PORT) and reach it through SSH");
      }
      o.hosts.push_back(bound);
    } else if (a == "--tls" || a == "--tlsverify" || a == "--tlscacert" || a == "--tlscert" || a == "--tlskey") {
      return invalid_argument("flag " + a + " is not implemented yet: shoald does not serve the API over TLS; "
                              "use a unix socket or a loopback tcp:// address");
    } else if (a == "--data-root") {
      SHOAL_ASSIGN_OR_RETURN(o.data_root, take(a));
    } else if (a == "--etcd-client-port") {
      SHOAL_ASSIGN_OR_RETURN(o.etcd_client_port, take_port(a));
    } else if (a == "--etcd-peer-port") {
      SHOAL_ASSIGN_OR_RETURN(o.etcd_peer_port, take_port(a));
    } else if (a == "--insecure-registry") {
      SHOAL_ASSIGN_OR_RETURN(std::string v, take(a));
      const bool bad_cidr = v.find('/') != std::string::npos && v.find_first_not_of("0123456789./") != std::string::npos;
      if (v.empty() || bad_cidr || v.find("://") != std::string::npos) {
        return invalid_argument("invalid value \"" + v + "\" for flag " + a +
                                ": give a registry as HOST, HOST:PORT or an IPv4 CIDR (10.0.0.0/8), without a scheme");
      }
      o.insecure_registries.push_back(v);
    } else if (a == "--registry-certs-dir") {
      SHOAL_ASSIGN_OR_RETURN(o.registry_certs_dir, take(a));
      if (o.registry_certs_dir.empty() || o.registry_certs_dir[0] != '/') {
        return invalid_argument("invalid value \"" + o.registry_certs_dir + "\" for flag " + a +
                                ": give an absolute directory path (e.g. /etc/shoal/certs.d)");
      }
    } else if (a == "--advertise-addr") {
      SHOAL_ASSIGN_OR_RETURN(o.advertise_addr, take(a));
    } else if (a == "-l" || a == "--log-level") {
      SHOAL_ASSIGN_OR_RETURN(o.log_level, take(a));
      if (o.log_level != "debug" && o.log_level != "info" && o.log_level != "warn" && o.log_level != "error") {
        return invalid_argument("invalid log level \"" + o.log_level + "\": use debug, info, warn or error");
      }
    } else if (a == "-h" || a == "--help") {
      o.help = true;
    } else {
      return invalid_argument("unknown flag: " + a + "\nSee 'shoald --help'.");
    }
  }
  if (o.hosts.empty()) o.hosts.push_back("unix:///run/shoal/shoal.sock");
  if (o.etcd_client_port == o.etcd_peer_port) {
    return invalid_argument("--etcd-client-port and --etcd-peer-port must differ");
  }
  return o;
}

}  // namespace shoal::daemon
