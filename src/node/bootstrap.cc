#include "node/bootstrap.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <utility>

#include "common/ids.h"
#include "manager/allocator/network_ipam.h"
#include "model/spec_schema.h"
#include "node/join.h"

namespace shoal::node {

namespace {

// "host:port" or "[v6]:port" -> {host, port}; port empty when addr has none
// (a bare IPv6 address has no port).
std::pair<std::string, std::string> split_addr(const std::string& addr) {
  if (!addr.empty() && addr.front() == '[') {
    size_t end = addr.find(']');
    if (end == std::string::npos) return {addr, ""};
    std::string port = addr.compare(end + 1, 1, ":") == 0 ? addr.substr(end + 2) : "";
    return {addr.substr(1, end - 1), port};
  }
  if (std::count(addr.begin(), addr.end(), ':') != 1) return {addr, ""};
  size_t colon = addr.find(':');
  return {addr.substr(0, colon), addr.substr(colon + 1)};
}

// True for a numeric IP that names one address (not 0.0.0.0 or ::).
bool specific_ip(const std::string& host) {
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return v4.s_addr != INADDR_ANY;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return !IN6_IS_ADDR_UNSPECIFIED(&v6);
  return false;
}

}  // namespace

std::string swarm_address(const api::InitRequest& req, const std::string& fallback) {
  auto [listen_host, listen_port] = split_addr(req.listen_addr);
  if (listen_port.empty()) listen_port = std::to_string(kDefaultSwarmPort);
  std::string addr = req.advertise_addr;
  if (addr.empty()) addr = specific_ip(listen_host) ? listen_host : fallback;
  if (addr.empty()) addr = "127.0.0.1";
  auto [host, port] = split_addr(addr);
  if (port.empty()) port = listen_port;
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
}

Result<SwarmCredentials> new_swarm_credentials() {
  SwarmCredentials cr;
  auto root = ca::create_root_ca();
  if (!root.ok()) return root.status().with_context("creating the swarm's root CA");
  cr.root_ca = std::move(*root);
  auto wt = ca::new_join_token(cr.root_ca.cert_pem);
  if (!wt.ok()) return wt.status().with_context("creating the worker join token");
  auto mt = ca::new_join_token(cr.root_ca.cert_pem);
  if (!mt.ok()) return mt.status().with_context("creating the manager join token");
  cr.worker_token = std::move(*wt);
  cr.manager_token = std::move(*mt);
  return cr;
}

Status create_swarm(Store& store, Clock& clock, const SwarmBootstrap& b) {
  if (store.cluster()) {
    return failed_precondition("the cluster state already holds a swarm; use `swarm leave --force` to erase it first");
  }
  SwarmCredentials cr;
  if (b.credentials) {
    cr = *b.credentials;
  } else {
    auto created = new_swarm_credentials();
    if (!created.ok()) return created.status();
    cr = std::move(*created);
  }

  auto now = clock.now();
  Cluster c;
  c.id = b.cluster_id.empty() ? new_object_id() : b.cluster_id;
  c.created_at = c.updated_at = now;
  c.root_ca_cert = cr.root_ca.cert_pem;
  const api::InitRequest& req = b.request;
  // The init request's Spec, checked by the API (model/spec_schema.h).
  if (!req.spec_json.empty()) SHOAL_RETURN_IF_ERROR(apply_swarm_spec(nlohmann::json::parse(req.spec_json), c.spec));
  c.default_addr_pool = req.default_addr_pool;
  c.subnet_size = req.subnet_size;
  // The routing mesh's network, as Docker makes it at init: the first subnet
  // of the pool and the first VXLAN id.
  Network ingress;
  ingress.id = new_object_id();
  ingress.created_at = ingress.updated_at = now;
  ingress.spec.name = "ingress";
  ingress.spec.ingress = true;
  SHOAL_ASSIGN_OR_RETURN(ingress.ipam, allocator::plan_subnets(ingress.spec, {}, c.default_addr_pool, c.subnet_size));
  SHOAL_ASSIGN_OR_RETURN(ingress.vni, allocator::plan_vni({}));

  Node n;
  n.id = b.node_id;
  n.created_at = n.updated_at = now;
  n.spec.role = NodeRole::kManager;
  n.spec.availability = NodeAvailability::kActive;
  n.description = b.description;
  n.state = NodeState::kReady;
  n.addr = b.advertise_addr.substr(0, b.advertise_addr.rfind(':'));
  n.manager_status = ManagerStatus{true, "reachable", b.advertise_addr};

  Batch batch;
  batch.create(c);
  batch.create(ingress);
  batch.create(n);
  return store.commit(batch).with_context("creating the swarm");
}

}  // namespace shoal::node
