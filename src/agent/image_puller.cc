#include "agent/image_puller.h"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <system_error>
#include <vector>

#include "agent/runtime/image_store.h"
#include "agent/runtime/layer.h"
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

// One of the puller's max_concurrent_ turns to pull, waited for until
// `cancel` is set (then held() is false). Released on scope exit.
struct PullTurn {
  PullTurn(ImagePuller& p, const std::atomic<bool>& cancel) : p_(p) {
    std::unique_lock lk(p_.pull_mu_);
    while (p_.pulling_ >= p_.max_concurrent_ && !cancel) p_.pull_cv_.wait_for(lk, std::chrono::milliseconds(100));
    held_ = !cancel && p_.pulling_ < p_.max_concurrent_;
    if (held_) ++p_.pulling_;
  }
  ~PullTurn() {
    if (!held_) return;
    {
      std::lock_guard lk(p_.pull_mu_);
      --p_.pulling_;
    }
    p_.pull_cv_.notify_all();
  }
  bool held() const { return held_; }

 private:
  ImagePuller& p_;
  bool held_ = false;
};

ImagePuller::ImagePuller(runtime::ImageStore& images, RegistryClient& registry, int max_concurrent)
    : images_(images), registry_(registry), max_concurrent_(max_concurrent < 1 ? 1 : max_concurrent) {}

int64_t ImagePuller::shared_pulls() const {
  std::lock_guard lk(pull_mu_);
  return shared_pulls_;
}

Result<std::string> ImagePuller::pull(const std::string& ref_text, const RegistryCredentials& creds,
                                      const PullProgress& progress, const std::atomic<bool>& cancel) {
  SHOAL_ASSIGN_OR_RETURN(Reference ref, parse_reference(ref_text));
  auto say = [&](const std::string& id, const std::string& status, int64_t cur = 0, int64_t total = 0) {
    if (progress) progress({id, status, cur, total});
  };
  PullTurn turn(*this, cancel);
  if (!turn.held()) return unavailable("pulling " + ref.familiar() + ": cancelled");
  SHOAL_ASSIGN_OR_RETURN(ImageManifest m, registry_.manifest(ref, creds, &cancel));
  say(ref.digest.empty() ? ref.tag : ref.digest, "Pulling from " + ref.path);
  std::vector<std::string> refs, digests;
  if (ref.digest.empty()) refs.push_back(ref.familiar());
  digests.push_back(ref.familiar_name() + "@" + m.self.digest);
  const bool present = images_.has_image_blobs(m.config.digest);
  SHOAL_ASSIGN_OR_RETURN(std::string config, registry_.fetch_json_blob(ref, creds, m.config, &cancel));
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
  SHOAL_ASSIGN_OR_RETURN(std::string id, images_.add_pulled(config, paths, refs, digests, m.raw, m.self.media_type));
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
  // Shared only with calls that pull with the same credentials (one denied
  // anonymously must not fail a caller that has a login). In memory only.
  const std::string key = parsed->familiar() + '\0' +
                          runtime::sha256_hex(creds.username + '\0' + creds.password + '\0' + creds.registry_token);
  Status st = ensure_shared(key, ref, creds, stop);
  if (st.ok()) return st;
  return Status(st.code(), "pulling " + parsed->familiar() + ": " + st.message());
}

Status ImagePuller::ensure_shared(const std::string& key, const std::string& ref, const RegistryCredentials& creds,
                                  const std::atomic<bool>& cancel) {
  std::shared_ptr<Shared> s;
  std::vector<std::thread> finished;
  {
    std::unique_lock lk(pull_mu_);
    std::erase_if(running_, [&](const std::shared_ptr<Shared>& r) {
      if (!r->done) return false;
      finished.push_back(std::move(r->thread));
      return true;
    });
    auto it = shared_.find(key);
    if (it != shared_.end()) {  // another call pulls it: wait for its outcome
      s = it->second;
      ++shared_pulls_;
    } else {
      s = std::make_shared<Shared>();
      try {
        s->thread = std::thread([this, s, key, ref, creds] { run_shared(s, key, ref, creds); });
      } catch (const std::system_error& e) {
        return internal_error(std::string("starting the pull: ") + e.what());
      }
      shared_[key] = s;
      running_.push_back(s);
    }
    ++s->waiters;
  }
  for (auto& t : finished) t.join();  // each has only its unlock and notify left
  std::unique_lock lk(pull_mu_);
  while (!s->done && !cancel) pull_cv_.wait_for(lk, std::chrono::milliseconds(100));
  --s->waiters;
  if (s->done) return s->status;
  if (s->waiters == 0) {  // the last caller gone: nobody wants this pull
    s->cancel = true;
    auto it = shared_.find(key);
    if (it != shared_.end() && it->second == s) shared_.erase(it);
  }
  return unavailable("cancelled");
}

void ImagePuller::run_shared(const std::shared_ptr<Shared>& s, const std::string& key, const std::string& ref,
                             const RegistryCredentials& creds) {
  // Another pull of it may have finished just before this one began. An
  // exception must still end the shared pull (its waiters would wait on).
  Status st;
  try {
    st = images_.resolve(ref).ok() ? ok_status() : pull(ref, creds, nullptr, s->cancel).status();
  } catch (const std::exception& e) {
    st = internal_error(std::string("the pull failed unexpectedly: ") + e.what());
  }
  {
    std::lock_guard lk(pull_mu_);
    s->done = true;
    s->status = st;
    auto it = shared_.find(key);
    if (it != shared_.end() && it->second == s) shared_.erase(it);
  }
  pull_cv_.notify_all();
}

ImagePuller::~ImagePuller() {
  std::vector<std::shared_ptr<Shared>> running;
  {
    std::lock_guard lk(pull_mu_);
    for (auto& r : running_) r->cancel = true;
    running.swap(running_);
    shared_.clear();
  }
  for (auto& r : running) r->thread.join();
}

}  // namespace shoal::agent
