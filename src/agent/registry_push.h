// Image push (`docker push`): the image's blobs and manifest, exactly as the
// node's ImageStore keeps them (runtime::PushSource), sent to the registry
// its reference names with the OCI distribution push protocol: for each
// blob a HEAD (there already: "Layer already exists"), else POST an upload,
// PATCH the bytes in chunks, PUT with the digest; then PUT the manifest
// with its media type under the tag. Transport and auth as for pulls
// (RegistryClient), with a Bearer scope of "repository:PATH:pull,push".
//
// Thread-safe (uses only thread-safe parts). Cancellable: `cancel` ends the
// push soon after it is set (kUnavailable "...: cancelled").
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "agent/registry_client.h"
#include "common/result.h"

namespace shoal::runtime {
class ImageStore;
}

namespace shoal::agent {

// One progress line of a push, as Docker streams them from POST
// /images/{name}/push: {"status", "id", "progressDetail"}; the last one
// also has "aux" {"Tag", "Digest", "Size"}.
struct PushEvent {
  std::string id;  // a layer's short digest, or empty
  std::string status;
  int64_t current = 0;
  int64_t total = 0;
  bool aux = false;  // the final line: tag, digest and size below
  std::string tag, digest;
  int64_t size = 0;
};
using PushProgress = std::function<void(const PushEvent&)>;

// What push_image found before it sent anything (for the route: a failure
// here is a plain error answer, one after is a progress line).
struct PushPlan {
  Reference ref;  // the repository and tag pushed to
  std::string tag;
};

// Checks `name` (NAME, or NAME:TAG, or NAME with `tag`) and that the image
// is here with its blobs. Errors: kInvalidArgument (bad name, a digest),
// kNotFound (no such image), kFailedPrecondition (stored before blobs
// were kept: pull or load it again).
Result<PushPlan> plan_push(runtime::ImageStore& images, const std::string& name, const std::string& tag);

// Pushes what plan_push checked. `*http_status` (may be null) is set to the
// registry's 401 or 403 when it refused the credentials or the push.
// Returns the manifest digest; records "NAME@DIGEST" on the image.
Result<std::string> push_image(runtime::ImageStore& images, RegistryClient& registry, const PushPlan& plan,
                               const RegistryCredentials& creds, const PushProgress& progress,
                               const std::atomic<bool>& cancel, int* http_status = nullptr);

}  // namespace shoal::agent
