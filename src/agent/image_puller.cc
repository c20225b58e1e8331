#include "agent/image_puller.h"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <vector>

#include "agent/runtime/image_store.h"
#include "common/ids.h"
#include "common/image_reference.h"

namespace shoal::agent {

namespace {

std::string short_id(const std::string& digest) { return digest.substr(digest.find(':') + 1, 12); }

// A scratch directory removed on scope exit.
struct ScratchDir {
  std::string path;
  ~ScratchDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

// The puller's one turn to pull, waited for until `cancel` is set (then
// held() is false). Released on scope exit.
struct PullTurn {
  PullTurn(ImagePuller& p, const std::atomic<bool>& cancel) : p_(p) {
    std::unique_lock lk(p_.pull_mu_);
    while (p_.pulling_ && !cancel) p_.pull_cv_.wait_for(lk, std::chrono::milliseconds(100));
    held_ = !cancel && !p_.pulling_;
    if (held_) p_.pulling_ = true;
  }
  ~PullTurn() {
    if (!held_) return;
    {
      std::lock_guard lk(p_.pull_mu_);
      p_.pulling_ = false;
    }
    p_.pull_cv_.notify_all();
  }
  bool held() const { return held_; }

 private:
  ImagePuller& p_;
  bool held_ = false;
};

ImagePuller::ImagePuller(runtime::ImageStore& images, RegistryClient& registry)
    : images_(images), registry_(registry) {}

Result<std::string> ImagePuller::pull(const std::string& ref_text, const RegistryCredentials& creds,
                                      const PullProgress& progress, const std::atomic<bool>& cancel) {
  SHOAL_ASSIGN_OR_RETURN(Reference ref, parse_reference(ref_text));
  auto say = [&](const std::string& id, const std::string& status, int64_t cur = 0, int64_t total = 0) {
    if (progress) progress({id, status, cur, total});
  };
  PullTurn turn(*this, cancel);
  if (!turn.held()) return unavailable("pulling " + ref.familiar() + ": cancelled");
  SHOAL_ASSIGN_OR_RETURN(ImageManifest m, registry_.manifest(ref, creds));
  say(ref.digest.empty() ? ref.tag : ref.digest, "Pulling from " + ref.path);
  std::vector<std::string> refs, digests;
  if (ref.digest.empty()) refs.push_back(ref.familiar());
  digests.push_back(ref.familiar_name() + "@" + m.self.digest);
  const bool present = images_.has_image(m.config.digest);
  SHOAL_ASSIGN_OR_RETURN(std::string config, registry_.fetch_json_blob(ref, creds, m.config));
  ScratchDir dir{images_.scratch_dir() + "/pull-" + new_object_id()};
  if (mkdir(dir.path.c_str(), 0700) != 0) return errno_status("creating " + dir.path, errno);
  std::vector<std::string> paths;
  if (!present) {
    for (const auto& l : m.layers) say(short_id(l.digest), "Pulling fs layer");
    for (const auto& l : m.layers) {
      std::string path = dir.path + "/" + short_id(l.digest) + "-" + std::to_string(paths.size());
      const std::string id = short_id(l.digest);
      SHOAL_RETURN_IF_ERROR(registry_.fetch_blob(
          ref, creds, l, path, [&](int64_t cur, int64_t total) { say(id, "Downloading", cur, total); }, cancel));
      say(id, "Verifying Checksum");
      say(id, "Download complete");
      paths.push_back(path);
    }
  }
  if (cancel) return unavailable("pulling " + ref.familiar() + ": cancelled");
  SHOAL_ASSIGN_OR_RETURN(std::string id, images_.add_pulled(config, paths, refs, digests));
  if (!present)
    for (const auto& l : m.layers) say(short_id(l.digest), "Pull complete");
  say("", "Digest: " + m.self.digest);
  say("", present ? "Status: Image is up to date for " + ref.familiar()
                  : "Status: Downloaded newer image for " + ref.familiar());
  return id;
}

Status ImagePuller::ensure(const std::string& ref, const RegistryCredentials& creds,
                           const std::atomic<bool>* cancel) {
  auto have = images_.resolve(ref);
  if (have.ok()) return ok_status();
  if (have.status().code() != Code::kNotFound) return have.status();
  auto parsed = parse_reference(ref);
  if (!parsed.ok()) return have.status();  // an image id or prefix: nothing to pull
  std::atomic<bool> never{false};
  const std::atomic<bool>& stop = cancel ? *cancel : never;
  {
    // Another task's pull of the same image may have finished meanwhile.
    PullTurn turn(*this, stop);
    if (!turn.held()) return unavailable("pulling " + parsed->familiar() + ": cancelled");
    if (images_.resolve(ref).ok()) return ok_status();
  }
  auto id = pull(ref, creds, nullptr, stop);
  if (!id.ok()) return Status(id.status().code(), "pulling " + parsed->familiar() + ": " + id.status().message());
  return ok_status();
}

}  // namespace shoal::agent
