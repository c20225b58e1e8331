// ImagePuller: makes an image present in the node's ImageStore, pulling it
// from its registry (RegistryClient) when it is not there. The manifest for
// this node's platform, then the config and the layers, each streamed to
// the store's private scratch directory with its digest checked, then handed
// to ImageStore::add_pulled (which applies every check an archive load
// does: diff ids, caps, the unpack rules). The scratch files are removed on
// every path.
//
// Thread-safe. Concurrency (as dockerd's 3 concurrent downloads): at most
// `max_concurrent` pulls run at once per node, more wait for a turn (and
// give up on cancel); ensure() calls for the same reference with the same
// credentials share one pull (the replicas of a service on a node download
// the image once), so a slow registry or image holds up only the tasks
// that need it. A shared pull runs on a thread of its own: a caller that
// cancels returns at once, and the pull goes on for the others; it is
// cancelled only once every caller waiting for it has cancelled (a later
// caller then starts a fresh pull instead of joining the doomed one).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

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
  static constexpr int kDefaultMaxConcurrent = 3;
  // Both must outlive the puller. `max_concurrent` >= 1.
  ImagePuller(runtime::ImageStore& images, RegistryClient& registry, int max_concurrent = kDefaultMaxConcurrent);
  // Cancels the shared pulls still running and joins their threads. No
  // ensure() call may still be running.
  ~ImagePuller();
  ImagePuller(const ImagePuller&) = delete;
  ImagePuller& operator=(const ImagePuller&) = delete;

  // `docker pull REF`: fetches the manifest and whatever of the image is
  // missing, tags it. Returns the image id. Errors as RegistryClient's, plus
  // the store's for a bad image; kUnavailable "cancelled" on cancel.
  Result<std::string> pull(const std::string& ref, const RegistryCredentials& creds, const PullProgress& progress,
                           const std::atomic<bool>& cancel);

  // A task's image: nothing to do when the store resolves `ref` (a tag
  // already here is used as is, as Docker's agent does); else pulled.
  // `ref` may also be an image id, which is never pulled. `cancel` (may be
  // null): ends this call's wait soon after it is set; the pull itself ends
  // only when every call sharing it has cancelled.
  Status ensure(const std::string& ref, const RegistryCredentials& creds,
                const std::atomic<bool>* cancel = nullptr);

  RegistryClient& registry() { return registry_; }

  // ensure() calls so far that joined a pull another call had started
  // (for tests and logs).
  int64_t shared_pulls() const;

 private:
  // One ensure() pull, run on `thread`, that every call with its key waits
  // for. `done`, `status` and `waiters` are guarded by pull_mu_.
  struct Shared {
    bool done = false;
    Status status;
    int waiters = 0;                 // calls waiting that have not cancelled
    std::atomic<bool> cancel{false};  // set when `waiters` drops to 0
    std::thread thread;
  };
  Status ensure_shared(const std::string& key, const std::string& ref, const RegistryCredentials& creds,
                       const std::atomic<bool>& cancel);
  // The body of a Shared's thread: pulls, records the outcome, wakes waiters.
  void run_shared(const std::shared_ptr<Shared>& s, const std::string& key, const std::string& ref,
                  const RegistryCredentials& creds);

  runtime::ImageStore& images_;
  RegistryClient& registry_;
  const int max_concurrent_;
  // A pull's turn is taken by PullTurn (image_puller.cc), which gives up
  // once `cancel` is set, so a pull waiting for a turn is cancellable too.
  friend struct PullTurn;
  mutable std::mutex pull_mu_;  // guards the fields below
  std::condition_variable pull_cv_;
  int pulling_ = 0;                                       // pulls holding a turn
  std::map<std::string, std::shared_ptr<Shared>> shared_;  // ensure() pulls a new call may join, by key
  std::vector<std::shared_ptr<Shared>> running_;           // every Shared whose thread is not joined yet
  int64_t shared_pulls_ = 0;
};

}  // namespace shoal::agent
