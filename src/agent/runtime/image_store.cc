#include "agent/runtime/image_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include <nlohmann/json.hpp>

#include "agent/runtime/layer.h"
#include "common/files.h"
#include "common/ids.h"
#include "os/safe_path.h"
#include "common/image_reference.h"
#include "common/json_limits.h"
#include "common/time.h"

namespace shoal::runtime {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kNoImageAdvice =
    " (this node has no registry access: build the example images with images/build.sh, then "
    "`shoal image import ROOTFS.tar NAME:TAG` or `shoal image load -i ARCHIVE.tar`)";

std::vector<std::string> strings(const json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key) && j[key].is_array())
    for (const auto& s : j[key])
      if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

std::string string_field(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

// JSON an archive holds is untrusted: parsed with bounded nesting, since
// copying a nlohmann::json (value(), a const json c = j[...]) recurses per
// level and 4 MiB of '[' would overflow the stack. Throws what json::parse
// throws (std::exception) so the callers' handlers stay as they are.
json parse_archive_json(const std::string& text, const std::string& what) {
  auto j = parse_untrusted_json(text, what);
  if (!j.ok()) throw std::invalid_argument(j.status().message());
  return std::move(*j);
}

bool is_hex(const std::string& s) { return s.find_first_not_of("0123456789abcdef") == std::string::npos; }

// "sha256:<64 hex>" -> hex, else "".
std::string digest_hex(const std::string& digest) {
  if (digest.rfind("sha256:", 0) != 0) return "";
  std::string hex = digest.substr(7);
  return hex.size() == 64 && is_hex(hex) ? hex : "";
}

std::string go_arch() {
  struct utsname u {};
  uname(&u);
  std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  return m;
}

// A regular file that the archive's manifest names, opened inside the
// unpacked archive `dir` (symlinks resolved as if `dir` were "/"): its real
// path, which has no symlink left in it.
Result<std::string> member_file(const std::string& dir, const std::string& rel) {
  if (rel.empty()) return invalid_argument("the archive's manifest names a file without a name");
  auto fd = os::open_regular_in_root(dir, rel);
  if (!fd.ok()) {
    if (fd.status().code() == Code::kNotFound) {
      return invalid_argument("the archive lacks \"" + os::printable(rel) + "\", which its manifest lists");
    }
    return invalid_argument("the archive's manifest names " + fd.status().message());
  }
  std::string proc = "/proc/self/fd/" + std::to_string(fd->get());
  std::error_code ec;
  fs::path real = fs::read_symlink(proc, ec);
  if (ec) return internal_error("resolving " + proc + ": " + ec.message());
  return real.string();
}

// The bytes of a JSON file the archive holds (manifest.json, index.json, a
// config or manifest blob), read as member_file() finds it, capped.
Result<std::string> member_json(const std::string& dir, const std::string& rel, size_t max_bytes) {
  auto bytes = os::read_file_in_root(dir, rel, max_bytes);
  if (bytes.ok()) return bytes;
  if (bytes.status().code() == Code::kNotFound) {
    return invalid_argument("the archive lacks \"" + os::printable(rel) + "\", which it needs");
  }
  return invalid_argument("in the archive, " + bytes.status().message());
}

bool member_exists(const std::string& dir, const std::string& rel) {
  os::UniqueFd root(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return false;
  os::UniqueFd f(os::open_in_root(root.get(), rel, O_PATH, os::Resolve::kInRoot));
  return f.valid();
}

// The digest a docker save member's name carries ("<hex>.json" or
// "blobs/sha256/<hex>"), or "".
std::string digest_in_name(const std::string& rel) {
  std::string s = rel;
  if (s.rfind("./", 0) == 0) s = s.substr(2);
  if (s.rfind("blobs/sha256/", 0) == 0) s = s.substr(13);
  if (s.size() == 69 && s.compare(64, 5, ".json") == 0) s = s.substr(0, 64);
  return s.size() == 64 && is_hex(s) ? s : "";
}

Status digest_mismatch(const std::string& what, const std::string& want, const std::string& got) {
  return invalid_argument(what + " sha256:" + want + " does not match its content (which hashes to sha256:" + got +
                          "): the archive is corrupt or was tampered with");
}

// A scratch directory removed on scope exit.
struct ScratchDir {
  std::string path;
  ~ScratchDir() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

bool layer_mounted(const std::string& layer_dir) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    size_t p = line.find(layer_dir);
    if (p == std::string::npos) continue;
    size_t end = p + layer_dir.size();
    if (end == line.size() || line[end] == ':' || line[end] == ',' || line[end] == ' ') return true;
  }
  return false;
}

}  // namespace

