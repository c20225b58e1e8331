// Api: the Docker Engine API v1.41 (swarm subset) over the cluster store.
//
// serve() routes one HTTP exchange; each route is a handler of the request
// and the node (SwarmControl, LocalContainers, Clock) answering Docker's JSON
// shapes, with errors as {"message": "..."} and the right status (errors.h).
// Routes by family, one file each: system_routes.cc (/_ping, /version,
// /info), swarm_routes.cc, node_routes.cc, service_routes.cc,
// task_routes.cc, container_routes.cc; router.cc maps paths to them.
//
// Thread-safe as long as SwarmControl and LocalContainers are: the Api's own
// state is a cache of serialized tasks (JsonCache), and the Store is
// thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common/clock.h"
#include "http/message.h"
#include "manager/api/errors.h"
#include "manager/api/json_cache.h"
#include "manager/api/local_containers.h"
#include "manager/api/router.h"
#include "manager/api/swarm_control.h"
#include "store/store.h"

namespace shoal::api {

constexpr char kApiVersion[] = "1.41";
constexpr char kMinApiVersion[] = "1.12";
constexpr char kEngineVersion[] = "20.10.24-shoal";

struct RegistryAuthHeader;  // registry_auth.h

class Api {
 public:
  // `containers` may be null (no local containers: empty lists, kill → 404).
  Api(SwarmControl& control, LocalContainers* containers, Clock& clock);
  void serve(http::Exchange ex);
  // The routing core, without the transport (tests call it directly).
  // Adds Docker's headers (Api-Version, Docker-Experimental, Ostype, Server).
  http::Response handle(const http::Request& req);

 private:
  http::Response route(const http::Request& req, const ApiPath& path);

  http::Response system_ping(const http::Request& req);
  http::Response system_version();
  http::Response system_info();

  http::Response swarm_inspect();
  http::Response swarm_init(const http::Request& req);
  http::Response swarm_leave(const http::Request& req);
  http::Response swarm_join(const http::Request& req);  // swarm_join_route.cc
  http::Response swarm_update(const http::Request& req);
  http::Response swarm_unlockkey();

  http::Response nodes_list(const http::Request& req);
  http::Response node_inspect(const std::string& ref);
  http::Response node_update(const std::string& ref, const http::Request& req);
  http::Response node_delete(const std::string& ref, const http::Request& req);

  http::Response services_create(const http::Request& req);
  http::Response services_list(const http::Request& req);
  http::Response service_inspect(const std::string& ref, const http::Request& req);
  http::Response service_update(const std::string& ref, const http::Request& req);
  http::Response service_delete(const std::string& ref);
  http::Response service_logs(const std::string& ref, const http::Request& req);

  http::Response networks_create(const http::Request& req);  // network_routes.cc
  http::Response networks_list(const http::Request& req);
  http::Response network_inspect(const std::string& ref, const http::Request& req);
  http::Response network_delete(const std::string& ref);
  http::Response networks_prune(const http::Request& req);
  http::Response network_connect(const std::string& ref);  // and disconnect: 404 or 403

  http::Response tasks_list(const http::Request& req);
  http::Response task_inspect(const std::string& ref);

  http::Response containers_list(const http::Request& req);
  http::Response container_kill(const std::string& ref, const http::Request& req);
  http::Response container_inspect(const std::string& ref);  // exec_routes.cc
  http::Response container_logs(const std::string& ref, const http::Request& req);  // container_logs.cc
  // GET /containers/{id}/logs?follow=1, streamed on the calling (handler)
  // thread until the container ends, the client goes or `until` passes;
  // false (nothing done) for any other request.
  bool serve_logs_follow(http::Exchange& ex);
  http::Response exec_create(const std::string& ref, const http::Request& req);
  http::Response exec_start(const std::string& id, const http::Request& req);
  http::Response exec_resize(const std::string& id, const http::Request& req);
  http::Response exec_inspect(const std::string& id);

  // The store if this node manages a swarm; else kUnavailable with Docker's
  // "not a swarm manager" message.
  Result<std::shared_ptr<Store>> manager_store();
  // Seals a create/update's X-Registry-Auth (registry_auth.h) into
  // s.registry_auth_sealed: nullopt keeps it, no credentials clear it.
  Status seal_registry_auth(const std::optional<RegistryAuthHeader>& auth, Service& s);

  SwarmControl& control_;
  LocalContainers* containers_;
  Clock& clock_;
  JsonCache task_json_;  // GET /tasks bodies, per task version
};

// Rewrites each TaskTemplate.Networks target (a network name, id or unique
// id prefix) to the network's id, as Docker stores it, and checks the
// attachments: kNotFound for an unknown network, kInvalidArgument for the
// ingress network (attached through published ports, never by hand), one
// network twice, or an alias that is not a DNS name (network_routes.cc).
Status resolve_networks(const Store& store, ServiceSpec& spec);

// Commits the service write `write` adds to a batch (a create, or an update
// by version) tied to the networks of `spec` (resolved by resolve_networks;
// `asked`: its TaskTemplate.Networks as the client named them), so that a
// concurrent `network rm` of one of them and this write cannot both succeed
// (network_routes.cc). A network removed meanwhile is kNotFound, in
// resolve_networks' words.
Status commit_with_networks(Store& store, const ServiceSpec& spec,
                            const std::vector<NetworkAttachmentConfig>& asked,
                            const std::function<void(Batch&)>& write);

// Removes network `id` while no service or live task uses it, the check tied
// to the delete (network_routes.cc): kFailedPrecondition (in use, found
// again on fresh state when a service attached it meanwhile), kNotFound.
// `after_check` (tests): runs between each check and its delete.
Status remove_unused_network(Store& store, const std::string& id, const std::function<void()>& after_check = {});

// Nodes by id, name/hostname or unique id prefix (Docker's rules).
Result<Node> find_node(const std::vector<Node>& nodes, const std::string& ref);

}  // namespace shoal::api
