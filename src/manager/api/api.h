// Api: the Docker Engine API v1.41 (swarm subset) over the cluster store.
// serve() routes one HTTP exchange; every handler is a function of the
// request and the node (SwarmControl, LocalContainers), answering Docker's
// JSON shapes, and errors as {"message": "..."} with the right status.
#pragma once

#include <string>

#include "common/clock.h"
#include "http/message.h"
#include "manager/api/local_containers.h"
#include "manager/api/swarm_control.h"
#include "store/store.h"

namespace shoal::api {

constexpr char kApiVersion[] = "1.41";
constexpr char kEngineVersion[] = "20.10.24-shoal";

// Docker's wording when the node is not in a swarm.
constexpr char kNotSwarmManager[] =
    "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to "
    "swarm and try again.";

http::Response json_response(int status, const json& body);
http::Response error_response(const Status& st);
int http_status(Code code);

class Api {
 public:
  Api(SwarmControl& control, LocalContainers* containers, Clock& clock);
  void serve(http::Exchange ex);
  // The routing core, without the transport (tests call it directly).
  http::Response handle(const http::Request& req);

 private:
  http::Response route(const std::string& method, const std::string& path, const http::Request& req);
  // Families (one file each).
  http::Response system_ping(const http::Request& req);
  http::Response system_version();
  http::Response system_info();
  http::Response swarm_inspect();
  http::Response swarm_init(const http::Request& req);
  http::Response swarm_leave(const http::Request& req);
  http::Response nodes_list(const http::Request& req);
  http::Response node_inspect(const std::string& ref);
  http::Response node_update(const std::string& ref, const http::Request& req);
  http::Response services_create(const http::Request& req);
  http::Response services_list(const http::Request& req);
  http::Response service_inspect(const std::string& ref);
  http::Response service_update(const std::string& ref, const http::Request& req);
  http::Response service_delete(const std::string& ref);
  http::Response service_logs(const std::string& ref, const http::Request& req);
  http::Response tasks_list(const http::Request& req);
  http::Response task_inspect(const std::string& ref);
  http::Response containers_list(const http::Request& req);
  http::Response container_kill(const std::string& ref, const http::Request& req);

  // The store if this node manages a swarm; else a 503 response.
  Result<Store*> manager_store();
  Result<Node> find_node(Store& store, const std::string& ref);

  SwarmControl& control_;
  LocalContainers* containers_;
  Clock& clock_;
};

}  // namespace shoal::api
