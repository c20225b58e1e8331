#include "node/bootstrap.h"

#include "common/ids.h"
#include "model/spec_schema.h"

namespace shoal::node {

std::string swarm_address(const api::InitRequest& req, const std::string& fallback) {
  std::string addr = !req.advertise_addr.empty() ? req.advertise_addr : (!fallback.empty() ? fallback : "127.0.0.1");
  if (addr.find(':') == std::string::npos) addr += ":2377";
  return addr;
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
  if (!req.default_addr_pool.empty()) c.default_addr_pool = req.default_addr_pool;
  if (req.subnet_size) c.subnet_size = req.subnet_size;
  if (req.data_path_port) c.data_path_port = req.data_path_port;
  // The init request's Spec, checked by the API (model/spec_schema.h).
  if (!req.spec_json.empty()) SHOAL_RETURN_IF_ERROR(apply_swarm_spec(nlohmann::json::parse(req.spec_json), c.spec));

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
  batch.create(n);
  return store.commit(batch).with_context("creating the swarm");
}

}  // namespace shoal::node
