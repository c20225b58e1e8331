// ImageStore: the blobs a push needs (see image_store.h for the layout).
// Every layer of an image added by load, import or pull is kept as it came,
// content-addressed under layer-blobs/, and described with the manifest as
// pulled (if any) in push/<image-hex>.json. Blobs are shared between images
// and removed with the last image that lists them.
#include <fcntl.h>
#include <cerrno>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "agent/runtime/image_store.h"
#include "agent/runtime/layer.h"
#include "common/files.h"
#include "common/ids.h"
#include "common/image_reference.h"
#include "common/json_limits.h"

namespace shoal::runtime {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kOciConfig = "application/vnd.oci.image.config.v1+json";

// The OCI layer media type of a blob, from its first bytes.
std::string layer_media_type(const std::string& path) {
  unsigned char magic[4] = {};
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  ssize_t n = fd >= 0 ? ::read(fd, magic, sizeof magic) : -1;
  if (fd >= 0) ::close(fd);
  if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) return "application/vnd.oci.image.layer.v1.tar+gzip";
  if (n >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
    return "application/vnd.oci.image.layer.v1.tar+zstd";
  return "application/vnd.oci.image.layer.v1.tar";
}

// `from` at the new name `to` (same content), made durable before it is
// renamed into place: a hard link when `from` is the store's own scratch
// file (a pull's blob, an upload, an unpacked archive: nobody else writes
// it), else a copy (a caller's file could change under a link).
Status place_blob(const std::string& from, const std::string& to, const std::string& scratch) {
  std::string tmp = to + ".tmp-" + new_object_id();
  if (from.rfind(scratch + "/", 0) != 0 || ::link(from.c_str(), tmp.c_str()) != 0) {
    std::error_code ec;
    fs::copy_file(from, tmp, ec);
    if (ec) return internal_error("keeping the layer blob " + to + ": " + ec.message() + " (disk full?)");
  }
  // Private, whatever mode the scratch file had (an archive's member keeps
  // its tar mode, often 0644): nothing in the data root is world-readable.
  ::chmod(tmp.c_str(), 0600);
  // Its data on disk before its name is: after a power loss a blob at its
  // final name is whole (keep_blobs trusts a blob already there).
  int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 || ::fsync(fd) != 0) {
    std::string why = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    std::error_code ec;
    fs::remove(tmp, ec);
    return internal_error("keeping the layer blob " + to + ": fsync: " + why);
  }
  ::close(fd);
  Status st = rename_durable(tmp, to);
  if (!st.ok()) {
    std::error_code ec;
    fs::remove(tmp, ec);
  }
  return st;
}

json blob_json(const PushBlob& b) { return {{"mediaType", b.media_type}, {"digest", b.digest}, {"size", b.size}}; }

}  // namespace

std::string ImageStore::layer_blob_path(const std::string& hex) const { return root_ + "/layer-blobs/" + hex; }
std::string ImageStore::push_record_path(const std::string& image_hex) const {
  return root_ + "/push/" + image_hex + ".json";
}

Status ImageStore::keep_blobs(const std::string& image_hex, const std::vector<LayerFile>& layers,
                              const std::string& manifest, const std::string& manifest_media_type, Image* img) {
  std::vector<PushBlob> blobs;
  for (const auto& l : layers) {
    SHOAL_ASSIGN_OR_RETURN(std::string hex, sha256_file(l.path));
    PushBlob b;
    b.digest = "sha256:" + hex;
    std::error_code ec;
    b.size = static_cast<int64_t>(fs::file_size(l.path, ec));
    if (ec) return internal_error("reading the size of " + l.path + ": " + ec.message());
    b.media_type = layer_media_type(l.path);
    // A blob already kept (another image's) is reused when whole; one of
    // another size (cut short before blobs were synced) is replaced.
    std::error_code kept_ec;
    const auto kept = fs::file_size(layer_blob_path(hex), kept_ec);
    if (kept_ec || static_cast<int64_t>(kept) != b.size) {
      SHOAL_RETURN_IF_ERROR(place_blob(l.path, layer_blob_path(hex), scratch_dir()));
    }
    blobs.push_back(std::move(b));
  }
  json rec = {{"layers", json::array()}};
  for (const auto& b : blobs) rec["layers"].push_back(blob_json(b));
  if (!manifest.empty()) {
    rec["manifest"] = manifest;
    rec["manifestMediaType"] = manifest_media_type;
  }
  SHOAL_RETURN_IF_ERROR(write_file_atomic(push_record_path(image_hex), rec.dump() + "\n", 0600)
                            .with_context("keeping what a push of the image needs"));
  img->has_blobs = true;
  img->blobs = std::move(blobs);
  img->manifest = manifest;
  img->manifest_media_type = manifest_media_type;
  return ok_status();
}