ImageStore::ImageStore(std::string root, ImageLimits limits)
    : root_(std::move(root) + "/images"), limits_(limits) {}

std::string ImageStore::blob_path(const std::string& hex) const { return root_ + "/blobs/sha256/" + hex; }
std::string ImageStore::layer_dir(const std::string& hex) const { return root_ + "/layers/" + hex; }

Status ImageStore::open() {
  std::error_code ec;
  for (const char* sub : {"/blobs/sha256", "/layers", "/tmp", "/layer-blobs", "/push"}) {
    fs::create_directories(root_ + sub, ec);
    if (ec) return internal_error("creating " + root_ + sub + ": " + ec.message() + " (is the data root writable?)");
  }
  // Private to shoald: unpacked layers and uploads are nobody else's to read.
  for (const std::string& d : {root_, root_ + "/tmp"}) {
    if (chmod(d.c_str(), 0700) != 0) return errno_status("making " + d + " private (chmod 0700)", errno);
  }
  for (const auto& e : fs::directory_iterator(root_ + "/tmp", ec)) fs::remove_all(e.path(), ec);
  for (const char* sub : {"/layers", "/layer-blobs"}) {
    for (const auto& e : fs::directory_iterator(root_ + sub, ec)) {
      if (e.path().filename().string().find(".tmp-") != std::string::npos) fs::remove_all(e.path(), ec);
    }
  }
  std::map<std::string, Image> images;
  for (const auto& e : fs::directory_iterator(root_ + "/blobs/sha256", ec)) {
    std::string hex = e.path().filename().string();
    if (hex.size() != 64 || !is_hex(hex)) continue;
    auto bytes = read_whole_file(e.path().string());
    if (!bytes.ok()) return bytes.status().with_context("opening the image store");
    auto img = parse_config(hex, *bytes);
    if (!img.ok()) continue;
    read_push_record(hex, &*img);
    images["sha256:" + hex] = std::move(*img);
  }
  std::map<std::string, std::string> refs, digests;
  auto repos = read_whole_file(root_ + "/repositories.json");
  if (repos.ok()) {
    try {
      const json j = parse_archive_json(*repos, "repositories.json");
      const json repositories = j.value("Repositories", json::object());
      const json digest_refs = j.value("Digests", json::object());
      for (const auto& [ref, id] : repositories.items())
        if (images.count(id.get<std::string>())) refs[ref] = id.get<std::string>();
      for (const auto& [ref, id] : digest_refs.items())
        if (images.count(id.get<std::string>())) digests[ref] = id.get<std::string>();
    } catch (const std::exception& e) {
      return internal_error("corrupt " + root_ + "/repositories.json: " + e.what() +
                            " (fix or delete it; images stay, their names are lost)");
    }
  } else if (repos.status().code() != Code::kNotFound) {
    return repos.status().with_context("opening the image store");
  }
  std::lock_guard lk(mu_);
  images_ = std::move(images);
  refs_ = std::move(refs);
  digests_ = std::move(digests);
  refresh_refs_locked();
  return ok_status();
}

