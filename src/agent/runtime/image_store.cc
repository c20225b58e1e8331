#include "agent/runtime/image_store.h"

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
#include "common/ids.h"
#include "common/image_reference.h"
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

// A path named inside an archive, relative to the extracted dir; refuses
// anything that could point outside it.
Result<std::string> inside(const std::string& dir, const std::string& rel) {
  if (rel.empty() || rel[0] == '/' || rel.find("..") != std::string::npos) {
    return invalid_argument("the archive names a file outside itself: \"" + rel + "\"");
  }
  std::string p = dir + "/" + rel;
  if (!fs::exists(p)) return invalid_argument("the archive lacks " + rel + ", which its manifest lists");
  return p;
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

ImageStore::ImageStore(std::string root) : root_(std::move(root) + "/images") {}

std::string ImageStore::blob_path(const std::string& hex) const { return root_ + "/blobs/sha256/" + hex; }
std::string ImageStore::layer_dir(const std::string& hex) const { return root_ + "/layers/" + hex; }

Status ImageStore::open() {
  std::error_code ec;
  for (const char* sub : {"/blobs/sha256", "/layers", "/tmp"}) {
    fs::create_directories(root_ + sub, ec);
    if (ec) return internal_error("creating " + root_ + sub + ": " + ec.message() + " (is the data root writable?)");
  }
  for (const auto& e : fs::directory_iterator(root_ + "/tmp", ec)) fs::remove_all(e.path(), ec);
  for (const auto& e : fs::directory_iterator(root_ + "/layers", ec)) {
    if (e.path().filename().string().find(".tmp-") != std::string::npos) fs::remove_all(e.path(), ec);
  }
  std::map<std::string, Image> images;
  for (const auto& e : fs::directory_iterator(root_ + "/blobs/sha256", ec)) {
    std::string hex = e.path().filename().string();
    if (hex.size() != 64 || !is_hex(hex)) continue;
    auto bytes = read_whole_file(e.path().string());
    if (!bytes.ok()) return bytes.status().with_context("opening the image store");
    auto img = parse_config(hex, *bytes);
    if (img.ok()) images["sha256:" + hex] = std::move(*img);
  }
  std::map<std::string, std::string> refs, digests;
  auto repos = read_whole_file(root_ + "/repositories.json");
  if (repos.ok()) {
    try {
      const json j = json::parse(*repos);
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
    json j = json::parse(bytes);
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
      if (hex.empty()) return invalid_argument("the image config lists an invalid diff id \"" + d + "\"");
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
  SHOAL_ASSIGN_OR_RETURN(std::string diff, sha256_uncompressed(layer.path));
  if (!layer.expected_diff_id.empty() && diff != layer.expected_diff_id) {
    return invalid_argument("layer " + fs::path(layer.path).filename().string() + " has diff id sha256:" + diff +
                            " but the image config says sha256:" + layer.expected_diff_id +
                            " (the archive is corrupt)");
  }
  std::string dir = layer_dir(diff);
  if (fs::exists(dir)) return diff;
  std::string tmp = dir + ".tmp-" + new_object_id();
  std::error_code ec;
  fs::create_directories(tmp, ec);
  if (ec) return internal_error("creating " + tmp + ": " + ec.message());
  int64_t bytes = 0;
  Status st = unpack_archive(layer.path, tmp, {}, &bytes);
  if (st.ok()) st = write_file_atomic(dir + ".size", std::to_string(bytes));
  if (st.ok() && rename(tmp.c_str(), dir.c_str()) != 0 && !fs::exists(dir)) {
    st = errno_status("renaming " + tmp + " to " + dir, errno);
  }
  fs::remove_all(tmp, ec);
  if (!st.ok()) return st.with_context("unpacking layer " + layer.path);
  return diff;
}

Result<std::string> ImageStore::add_image(const std::string& config_bytes, const std::vector<LayerFile>& layers,
                                          const std::vector<std::string>& refs,
                                          const std::vector<std::string>& digests) {
  std::string hex = sha256_hex(config_bytes);
  std::string id = "sha256:" + hex;
  SHOAL_ASSIGN_OR_RETURN(Image img, parse_config(hex, config_bytes));
  if (img.diff_ids.size() != layers.size()) {
    return invalid_argument("the image config lists " + std::to_string(img.diff_ids.size()) +
                            " layers but the manifest " + std::to_string(layers.size()));
  }
  img.info.size = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    LayerFile l = layers[i];
    l.expected_diff_id = img.diff_ids[i];
    SHOAL_ASSIGN_OR_RETURN(std::string diff, ensure_layer(l));
    (void)diff;
    auto size = read_whole_file(layer_dir(img.diff_ids[i]) + ".size");
    if (size.ok()) img.info.size += std::atoll(size->c_str());
  }
  if (!fs::exists(blob_path(hex))) SHOAL_RETURN_IF_ERROR(write_file_atomic(blob_path(hex), config_bytes));
  std::lock_guard lk(mu_);
  if (!images_.count(id)) images_[id] = std::move(img);
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
  SHOAL_ASSIGN_OR_RETURN(std::string diff, sha256_uncompressed(tar_path));
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
  auto id = add_image(image.dump(), {{tar_path, diff}}, {ref.familiar()}, {});
  if (!id.ok()) return id.status().with_context("importing " + tar_path + " as " + ref.familiar());
  return id;
}

Result<std::string> ImageStore::import_rootfs(std::istream& tar, const std::string& ref, const ImageConfig& config) {
  std::string path = root_ + "/tmp/import-" + new_object_id() + ".tar";
  ScratchDir cleanup{path};
  {
    std::ofstream out(path, std::ios::binary);
    out << tar.rdbuf();
    if (!out) return internal_error("spooling the imported tarball to " + path + " failed (disk full?)");
  }
  return import_rootfs(path, ref, config);
}

Result<std::vector<std::string>> ImageStore::load(const std::string& archive_path) {
  std::lock_guard wlk(write_mu_);
  ScratchDir dir{root_ + "/tmp/load-" + new_object_id()};
  std::error_code ec;
  fs::create_directories(dir.path, ec);
  if (ec) return internal_error("creating " + dir.path + ": " + ec.message());
  UnpackOptions plain;
  plain.overlay_whiteouts = false;
  SHOAL_RETURN_IF_ERROR(unpack_archive(archive_path, dir.path, plain).with_context("loading " + archive_path));
  Result<std::vector<std::string>> loaded = std::vector<std::string>{};
  if (fs::exists(dir.path + "/manifest.json")) {
    loaded = load_docker_save(dir.path);
  } else if (fs::exists(dir.path + "/index.json")) {
    loaded = load_oci_layout(dir.path);
  } else {
    return invalid_argument(archive_path +
                            " is neither a `docker save` archive (manifest.json) nor an OCI image layout "
                            "(index.json); to make an image of a root filesystem tarball use "
                            "`shoal image import FILE NAME:TAG`");
  }
  if (!loaded.ok()) return loaded.status().with_context("loading " + archive_path);
  return loaded;
}

Result<std::vector<std::string>> ImageStore::load_docker_save(const std::string& dir) {
  std::vector<std::string> out;
  json manifest;
  try {
    SHOAL_ASSIGN_OR_RETURN(std::string text, read_whole_file(dir + "/manifest.json"));
    manifest = json::parse(text);
    if (!manifest.is_array()) return invalid_argument("manifest.json is not a list of images");
  } catch (const std::exception& e) {
    return invalid_argument(std::string("malformed manifest.json: ") + e.what());
  }
  for (const auto& m : manifest) {
    SHOAL_ASSIGN_OR_RETURN(std::string config_path, inside(dir, string_field(m, "Config")));
    SHOAL_ASSIGN_OR_RETURN(std::string config_bytes, read_whole_file(config_path));
    std::vector<LayerFile> layers;
    for (const auto& l : strings(m, "Layers")) {
      SHOAL_ASSIGN_OR_RETURN(std::string p, inside(dir, l));
      layers.push_back({p, ""});
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

Result<std::vector<std::string>> ImageStore::load_oci_layout(const std::string& dir) {
  auto blob = [&](const json& desc) -> Result<std::string> {
    std::string hex = digest_hex(string_field(desc, "digest"));
    if (hex.empty()) return invalid_argument("a descriptor has an invalid digest: " + desc.dump());
    return inside(dir, "blobs/sha256/" + hex);
  };
  auto parse_blob = [&](const json& desc) -> Result<json> {
    SHOAL_ASSIGN_OR_RETURN(std::string path, blob(desc));
    SHOAL_ASSIGN_OR_RETURN(std::string text, read_whole_file(path));
    try {
      return json::parse(text);
    } catch (const std::exception& e) {
      return invalid_argument("malformed blob " + path + ": " + e.what());
    }
  };
  // Manifests to load, with the ref each names (from the outermost index).
  std::vector<std::pair<json, std::string>> manifests;
  std::string arch = go_arch();
  std::function<Status(const json&, const std::string&, int)> walk = [&](const json& index, const std::string& name,
                                                                        int depth) -> Status {
    if (depth > 4) return invalid_argument("image indexes nest too deep");
    for (const auto& d : index.value("manifests", json::array())) {
      std::string ref = name;
      if (ref.empty() && d.contains("annotations")) {
        const json& a = d["annotations"];
        ref = string_field(a, "io.containerd.image.name");
        std::string oci_name = string_field(a, "org.opencontainers.image.ref.name");
        if (ref.empty() && oci_name.find_first_of(":/") != std::string::npos) ref = oci_name;
      }
      if (d.contains("platform")) {
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
  try {
    SHOAL_ASSIGN_OR_RETURN(std::string text, read_whole_file(dir + "/index.json"));
    SHOAL_RETURN_IF_ERROR(walk(json::parse(text), "", 0));
  } catch (const std::exception& e) {
    return invalid_argument(std::string("malformed index.json: ") + e.what());
  }
  if (manifests.empty()) return invalid_argument("the OCI layout holds no image for linux/" + arch);
  std::vector<std::string> out;
  for (const auto& [desc, name] : manifests) {
    SHOAL_ASSIGN_OR_RETURN(json manifest, parse_blob(desc));
    if (!manifest.contains("config")) continue;  // e.g. attestation manifests
    SHOAL_ASSIGN_OR_RETURN(std::string config_path, blob(manifest["config"]));
    SHOAL_ASSIGN_OR_RETURN(std::string config_bytes, read_whole_file(config_path));
    std::vector<LayerFile> layers;
    for (const auto& l : manifest.value("layers", json::array())) {
      SHOAL_ASSIGN_OR_RETURN(std::string p, blob(l));
      layers.push_back({p, ""});
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

}  // namespace shoal::runtime
