// ImageStore: the node's images, content-addressed under <root>/images:
//   layers/<sha256 of the layer tar>/   unpacked once (overlayfs lower dirs;
//                                       OCI whiteouts turned into overlay ones)
//   index.json                          refs -> image id, image configs
// Images come in by `import` (a rootfs tarball, like `docker import`) and
// `load` (a `docker save` archive, like `docker load`). Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace shoal::runtime {

struct ImageConfig {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;
  std::string working_dir;
  std::string user;
  std::string stop_signal;
};

struct ImageInfo {
  std::string id;  // "sha256:<hex>"
  std::vector<std::string> refs;
  int64_t created = 0;  // unix seconds
  int64_t size = 0;     // bytes unpacked
};

struct ResolvedImage {
  ImageInfo info;
  ImageConfig config;
  std::vector<std::string> layer_dirs;  // bottom first
};

class ImageStore {
 public:
  explicit ImageStore(std::string root);
  Status open();
  // `docker import`: the tarball becomes the single layer of a new image.
  Result<std::string> import_rootfs(const std::string& tar_path, const std::string& ref,
                                    const ImageConfig& config = {});
  // `docker load`: returns the refs loaded.
  Result<std::vector<std::string>> load(const std::string& archive_path);
  Result<std::vector<ImageInfo>> list();
  // kNotFound says how to make the image available.
  Result<ResolvedImage> resolve(const std::string& ref);

 private:
  struct Image {
    ImageInfo info;
    ImageConfig config;
    std::vector<std::string> layers;  // layer ids, bottom first
  };
  Result<std::string> add_layer(const std::string& tar_path, int64_t* size);
  Status save_locked();
  Status tag_locked(const std::string& ref, const std::string& id);

  std::string root_;
  std::mutex mu_;
  std::map<std::string, Image> images_;       // id -> image
  std::map<std::string, std::string> refs_;  // familiar ref -> id
};

// Unpacks a tar (optionally compressed) into dest.
Status extract_tar(const std::string& tar_path, const std::string& dest);
Result<std::string> sha256_file(const std::string& path);

}  // namespace shoal::runtime
