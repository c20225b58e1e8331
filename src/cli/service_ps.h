// Row building for `service ps` and `service ls`, as docker's task and
// service formatters do it. Pure functions over API JSON (unit-tested).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace shoal::cli {

inline constexpr const char* kTaskTableFormat =
    "table {{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}\t{{.Ports}}";
inline constexpr const char* kServiceTableFormat =
    "table {{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}";

nlohmann::json task_headers();
nlohmann::json service_headers();

// tasks: GET /tasks answer. service_names: service id -> name; node_names:
// node id -> hostname (missing: the id is shown). trunc: 12-char ids, errors
// cut at 30 characters with "…", image digests dropped. table: history rows
// of a slot are indented with " \_ ". Rows are ordered like docker: by name
// ("svc.slot" or "svc.nodeid"), newest first within a name.
std::vector<nlohmann::json> build_task_rows(const nlohmann::json& tasks,
                                            const std::map<std::string, std::string>& service_names,
                                            const std::map<std::string, std::string>& node_names, bool trunc,
                                            bool table, std::chrono::system_clock::time_point now);

// services: GET /services?status=true answer (REPLICAS from ServiceStatus);
// sorted by name in natural order.
std::vector<nlohmann::json> build_service_rows(const nlohmann::json& services);

// "*:8080->80/tcp, *:9000-9001->90-91/tcp" from Endpoint.Ports (ingress only).
std::string service_ports(const nlohmann::json& ports);

}  // namespace shoal::cli