void ImageStore::read_push_record(const std::string& image_hex, Image* img) const {
  auto text = read_whole_file(push_record_path(image_hex));
  if (!text.ok()) return;
  auto j = parse_untrusted_json(*text, "a push record");
  if (!j.ok() || !j->is_object() || !j->contains("layers") || !(*j)["layers"].is_array()) return;
  std::vector<PushBlob> blobs;
  try {
    for (const auto& l : (*j)["layers"]) {
      blobs.push_back({l.at("mediaType").get<std::string>(), l.at("digest").get<std::string>(),
                       l.at("size").get<int64_t>(), ""});
    }
    if (blobs.size() != img->diff_ids.size()) return;
    img->manifest = j->value("manifest", "");
    img->manifest_media_type = j->value("manifestMediaType", "");
  } catch (const std::exception&) {
    return;  // unreadable: the image is as one stored before blobs were kept
  }
  img->blobs = std::move(blobs);
  img->has_blobs = true;
}

void ImageStore::free_blobs_locked(const std::string& id) {
  std::set<std::string> used_elsewhere;
  for (const auto& [other, o] : images_)
    if (other != id)
      for (const auto& b : o.blobs) used_elsewhere.insert(b.digest);
  const Image& im = images_.at(id);
  std::error_code ec;
  for (const auto& b : im.blobs) {
    if (used_elsewhere.count(b.digest) || b.digest.size() != 71) continue;
    fs::remove(layer_blob_path(b.digest.substr(7)), ec);
  }
  fs::remove(push_record_path(id.substr(7)), ec);
}

bool ImageStore::has_image_blobs(const std::string& id) const {
  std::lock_guard lk(mu_);
  auto it = images_.find(id);
  return it != images_.end() && it->second.has_blobs;
}

Result<PushSource> ImageStore::push_source(const std::string& ref) {
  PushSource src;
  {
    std::lock_guard lk(mu_);
    std::string familiar;
    std::string id = find_locked(ref, &familiar);
    if (id.empty()) {
      SHOAL_RETURN_IF_ERROR(parse_reference(ref).status());
      return not_found("An image does not exist locally with the tag: " + ref);
    }
    Image& im = images_.at(id);
    if (!im.has_blobs) {
      return failed_precondition("the image " + ref + " was stored before this node kept the layer archives a push "
                                 "sends: pull it again or load it again (`shoal image rm` it first), then push");
    }
    src.id = id;
    src.config.media_type = kOciConfig;
    src.config.digest = id;
    src.config.path = blob_path(id.substr(7));
    for (const auto& b : im.blobs) {
      PushBlob l = b;
      l.path = layer_blob_path(b.digest.substr(7));
      src.layers.push_back(std::move(l));
    }
    src.manifest = im.manifest;
    src.manifest_media_type = im.manifest_media_type;
    ++im.pushes;
  }
  // Made without mu_ (its deleter takes it); a throw here runs the deleter.
  src.pin = std::shared_ptr<void>(this, [id = src.id](void* store) { static_cast<ImageStore*>(store)->unpin_push(id); });
  // Pinned: the files stay while src lives, so they are checked unlocked.
  std::error_code ec;
  src.config.size = static_cast<int64_t>(fs::file_size(src.config.path, ec));
  if (ec) return internal_error("reading " + src.config.path + ": " + ec.message());
  for (const auto& l : src.layers) {
    if (!fs::exists(l.path)) {
      return failed_precondition("the layer blob " + l.digest + " of " + ref +
                                 " is missing from the image store: pull it again or load it again");
    }
  }
  if (!src.manifest.empty()) return src;
  json m = {{"schemaVersion", 2}, {"mediaType", kOciManifest}, {"config", blob_json(src.config)},
            {"layers", json::array()}};
  for (const auto& l : src.layers) m["layers"].push_back(blob_json(l));
  src.manifest = m.dump();
  src.manifest_media_type = kOciManifest;
  return src;
}

void ImageStore::unpin_push(const std::string& id) {
  std::lock_guard lk(mu_);
  if (auto it = images_.find(id); it != images_.end() && it->second.pushes > 0) --it->second.pushes;
}

Status ImageStore::add_digest(const std::string& id, const std::string& name_at_digest) {
  std::lock_guard wl(write_mu_);
  std::lock_guard lk(mu_);
  if (!images_.count(id)) return not_found("No such image: " + id);
  digests_[name_at_digest] = id;
  refresh_refs_locked();
  return save_repositories_locked();
}

}  // namespace shoal::runtime