Result<ImageStore::Image> ImageStore::parse_config(const std::string& id_hex, const std::string& bytes) const {
  Image img;
  try {
    json j = parse_archive_json(bytes, "the image config");
    if (!j.is_object() || !j.contains("rootfs")) return invalid_argument("not an image config (no rootfs)");
    const json c = j.contains("config") && j["config"].is_object() ? j["config"] : json::object();
    img.config.entrypoint = strings(c, "Entrypoint");
    img.config.cmd = strings(c, "Cmd");
    img.config.env = strings(c, "Env");
    img.config.working_dir = string_field(c, "WorkingDir");
    img.config.user = string_field(c, "User");
    img.config.stop_signal = string_field(c, "StopSignal");
    for (const auto& d : strings(j["rootfs"], "diff_ids")) {
      std::string hex = digest_hex(d);
      if (hex.empty()) return invalid_argument("the image config lists an invalid diff id \"" + os::printable(d, 80) + "\"");
      img.diff_ids.push_back(hex);
    }
    auto created = parse_rfc3339(string_field(j, "created"));
    if (created.ok()) {
      img.info.created = std::chrono::duration_cast<std::chrono::seconds>(created->time_since_epoch()).count();
    }
  } catch (const std::exception& e) {
    return invalid_argument(std::string("malformed image config: ") + e.what());
  }
  img.info.id = "sha256:" + id_hex;
  for (const auto& d : img.diff_ids) {
    auto size = read_whole_file(layer_dir(d) + ".size");
    if (size.ok()) img.info.size += std::atoll(size->c_str());
  }
  return img;
}

Result<std::string> ImageStore::ensure_layer(const LayerFile& layer) {
  auto computed = sha256_uncompressed(layer.path, limits_.max_unpacked_bytes);
  if (!computed.ok()) return computed.status().with_context(layer.label);
  const std::string diff = *computed;
  if (!layer.expected_diff_id.empty() && diff != layer.expected_diff_id) {
    return invalid_argument(layer.label + " has diff id sha256:" + diff + " but the image config says sha256:" +
                            layer.expected_diff_id + " (the archive is corrupt or was tampered with)");
  }
  std::string dir = layer_dir(diff);
  if (fs::exists(dir)) return diff;
  // Unpacked into a scratch directory next to its final place, renamed in
  // only when complete; removed on every failure (and by open() after a crash).
  std::string tmp = dir + ".tmp-" + new_object_id();
  ScratchDir cleanup{tmp};
  if (mkdir(tmp.c_str(), 0755) != 0) return errno_status("creating " + tmp, errno);
  UnpackOptions opts;
  opts.max_bytes = limits_.max_unpacked_bytes;
  opts.max_entries = limits_.max_entries;
  opts.label = layer.label;
  UnpackStats stats;
  SHOAL_RETURN_IF_ERROR(unpack_archive(layer.path, tmp, opts, &stats));
  // Every file's data on disk before the rename publishes the layer: a crash
  // cannot leave a published layer with empty or short files.
  SHOAL_RETURN_IF_ERROR(layer_sync_(tmp).with_context(layer.label));
  SHOAL_RETURN_IF_ERROR(write_file_atomic(dir + ".size", std::to_string(stats.bytes), 0600));
  // Durable: the directory's entry is synced, so a crash after "loaded" does
  // not leave a .size file without its layer (ScratchDir removes tmp on error).
  if (Status st = rename_durable(tmp, dir); !st.ok()) {
    std::error_code ec;
    fs::remove(dir + ".size", ec);
    return st;
  }
  cleanup.path.clear();
  return diff;
}

