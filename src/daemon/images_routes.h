// The node-local image routes of the Docker API: POST /images/create
// (`docker import`, fromSrc=-; `docker pull`, fromImage=), POST /images/load
// (`docker load`), GET /images/json (`docker images`), GET
// /images/{name}/json (`docker image inspect`), POST /images/{name}/tag,
// DELETE /images/{name} (`docker rmi`; force refused, 501), POST
// /images/{name}/push (`docker push`, daemon/image_push_route.h). Images live per node (as
// in Docker).
#pragma once

#include <cstdint>
#include <string>

#include "http/message.h"

namespace shoal::runtime {
class ImageStore;
}
namespace shoal::agent {
class ImagePuller;
}

namespace shoal::daemon {

// Returns false if the request is not an image route. Uploads larger than
// ImageLimits::max_upload_bytes are answered 413. POST
// /images/create?fromImage=NAME&tag=TAG (`docker pull`) pulls through
// `puller` (none: 501), credentials from the X-Registry-Auth header; the
// progress streams as Docker's JSON lines once the manifest is found (an
// error before that is a plain error answer with its status, one after is
// an {"error", "errorDetail"} line, as Docker does).
bool serve_image_routes(runtime::ImageStore& images, http::Exchange& ex, agent::ImagePuller* puller = nullptr);

// For http::ServerOptions::route_body_limit: the body limit of the upload
// routes (POST /images/load, /images/create), 0 (the server's default) for
// every other route. Thread-safe (reads only the store's fixed limits).
uint64_t image_upload_body_limit(const runtime::ImageStore& images, const std::string& method,
                                 const std::string& path);

// For http::ServerOptions::route_body_spool: the upload routes stream their
// body into the image store's private scratch directory (0600 files), so an
// upload is never held in memory; "" for every other route. The handler
// (serve_image_routes) removes the file on every path. Thread-safe.
std::string image_upload_spool_dir(const runtime::ImageStore& images, const std::string& method,
                                   const std::string& path);

}  // namespace shoal::daemon
