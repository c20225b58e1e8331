// ImageStore: the node's images, content-addressed under <root>/images:
//   blobs/sha256/<hex>      image configs (OCI image config JSON); the image id
//                           is "sha256:" + the digest of its config
//   layers/<diffid-hex>/    each layer unpacked once (an overlayfs lower dir;
//                           OCI whiteouts turned into overlayfs ones)
//   layers/<diffid-hex>.size  bytes of regular files in the layer
//   layer-blobs/<hex>       each layer as it came (the compressed blob a registry
//                           served, or the tar of a `docker save` archive), named by
//                           its sha256: what a push sends (image_store_push.cc)
//   push/<image-hex>.json   what a push of the image needs: its layer blobs'
//                           descriptors and, for a pulled image, the manifest as
//                           pulled (written before the config, so an image has it
//                           from the start; an image stored before blobs were kept
//                           has none and cannot be pushed until pulled or loaded again)
//   repositories.json       {"Repositories": {ref: id}, "Digests": {ref@digest: id}}
//                           written atomically (temp file, fsync, rename)
//   tmp/                    scratch space for imports and loads
// References are normalized like Docker's ("busybox" = "busybox:latest" =
// "docker.io/library/busybox:latest") and stored in their familiar form.
// Images come in by import_rootfs (a rootfs tarball, like `docker import`)
// and load (a `docker save` archive or an OCI image layout, like `docker
// load`). Archives are untrusted: see layer.h for the rules an archive must
// follow and docs/security.md ("Images are untrusted"). Every file named by
// an archive's manifest is opened inside the unpacked archive (symlinks
// resolved as if it were "/"), must be a regular file, JSON at most
// ImageLimits::max_json_bytes; every blob with a digest in its name or
// descriptor is checked against it, every layer against the config's diff
// id. Layers unpack into a scratch directory renamed into place only when
// complete. Thread-safe: readers (list, resolve) never wait for an unpack;
// mutations (import, load, remove) are serialized among themselves.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "agent/runtime/layer.h"
#include "common/result.h"

namespace shoal::runtime {

// The parts of an image config that decide how a container runs.
struct ImageConfig {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // "K=V"
  std::string working_dir;
  std::string user;
  std::string stop_signal;
};

struct ImageInfo {
  std::string id;                    // "sha256:<hex of the config digest>"
  std::vector<std::string> refs;     // familiar refs, e.g. "busybox:latest"
  std::vector<std::string> digests;  // "name@sha256:<manifest digest>", when known
  int64_t created = 0;               // unix seconds, from the config
  int64_t size = 0;                  // bytes unpacked, all layers
};

// One blob a push sends: a file of the store, its digest and media type.
struct PushBlob {
  std::string media_type;
  std::string digest;  // "sha256:<hex>"
  int64_t size = 0;
  std::string path;
};

// What `docker push` sends for one image: the config, the layer blobs
// (bottom first), and the manifest naming exactly those (the manifest as
// pulled, or an OCI image manifest built from the blobs of a loaded or
// imported image: the same bytes on every push).
struct PushSource {
  std::string id;
  PushBlob config;
  std::vector<PushBlob> layers;
  std::string manifest;
  std::string manifest_media_type;
  // Pins the image while any copy of this PushSource lives: until then
  // ImageStore::remove() of it is kFailedPrecondition ("in use by a push"),
  // so the blob files above stay. The store must outlive it.
  std::shared_ptr<void> pin;
};

struct ResolvedImage {
  ImageInfo info;
  ImageConfig config;
  std::vector<std::string> layer_dirs;  // bottom layer first
};

// Caps on what one image may cost; exceeding one is kInvalidArgument
// saying the limit.
struct ImageLimits {
  // Per archive: a layer, or a whole `docker save` / OCI archive, unpacked.
  int64_t max_unpacked_bytes = kDefaultMaxUnpackedBytes;
  // Per archive, its entries (files, directories, links, ...).
  int64_t max_entries = kDefaultMaxEntries;
  // An image config, manifest, index or manifest.json.
  size_t max_json_bytes = size_t{4} << 20;
  // Layers per image (overlayfs stacks ~500 lower dirs; Docker allows 125).
  size_t max_layers = 128;
  // An archive uploaded through the API (`docker load`, `docker import`):
  // larger is 413 (streamed to a spool file as it arrives: a cap on disk use).
  int64_t max_upload_bytes = int64_t{1} << 30;
};

class ImageStore {
 public:
  // Keeps everything under <root>/images. Call open() before anything else.
  explicit ImageStore(std::string root, ImageLimits limits = {});
  ImageStore(const ImageStore&) = delete;
  ImageStore& operator=(const ImageStore&) = delete;