Result<std::string> ImageStore::add_image(const std::string& config_bytes, const std::vector<LayerFile>& layers,
                                          const std::vector<std::string>& refs,
                                          const std::vector<std::string>& digests, const std::string& manifest,
                                          const std::string& manifest_media_type) {
  std::string hex = sha256_hex(config_bytes);
  std::string id = "sha256:" + hex;
  SHOAL_ASSIGN_OR_RETURN(Image img, parse_config(hex, config_bytes));
  if (img.diff_ids.size() != layers.size()) {
    return invalid_argument("the image config lists " + std::to_string(img.diff_ids.size()) +
                            " layers but the manifest " + std::to_string(layers.size()));
  }
  if (layers.size() > limits_.max_layers) {
    return invalid_argument("the image has " + std::to_string(layers.size()) + " layers, more than the limit of " +
                            std::to_string(limits_.max_layers));
  }
  img.info.size = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    LayerFile l = layers[i];
    l.expected_diff_id = img.diff_ids[i];
    if (l.label.empty()) l.label = "layer sha256:" + l.expected_diff_id;
    SHOAL_ASSIGN_OR_RETURN(std::string diff, ensure_layer(l));
    (void)diff;
    auto size = read_whole_file(layer_dir(img.diff_ids[i]) + ".size");
    if (size.ok()) img.info.size += std::atoll(size->c_str());
  }
  bool kept = false;
  {
    std::lock_guard lk(mu_);
    kept = images_.count(id) && images_[id].has_blobs;
  }
  // Before the config: an image on disk has its blobs from the start.
  if (!kept) SHOAL_RETURN_IF_ERROR(keep_blobs(hex, layers, manifest, manifest_media_type, &img));
  if (!fs::exists(blob_path(hex))) SHOAL_RETURN_IF_ERROR(write_file_atomic(blob_path(hex), config_bytes));
  std::lock_guard lk(mu_);
  if (!images_.count(id)) {
    images_[id] = std::move(img);
  } else if (!kept) {
    Image& old = images_[id];
    old.has_blobs = img.has_blobs;
    old.blobs = img.blobs;
    old.manifest = img.manifest;
    old.manifest_media_type = img.manifest_media_type;
  }
  for (const auto& r : refs) refs_[r] = id;
  for (const auto& d : digests) digests_[d] = id;
  refresh_refs_locked();
  SHOAL_RETURN_IF_ERROR(save_repositories_locked());
  return id;
}

void ImageStore::refresh_refs_locked() {
  for (auto& [_, im] : images_) {
    im.info.refs.clear();
    im.info.digests.clear();
  }
  for (const auto& [ref, id] : refs_) images_[id].info.refs.push_back(ref);
  for (const auto& [ref, id] : digests_) images_[id].info.digests.push_back(ref);
}

Status ImageStore::save_repositories_locked() {
  json j = {{"Repositories", refs_}, {"Digests", digests_}};
  return write_file_atomic(root_ + "/repositories.json", j.dump(2) + "\n")
      .with_context("saving the image references");
}

