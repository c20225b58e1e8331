// `service create` / `service update` flags and the ServiceSpec JSON they
// produce, matching what the docker CLI sends for the same flags.
#pragma once

#include <functional>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/flags.h"
#include "common/result.h"

namespace shoal::cli {

void add_service_create_flags(FlagSet& fs);
void add_service_update_flags(FlagSet& fs);

// fs has been parsed; fs.args() is IMAGE [COMMAND] [ARG...]. Errors carry
// docker's messages (e.g. invalid argument "x" for "--replicas" flag: ...).
Result<nlohmann::json> build_create_spec(const FlagSet& fs);
// Applies `service update` flags to spec in place.
// `network_id` (optional) maps a network name or id prefix given to
// --network-rm to the network's id (what the stored spec holds); without it,
// or when it returns "", the value is compared as given.
Status apply_update_flags(const FlagSet& fs, nlohmann::json& spec,
                          const std::function<std::string(const std::string&)>& network_id = {});

// Helpers (exposed for tests).
std::string normalize_image(const std::string& image);  // "busybox" -> "busybox:latest"
Result<std::vector<nlohmann::json>> parse_publish(const std::string& value);
Result<std::vector<std::string>> shell_split(const std::string& s);

}  // namespace shoal::cli
