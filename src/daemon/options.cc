#include "daemon/options.h"

#include <arpa/inet.h>

namespace shoal::daemon {

namespace {

// True when a tcp:// listen address can only be reached from this host:
// 127.0.0.0/8, ::1 or "localhost".
bool loopback_tcp(const std::string& addr) {
  std::string hp = addr.substr(6);  // after "tcp://"
  std::string host;
  if (!hp.empty() && hp[0] == '[') {
    auto close = hp.find(']');
    if (close == std::string::npos) return false;
    host = hp.substr(1, close - 1);
  } else {
    host = hp.substr(0, hp.rfind(':'));
  }
  if (host == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
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
      if (v.rfind("tcp://", 0) == 0 && !loopback_tcp(v)) {
        return invalid_argument(
            "refusing to listen on " + v + ": the Docker API gives full control of this host (root), and a TCP "
            "listener off loopback needs TLS with client certificates, which shoald does not implement yet; "
            "listen on a unix socket or a loopback address (tcp://127.0.0.1:PORT) and reach it through SSH");
      }
      o.hosts.push_back(v);
    } else if (a == "--tls" || a == "--tlsverify" || a == "--tlscacert" || a == "--tlscert" || a == "--tlskey") {
      return invalid_argument("flag " + a + " is not implemented yet: shoald does not serve the API over TLS; "
                              "use a unix socket or a loopback tcp:// address");
    } else if (a == "--data-root") {
      SHOAL_ASSIGN_OR_RETURN(o.data_root, take(a));
    } else if (a == "--etcd-client-port") {
      SHOAL_ASSIGN_OR_RETURN(o.etcd_client_port, take_port(a));
    } else if (a == "--etcd-peer-port") {
      SHOAL_ASSIGN_OR_RETURN(o.etcd_peer_port, take_port(a));
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
