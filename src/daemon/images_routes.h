// The node-local image routes of the Docker API: POST /images/create
// (`docker import`, fromSrc=-), POST /images/load (`docker load`),
// GET /images/json (`docker images`). Images live per node (as in Docker).
#pragma once

#include "http/message.h"

namespace shoal::runtime {
class ImageStore;
}

namespace shoal::daemon {

// Returns false if the request is not an image route.
bool serve_image_routes(runtime::ImageStore& images, http::Exchange& ex);

}  // namespace shoal::daemon
