// shoald's command line.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace shoal::daemon {

struct DaemonOptions {
  std::vector<std::string> hosts;           // API listeners; default unix:///run/shoal/shoal.sock
  std::string data_root = "/var/lib/shoal";
  int etcd_client_port = 2379;
  int etcd_peer_port = 2380;
  std::string advertise_addr;               // default: 127.0.0.1
  std::string log_level = "info";
  // --insecure-registry: registries pulled from over plain http ("host",
  // "host:port" or an IPv4 CIDR), as Docker's flag; loopback always is.
  std::vector<std::string> insecure_registries;
  // --registry-certs-dir: per-registry TLS files, DIR/HOST[:PORT]/ca.crt
  // (and client.cert, client.key); an absolute path (a missing directory:
  // no per-registry files).
  std::string registry_certs_dir = "/etc/shoal/certs.d";
  bool help = false;
};

// Parses argv (without argv[0]). Errors say which flag is wrong and why.
Result<DaemonOptions> parse_daemon_options(const std::vector<std::string>& args);
std::string daemon_usage();

}  // namespace shoal::daemon