  // Creates the directories, clears leftover scratch space and reads the
  // images and references on disk.
  Status open();

  // `docker import`: the rootfs tarball (optionally compressed) becomes the
  // single layer of a new image tagged `ref`, with `config` as its config.
  // An image without Cmd and Entrypoint gets Cmd ["sh"]. Returns the id.
  Result<std::string> import_rootfs(const std::string& tar_path, const std::string& ref,
                                    const ImageConfig& config = {});
  Result<std::string> import_rootfs(std::istream& tar, const std::string& ref, const ImageConfig& config = {});

  // `docker load`: a `docker save` archive (manifest.json, configs, layer
  // tars, gzip or not) or an OCI image layout (oci-layout, index.json,
  // blobs/). Returns the refs loaded, or the ids of untagged images.
  Result<std::vector<std::string>> load(const std::string& archive_path);

  // A pulled image (agent/image_puller.h): its config and its layer blobs
  // (compressed tars, digests already checked, bottom first), tagged with
  // `refs` (familiar) and `digests` ("name@sha256:<manifest>"). An image
  // already present (same config digest) is only tagged. Every check of
  // load() applies (diff ids, caps, the unpack rules). Returns the id.
  // `manifest` (the manifest as pulled, its media type) is kept for a push.
  // An image already here without its layer blobs (stored before they were
  // kept) gets them now.
  Result<std::string> add_pulled(const std::string& config_bytes, const std::vector<std::string>& layer_paths,
                                 const std::vector<std::string>& refs, const std::vector<std::string>& digests,
                                 const std::string& manifest = "", const std::string& manifest_media_type = "");
  // True when the image `id` is here with the layer blobs a push needs.
  bool has_image_blobs(const std::string& id) const;
  // What a push of `ref` sends (see PushSource). kNotFound: no such image;
  // kFailedPrecondition: stored before blobs were kept (pull or load it again).
  Result<PushSource> push_source(const std::string& ref);
  // After a push: `name_at_digest` ("name@sha256:...") also names image `id`
  // (its RepoDigests), as Docker records a pushed digest.
  Status add_digest(const std::string& id, const std::string& name_at_digest);
  // `docker tag SOURCE TARGET`: the image `source` (a reference or id) is
  // also `target` (a reference with a tag, not a digest), which moves off
  // any image it named before. kNotFound / kInvalidArgument say why not.
  Status tag(const std::string& source, const std::string& target);
  // True when the image `id` ("sha256:<hex>") is here.
  bool has_image(const std::string& id) const;

  // A directory private to shoald (0700, inside the store, emptied by
  // open()) for uploads on their way to import_rootfs or load.
  std::string scratch_dir() const { return root_ + "/tmp"; }
  const ImageLimits& limits() const { return limits_; }
  // Tests only: replaces what makes an unpacked layer durable before it is
  // renamed into place (sync_tree). Call before any load or import.
  void set_layer_sync_for_test(std::function<Status(const std::string& dir)> sync) { layer_sync_ = std::move(sync); }

  // Every image, newest first.
  Result<std::vector<ImageInfo>> list();

