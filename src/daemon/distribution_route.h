// GET /distribution/{name}/json (what the docker CLI asks on every `service
// create/update` to pin the image by digest and fill Placement.Platforms):
// {"Descriptor": {"mediaType", "digest", "size"}, "Platforms": [{"os",
// "architecture"[, "variant"]}]}, as Docker's DistributionInspect.
//
// Policy (local first, as DOCKER_SERVICE_PREFER_OFFLINE_IMAGE): when this
// node's image store holds an image under `name` it never reaches the
// network. If that image has a registry digest for the name's repository and
// its manifest as pulled or pushed, the answer is that manifest (its media
// type, digest and size) and the image config's platform; an image without
// one (loaded, imported) is a 404 saying so, and the CLI goes on unpinned.
// Only a name not in the store is asked of the registry the reference names
// (agent::RegistryClient::inspect), with the X-Registry-Auth credentials.
//
// Errors: 400 bad name or X-Registry-Auth; 404 no such repository or
// manifest; 401 the registry denied access (log in), 403 it refused the
// credentials; 502 the registry is unreachable or sent a bad answer; 501 no
// registry client on this node.
#pragma once

#include <string>

#include "http/message.h"

namespace shoal::runtime {
class ImageStore;
}
namespace shoal::agent {
class RegistryClient;
}

namespace shoal::daemon {

// Answers the distribution inspect of `name` (the path's decoded NAME) on
// `ex`. `registry` may be null (501 for a name not in the store). Blocks
// while the registry is asked; the client going away cancels that.
// Thread-safe as ImageStore and RegistryClient are.
void serve_distribution(runtime::ImageStore& images, agent::RegistryClient* registry, http::Exchange& ex,
                        const std::string& name);

}  // namespace shoal::daemon
