// The node-local image routes of the Docker API: POST /images/create
// (`docker import`, fromSrc=-), POST /images/load (`docker load`),
// GET /images/json (`docker images`). Images live per node (as in Docker).
#pragma once

#include <cstdint>
#include <string>

#include "http/message.h"

namespace shoal::runtime {
class ImageStore;
}

namespace shoal::daemon {

// Returns false if the request is not an image route. Uploads larger than
// ImageLimits::max_upload_bytes are answered 413.
bool serve_image_routes(runtime::ImageStore& images, http::Exchange& ex);

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
