// POST /images/{name}/push?tag=TAG (`docker push`), with X-Registry-Auth:
// the image's blobs and manifest sent by agent::push_image, its progress
// streamed as Docker's JSON lines ("The push refers to repository [...]",
// per layer "Preparing", "Pushing" with progressDetail, "Pushed" or "Layer
// already exists", then "TAG: digest: sha256:... size: N" and an "aux"
// line). A failure before anything is sent is a plain error answer with its
// status (400 bad name or header, 404 no such image, 409 an image stored
// before blobs were kept, 401/403 the registry refused, 503 unreachable);
// one after is an {"error", "errorDetail"} line, as Docker does.
#pragma once

#include <string>

#include "http/message.h"

namespace shoal::runtime {
class ImageStore;
}
namespace shoal::agent {
class ImagePuller;
}

namespace shoal::daemon {

// Answers the push of `name` (the path's decoded NAME) on `ex`; `puller`
// gives the node's registry client (none: 501). Blocks until the push ends
// or the client goes away (which cancels it).
void serve_push(runtime::ImageStore& images, agent::ImagePuller* puller, http::Exchange& ex, const std::string& name);

}  // namespace shoal::daemon
