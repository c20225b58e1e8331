// Key order for `inspect` output. The daemon's JSON objects come with sorted
// keys; the docker CLI prints them in its Go struct field order. This
// reorders Service, Node and Task objects the same way (unknown keys keep
// their order after the known ones).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace shoal::cli {

// type: "Service", "Node" or "Task"; other types are returned unchanged.
nlohmann::ordered_json docker_key_order(const nlohmann::ordered_json& j, const std::string& type);

}  // namespace shoal::cli
