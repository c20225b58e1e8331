// GET /distribution/{name}/json (what the docker CLI asks on every `service
// create/update` to pin the image by digest and fill Placement.Platforms):
// {"Descriptor": {"mediaType", "digest", "size"}, "Platforms": [{"os",
// "architecture"[, "variant"]}]}, as Docker's DistributionInspect.
//
// Policy (the registry first, as Docker; the node's store only when the
// registry gives no answer): the registry the reference names is asked
// (agent::RegistryClient::inspect, with the X-Registry-Auth credentials), so
// a tag moved since this node pulled it pins the registry's new digest. Only
// when that registry is unreachable, times out or answers any error status
// other than 401/403/404 (a 5xx, 429)
// (kUnavailable, kDeadlineExceeded) and this node's image store holds an
// image under `name` is the local answer given: that image's manifest as
// pulled or pushed (its media type, digest and size) and its config's
// platform when it has a registry digest for the name's repository, else a
// 404 saying there is none to pin (loaded, imported), and the CLI goes on
// unpinned. A registry's 401/403/404 is its answer, never replaced. A
// docker.io name in the store is answered locally without asking Docker
// Hub; only a docker.io name not in the store goes there.
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
// `ex`. `registry` may be null (then the local answer,
// or 501 for a name not in the store). Blocks
// while the registry is asked; the client going away cancels that.
// Thread-safe as ImageStore and RegistryClient are.
void serve_distribution(runtime::ImageStore& images, agent::RegistryClient* registry, http::Exchange& ex,
                        const std::string& name);

}  // namespace shoal::daemon
