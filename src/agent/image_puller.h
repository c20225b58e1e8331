// ImagePuller: makes an image present in the node's ImageStore, pulling it
// from its registry (RegistryClient) when it is not there. The manifest for
// this node's platform, then the config and the layers, each streamed to
// the store's private scratch directory with its digest checked, then handed
// to ImageStore::add_pulled (which applies every check an archive load
// does: diff ids, caps, the unpack rules). The scratch files are removed on
// every path.
//
// Thread-safe: pulls are serialized (one at a time per node, so the
// replicas of one service on a node share one download); ensure() checks
// the store again once it holds the lock.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "agent/registry_client.h"
#include "common/result.h"

namespace shoal::runtime {
class ImageStore;
}

namespace shoal::agent {

// One progress line of a pull, as Docker streams them from
// POST /images/create: {"status": ..., "id": ..., "progressDetail":
// {"current", "total"}}. `id` is a layer's short digest, or empty.
struct PullEvent {
  std::string id;
  std::string status;
  int64_t current = 0;
  int64_t total = 0;
};
using PullProgress = std::function<void(const PullEvent&)>;

class ImagePuller {
 public:
  // Both must outlive the puller.
  ImagePuller(runtime::ImageStore& images, RegistryClient& registry);

  // `docker pull REF`: fetches the manifest and whatever of the image is
  // missing, tags it. Returns the image id. Errors as RegistryClient's, plus
  // the store's for a bad image; kUnavailable "cancelled" on cancel.
  Result<std::string> pull(const std::string& ref, const RegistryCredentials& creds, const PullProgress& progress,
                           const std::atomic<bool>& cancel);

  // A task's image: nothing to do when the store resolves `ref` (a tag
  // already here is used as is, as Docker's agent does); else pulled.
  // `ref` may also be an image id, which is never pulled. `cancel` (may be
  // null): ends the pull, or the wait for another one, soon after it is set.
  Status ensure(const std::string& ref, const RegistryCredentials& creds,
                const std::atomic<bool>* cancel = nullptr);

  RegistryClient& registry() { return registry_; }

 private:
  runtime::ImageStore& images_;
  RegistryClient& registry_;
  // One pull at a time: the turn is taken by PullTurn (image_puller.cc),
  // which gives up once `cancel` is set, so a pull waiting behind another
  // one is cancellable too.
  friend struct PullTurn;
  std::mutex pull_mu_;  // guards pulling_
  std::condition_variable pull_cv_;
  bool pulling_ = false;
};

}  // namespace shoal::agent