  // `ref` is a reference ("busybox", "x/y:1", "name@sha256:...") or an image
  // id ("sha256:<hex>" or a unique hex prefix of at least 12 digits).
  // kInvalidArgument for a malformed reference; kNotFound says how to make
  // the image available.
  Result<ResolvedImage> resolve(const std::string& ref);

  // `docker rmi`: untags `ref`; once an image has no refs left it is deleted
  // with its layers no other image uses. Refuses (kFailedPrecondition) to
  // delete an image whose layers are mounted by a container, and to delete
  // by id an image that still has several refs.
  Status remove(const std::string& ref);

 private:
  struct Image {
    ImageInfo info;
    ImageConfig config;
    std::vector<std::string> diff_ids;  // hex, bottom first
    // For a push (push/<hex>.json); none for an image stored before.
    bool has_blobs = false;
    std::vector<PushBlob> blobs;  // layer blobs, bottom first (path unset)
    std::string manifest, manifest_media_type;  // as pulled; empty if not pulled
    int pushes = 0;  // live PushSource pins (push_source); remove() refuses while > 0
  };
  struct LayerFile {
    std::string path;
    std::string expected_diff_id;  // hex; empty: unknown
    std::string label;             // for messages: "layer sha256:..." or "the rootfs tarball"
  };

  std::string blob_path(const std::string& hex) const;
  std::string layer_dir(const std::string& hex) const;
  // Unpacks the layer unless already there; returns its diff id (hex).
  Result<std::string> ensure_layer(const LayerFile& layer);
  // Stores the config blob, the layers, and tags; returns the image id.
  // `manifest`: the manifest as pulled, kept for a push ("" if not pulled).
  Result<std::string> add_image(const std::string& config_bytes, const std::vector<LayerFile>& layers,
                                const std::vector<std::string>& refs, const std::vector<std::string>& digests,
                                const std::string& manifest = "", const std::string& manifest_media_type = "");
  Result<Image> parse_config(const std::string& id_hex, const std::string& bytes) const;
  // image_store_push.cc: the layer blobs of an image being added, kept under
  // layer-blobs/ (hard link, else copy) and described in push/<hex>.json.
  std::string layer_blob_path(const std::string& hex) const;
  std::string push_record_path(const std::string& image_hex) const;
  Status keep_blobs(const std::string& image_hex, const std::vector<LayerFile>& layers, const std::string& manifest,
                    const std::string& manifest_media_type, Image* img);
  // Reads push/<hex>.json into img (none: has_blobs stays false).
  void read_push_record(const std::string& image_hex, Image* img) const;
  // Requires write_mu_ and mu_: removes the blobs of `id` no other image
  // lists, and its record.
  void free_blobs_locked(const std::string& id);
  // Releases one PushSource pin of `id` (takes mu_).
  void unpin_push(const std::string& id);
  Result<std::vector<std::string>> load_docker_save(const std::string& dir);
  Result<std::vector<std::string>> load_oci_layout(const std::string& dir);
  // The path of the OCI layout blob `desc` names, digest and size checked;
  // with `read`, its bytes (JSON, capped) in *bytes instead.
  Result<std::string> oci_blob(const std::string& dir, const nlohmann::json& desc, bool read, std::string* bytes);
  // Requires mu_. Finds the id an id or reference names; "" if none.
  std::string find_locked(const std::string& ref, std::string* familiar) const;
  void refresh_refs_locked();
  Status save_repositories_locked();

  const std::string root_;  // <root>/images
  const ImageLimits limits_;
  std::function<Status(const std::string& dir)> layer_sync_ = sync_tree;
  std::mutex write_mu_;     // serializes import/load/remove
  mutable std::mutex mu_;   // guards the maps below
  std::map<std::string, Image> images_;       // id -> image
  std::map<std::string, std::string> refs_;   // familiar ref -> id
  std::map<std::string, std::string> digests_;  // name@sha256:... -> id
};

}  // namespace shoal::runtime
