// --with-registry-auth on `shoal service create|update`: the X-Registry-Auth
// header for an image's registry, from what `docker login` wrote:
// $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json, its "auths"
// entry for the registry (keyed by host, "https://host" or, for Docker Hub,
// "https://index.docker.io/v1/"), whose "auth" is base64 of user:password
// (or "identitytoken" / "registrytoken"). Pure but for reading that file;
// thread-safe.
#pragma once

#include <string>

#include "common/result.h"

namespace shoal::cli {

// The header (base64 JSON). No config file or no entry for the registry:
// the header with no credentials, as the docker CLI sends ({"serveraddress"}),
// which the manager takes as "no credentials". kInvalidArgument for a bad
// image reference or a config file that is not docker's JSON (saying which
// file); kUnimplemented when the file names a credential helper
// (credsStore / credHelpers) for that registry.
Result<std::string> registry_auth_for(const std::string& image);

// The same over a config file's text (`path` names it in errors), for tests.
Result<std::string> registry_auth_from_config(const std::string& image, const std::string& config_text,
                                              const std::string& path);

}  // namespace shoal::cli