Result<std::string> ImageStore::import_rootfs(const std::string& tar_path, const std::string& ref_text,
                                              const ImageConfig& config) {
  SHOAL_ASSIGN_OR_RETURN(Reference ref, parse_reference(ref_text));
  if (!ref.digest.empty()) {
    return invalid_argument("cannot import into the digest reference \"" + ref_text + "\": give NAME[:TAG]");
  }
  std::lock_guard wlk(write_mu_);
  auto computed = sha256_uncompressed(tar_path, limits_.max_unpacked_bytes);
  if (!computed.ok()) return computed.status().with_context("importing the rootfs tarball");
  const std::string diff = *computed;
  std::string created = format_rfc3339(std::chrono::system_clock::now());
  json c = json::object();
  std::vector<std::string> cmd = config.cmd;
  if (cmd.empty() && config.entrypoint.empty()) cmd = {"sh"};
  if (!config.entrypoint.empty()) c["Entrypoint"] = config.entrypoint;
  c["Cmd"] = cmd;
  c["Env"] = config.env.empty()
                 ? std::vector<std::string>{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
                 : config.env;
  if (!config.working_dir.empty()) c["WorkingDir"] = config.working_dir;
  if (!config.user.empty()) c["User"] = config.user;
  if (!config.stop_signal.empty()) c["StopSignal"] = config.stop_signal;
  json image = {{"architecture", go_arch()},
                {"os", "linux"},
                {"created", created},
                {"config", c},
                {"rootfs", {{"type", "layers"}, {"diff_ids", {"sha256:" + diff}}}},
                {"history", {{{"created", created}, {"comment", "Imported from " + fs::path(tar_path).filename().string()}}}}};
  auto id = add_image(image.dump(), {{tar_path, diff, "the rootfs tarball"}}, {ref.familiar()}, {});
  if (!id.ok()) return id.status().with_context("importing " + fs::path(tar_path).filename().string() + " as " + ref.familiar());
  return id;
}

Result<std::string> ImageStore::import_rootfs(std::istream& tar, const std::string& ref, const ImageConfig& config) {
  std::string path = scratch_dir() + "/import-" + new_object_id() + ".tar";
  ScratchDir cleanup{path};
  {
    os::UniqueFd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out.valid()) return errno_status("creating " + path, errno);
    char buf[1 << 16];
    while (tar.read(buf, sizeof buf) || tar.gcount() > 0) {
      const char* p = buf;
      size_t n = static_cast<size_t>(tar.gcount());
      while (n > 0) {
        ssize_t w = ::write(out.get(), p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return errno_status("spooling the imported tarball to " + path + " (disk full?)", errno);
        p += w;
        n -= static_cast<size_t>(w);
      }
    }
  }
  return import_rootfs(path, ref, config);
}

Result<std::vector<std::string>> ImageStore::load(const std::string& archive_path) {
  std::lock_guard wlk(write_mu_);
  ScratchDir dir{scratch_dir() + "/load-" + new_object_id()};
  if (mkdir(dir.path.c_str(), 0700) != 0) return errno_status("creating " + dir.path, errno);
  UnpackOptions plain;
  plain.overlay_whiteouts = false;
  plain.max_bytes = limits_.max_unpacked_bytes;
  plain.max_entries = limits_.max_entries;
  plain.label = "the archive";
  SHOAL_RETURN_IF_ERROR(unpack_archive(archive_path, dir.path, plain).with_context("loading the archive"));
  Result<std::vector<std::string>> loaded = std::vector<std::string>{};
  try {
    if (member_exists(dir.path, "manifest.json")) {
      loaded = load_docker_save(dir.path);
    } else if (member_exists(dir.path, "index.json")) {
      loaded = load_oci_layout(dir.path);
    } else {
      return invalid_argument(
          "the archive is neither a `docker save` archive (manifest.json) nor an OCI image layout "
          "(index.json); to make an image of a root filesystem tarball use `shoal image import FILE NAME:TAG`");
    }
  } catch (const std::exception& e) {  // a JSON document of an unexpected shape
    loaded = invalid_argument(std::string("malformed manifest: ") + os::printable(e.what(), 200));
  }
  if (!loaded.ok()) return loaded.status().with_context("loading the archive");
  return loaded;
}

Result<std::vector<std::string>> ImageStore::load_docker_save(const std::string& dir) {
  std::vector<std::string> out;
  json manifest;
  SHOAL_ASSIGN_OR_RETURN(std::string text, member_json(dir, "manifest.json", limits_.max_json_bytes));
  try {
    manifest = parse_archive_json(text, "manifest.json");
  } catch (const std::exception& e) {
    return invalid_argument(std::string("malformed manifest.json: ") + os::printable(e.what(), 200));
  }
  if (!manifest.is_array()) return invalid_argument("manifest.json is not a list of images");
  for (const auto& m : manifest) {
    if (!m.is_object()) return invalid_argument("manifest.json lists something that is not an image");
    std::string config_name = string_field(m, "Config");
    SHOAL_ASSIGN_OR_RETURN(std::string config_bytes, member_json(dir, config_name, limits_.max_json_bytes));
    if (std::string want = digest_in_name(config_name); !want.empty() && sha256_hex(config_bytes) != want) {
      return digest_mismatch("the image config", want, sha256_hex(config_bytes));
    }
    std::vector<LayerFile> layers;
    for (const auto& l : strings(m, "Layers")) {
      SHOAL_ASSIGN_OR_RETURN(std::string p, member_file(dir, l));
      if (std::string want = digest_in_name(l); !want.empty()) {
        SHOAL_ASSIGN_OR_RETURN(std::string got, sha256_file(p));
        if (got != want) return digest_mismatch("the layer blob", want, got);
      }
      layers.push_back({p, "", ""});
    }
    std::vector<std::string> refs;
    for (const auto& t : strings(m, "RepoTags")) {
      SHOAL_ASSIGN_OR_RETURN(Reference r, parse_reference(t));
      refs.push_back(r.familiar());
    }
    SHOAL_ASSIGN_OR_RETURN(std::string id, add_image(config_bytes, layers, refs, {}));
    if (refs.empty()) out.push_back(id);
    out.insert(out.end(), refs.begin(), refs.end());
  }
  return out;
}

// A blob of an OCI layout named by the descriptor `desc`: its digest (and
// size, when the descriptor gives one) checked. JSON blobs are read (capped).
Result<std::string> ImageStore::oci_blob(const std::string& dir, const json& desc, bool read, std::string* bytes) {
  std::string digest = string_field(desc, "digest");
  std::string hex = digest_hex(digest);
  if (hex.empty()) return invalid_argument("a descriptor has the invalid digest \"" + os::printable(digest) + "\"");
  std::string rel = "blobs/sha256/" + hex;
  std::string got;
  int64_t size = 0;
  if (read) {
    SHOAL_ASSIGN_OR_RETURN(*bytes, member_json(dir, rel, limits_.max_json_bytes));
    got = sha256_hex(*bytes);
    size = static_cast<int64_t>(bytes->size());
  } else {
    SHOAL_ASSIGN_OR_RETURN(std::string path, member_file(dir, rel));
    SHOAL_ASSIGN_OR_RETURN(got, sha256_file(path));
    std::error_code ec;
    size = static_cast<int64_t>(fs::file_size(path, ec));
    rel = path;
  }
  if (got != hex) return digest_mismatch("the blob", hex, got);
  if (desc.contains("size") && (!desc["size"].is_number_integer() || desc["size"].get<int64_t>() != size)) {
    return invalid_argument("the blob " + digest + " has " + std::to_string(size) +
                            " bytes, not the size its descriptor says: the archive is corrupt or was tampered with");
  }
  return rel;
}

Result<std::vector<std::string>> ImageStore::load_oci_layout(const std::string& dir) {
  auto parse_blob = [&](const json& desc) -> Result<json> {
    std::string text;
    SHOAL_RETURN_IF_ERROR(oci_blob(dir, desc, /*read=*/true, &text).status());
    try {
      return parse_archive_json(text, "a blob");
    } catch (const std::exception& e) {
      return invalid_argument("malformed blob " + string_field(desc, "digest") + ": " + os::printable(e.what(), 200));
    }
  };
  // Manifests to load, with the ref each names (from the outermost index).
  std::vector<std::pair<json, std::string>> manifests;
  std::string arch = go_arch();
  std::function<Status(const json&, const std::string&, int)> walk = [&](const json& index, const std::string& name,
                                                                        int depth) -> Status {
    if (depth > 4) return invalid_argument("image indexes nest too deep");
    if (!index.is_object()) return invalid_argument("an image index is not a JSON object");
    for (const auto& d : index.value("manifests", json::array())) {
      if (!d.is_object()) return invalid_argument("an image index lists a manifest that is not a descriptor");
      std::string ref = name;
      if (ref.empty() && d.contains("annotations") && d["annotations"].is_object()) {
        const json& a = d["annotations"];
        ref = string_field(a, "io.containerd.image.name");
        std::string oci_name = string_field(a, "org.opencontainers.image.ref.name");
        if (ref.empty() && oci_name.find_first_of(":/") != std::string::npos) ref = oci_name;
      }
      if (d.contains("platform") && d["platform"].is_object()) {
        const json& p = d["platform"];
        if (string_field(p, "os") != "linux" || string_field(p, "architecture") != arch) continue;
      }
      std::string media = string_field(d, "mediaType");
      if (media.find("index") != std::string::npos || media.find("manifest.list") != std::string::npos) {
        SHOAL_ASSIGN_OR_RETURN(json inner, parse_blob(d));
        SHOAL_RETURN_IF_ERROR(walk(inner, ref, depth + 1));
      } else {
        manifests.emplace_back(d, ref);
      }
    }
    return ok_status();
  };
  SHOAL_ASSIGN_OR_RETURN(std::string text, member_json(dir, "index.json", limits_.max_json_bytes));
  try {
    SHOAL_RETURN_IF_ERROR(walk(parse_archive_json(text, "index.json"), "", 0));
  } catch (const std::exception& e) {
    return invalid_argument(std::string("malformed index.json: ") + os::printable(e.what(), 200));
  }
  if (manifests.empty()) return invalid_argument("the OCI layout holds no image for linux/" + arch);
  std::vector<std::string> out;
  for (const auto& [desc, name] : manifests) {
    SHOAL_ASSIGN_OR_RETURN(json manifest, parse_blob(desc));
    if (!manifest.is_object() || !manifest.contains("config")) continue;  // e.g. attestation manifests
    std::string config_bytes;
    SHOAL_RETURN_IF_ERROR(oci_blob(dir, manifest["config"], /*read=*/true, &config_bytes).status());
    std::vector<LayerFile> layers;
    for (const auto& l : manifest.value("layers", json::array())) {
      SHOAL_ASSIGN_OR_RETURN(std::string p, oci_blob(dir, l, /*read=*/false, nullptr));
      layers.push_back({p, "", ""});
    }
    std::vector<std::string> refs, digests;
    if (!name.empty()) {
      SHOAL_ASSIGN_OR_RETURN(Reference r, parse_reference(name));
      if (r.digest.empty()) refs.push_back(r.familiar());
      digests.push_back(r.familiar_name() + "@" + string_field(desc, "digest"));
    }
    SHOAL_ASSIGN_OR_RETURN(std::string id, add_image(config_bytes, layers, refs, digests));
    if (refs.empty()) out.push_back(id);
    out.insert(out.end(), refs.begin(), refs.end());
  }
  return out;
}

Result<std::string> ImageStore::add_pulled(const std::string& config_bytes,
                                           const std::vector<std::string>& layer_paths,
                                           const std::vector<std::string>& refs,
                                           const std::vector<std::string>& digests, const std::string& manifest,
                                           const std::string& manifest_media_type) {
  std::lock_guard wl(write_mu_);
  const std::string id = "sha256:" + sha256_hex(config_bytes);
  {
    std::lock_guard lk(mu_);
    if (images_.count(id) && images_[id].has_blobs) {
      for (const auto& r : refs) refs_[r] = id;
      for (const auto& d : digests) digests_[d] = id;
      refresh_refs_locked();
      SHOAL_RETURN_IF_ERROR(save_repositories_locked());
      return id;
    }
  }
  std::vector<LayerFile> layers;
  for (const auto& p : layer_paths) layers.push_back({p, "", ""});
  return add_image(config_bytes, layers, refs, digests, manifest, manifest_media_type);
}

bool ImageStore::has_image(const std::string& id) const {
  std::lock_guard lk(mu_);
  return images_.count(id) > 0;
}

Result<std::vector<ImageInfo>> ImageStore::list() {
  std::lock_guard lk(mu_);
  std::vector<ImageInfo> out;
  for (const auto& [_, im] : images_) out.push_back(im.info);
  std::stable_sort(out.begin(), out.end(), [](const ImageInfo& a, const ImageInfo& b) { return a.created > b.created; });
  return out;
}

std::string ImageStore::find_locked(const std::string& ref, std::string* familiar) const {
  std::string hex = ref.rfind("sha256:", 0) == 0 ? ref.substr(7) : ref;
  if (hex.size() >= 12 && hex.size() <= 64 && is_hex(hex)) {
    std::string found;
    for (const auto& [id, _] : images_) {
      if (id.compare(7, hex.size(), hex) != 0) continue;
      if (!found.empty()) return "";  // ambiguous
      found = id;
    }
    if (!found.empty()) {
      *familiar = found;
      return found;
    }
  }
  auto parsed = parse_reference(ref);
  if (!parsed.ok()) return "";
  *familiar = parsed->familiar();
  auto& map = parsed->digest.empty() ? refs_ : digests_;
  auto it = map.find(*familiar);
  if (it != map.end()) return it->second;
  if (!parsed->digest.empty() && images_.count(parsed->digest)) return parsed->digest;  // name@<image id>
  return "";
}

// The error for a reference no image answers to: invalid references say
// why; valid ones are "No such image", with `advice` appended when asked.
Status missing_image(const std::string& ref, bool advice) {
  auto parsed = parse_reference(ref);
  if (!parsed.ok() && !is_hex(ref)) return parsed.status();
  if (!advice) return not_found("No such image: " + ref);
  return not_found("No such image: " + (parsed.ok() ? parsed->familiar() : ref) + kNoImageAdvice);
}

Result<ResolvedImage> ImageStore::resolve(const std::string& ref) {
  std::lock_guard lk(mu_);
  std::string familiar;
  std::string id = find_locked(ref, &familiar);
  if (id.empty()) return missing_image(ref, /*advice=*/true);
  const Image& im = images_.at(id);
  ResolvedImage r;
  r.info = im.info;
  r.config = im.config;
  for (const auto& d : im.diff_ids) r.layer_dirs.push_back(layer_dir(d));
  return r;
}

Status ImageStore::remove(const std::string& ref) {
  std::lock_guard wlk(write_mu_);
  std::lock_guard lk(mu_);
  std::string familiar;
  std::string id = find_locked(ref, &familiar);
  if (id.empty()) return missing_image(ref, /*advice=*/false);
  Image& im = images_.at(id);
  bool by_id = familiar == id;
  if (by_id && im.info.refs.size() > 1) {
    std::string names;
    for (const auto& r : im.info.refs) names += (names.empty() ? "" : ", ") + r;
    return failed_precondition("image " + id.substr(7, 12) + " is referenced by " + names +
                               ": remove those references by name");
  }
  size_t refs_left = im.info.refs.size() - (by_id ? im.info.refs.size() : refs_.count(familiar));
  if (refs_left == 0) {
    if (im.pushes > 0) {
      return failed_precondition("image " + (by_id ? id.substr(7, 12) : familiar) +
                                 " is in use by a push: retry when it ends");
    }
    std::set<std::string> used_elsewhere;
    for (const auto& [other, o] : images_)
      if (other != id) used_elsewhere.insert(o.diff_ids.begin(), o.diff_ids.end());
    for (const auto& d : im.diff_ids) {
      if (layer_mounted(layer_dir(d))) {
        return failed_precondition("image " + (by_id ? id.substr(7, 12) : familiar) +
                                   " is in use by a container: remove the container first");
      }
    }
    std::error_code ec;
    for (const auto& d : im.diff_ids) {
      if (used_elsewhere.count(d)) continue;
      fs::remove_all(layer_dir(d), ec);
      fs::remove(layer_dir(d) + ".size", ec);
    }
    fs::remove(blob_path(id.substr(7)), ec);
    free_blobs_locked(id);
    std::erase_if(refs_, [&](const auto& kv) { return kv.second == id; });
    std::erase_if(digests_, [&](const auto& kv) { return kv.second == id; });
    images_.erase(id);
  } else {
    refs_.erase(familiar);
    digests_.erase(familiar);
  }
  refresh_refs_locked();
  return save_repositories_locked();
}

Status ImageStore::tag(const std::string& source, const std::string& target) {
  SHOAL_ASSIGN_OR_RETURN(Reference to, parse_reference(target));
  if (!to.digest.empty()) return invalid_argument("tag " + quote_input(target) + ": a tag cannot name a digest");
  std::lock_guard wl(write_mu_);
  std::lock_guard lk(mu_);
  std::string familiar;
  std::string id = find_locked(source, &familiar);
  if (id.empty()) return missing_image(source, /*advice=*/false);
  refs_[to.familiar()] = id;
  refresh_refs_locked();
  return save_repositories_locked();
}

}  // namespace shoal::runtime
