#include "agent/runtime/image_store.h"

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/image_reference.h"
#include "common/ids.h"

namespace shoal::runtime {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

Status write_atomic(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << data;
    out.flush();
    if (!out) return internal_error("writing " + tmp + " failed");
  }
  FILE* f = fopen(tmp.c_str(), "r");
  if (f) {
    fsync(fileno(f));
    fclose(f);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) return errno_status("renaming " + tmp, errno);
  return ok_status();
}

// OCI whiteouts (.wh.name, .wh..wh..opq) to overlayfs ones.
void convert_whiteouts(const fs::path& dir) {
  std::vector<fs::path> found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->path().filename().string().rfind(".wh.", 0) == 0) found.push_back(it->path());
  }
  for (const auto& p : found) {
    std::string name = p.filename().string();
    fs::remove(p, ec);
    if (name == ".wh..wh..opq") {
      setxattr(p.parent_path().c_str(), "trusted.overlay.opaque", "y", 1, 0);
    } else {
      fs::path target = p.parent_path() / name.substr(4);
      fs::remove_all(target, ec);
      mknod(target.c_str(), S_IFCHR | 0, makedev(0, 0));
    }
  }
}

int64_t dir_size(const fs::path& dir) {
  int64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += static_cast<int64_t>(it->file_size(ec));
  }
  return total;
}

std::vector<std::string> strings(const json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key) && j[key].is_array())
    for (const auto& s : j[key]) out.push_back(s.get<std::string>());
  return out;
}

ImageConfig config_from(const json& c) {
  ImageConfig out;
  out.entrypoint = strings(c, "Entrypoint");
  out.cmd = strings(c, "Cmd");
  out.env = strings(c, "Env");
  out.working_dir = c.value("WorkingDir", "");
  out.user = c.value("User", "");
  out.stop_signal = c.value("StopSignal", "");
  return out;
}

json config_json(const ImageConfig& c) {
  return {{"Entrypoint", c.entrypoint}, {"Cmd", c.cmd}, {"Env", c.env},
          {"WorkingDir", c.working_dir}, {"User", c.user}, {"StopSignal", c.stop_signal}};
}

}  // namespace

Result<std::string> sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("cannot read " + path);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  char buf[1 << 16];
  while (in) {
    in.read(buf, sizeof buf);
    EVP_DigestUpdate(ctx, buf, static_cast<size_t>(in.gcount()));
  }
  unsigned char md[32];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx, md, &n);
  EVP_MD_CTX_free(ctx);
  return hex_encode(std::string(reinterpret_cast<const char*>(md), n));
}

Status extract_tar(const std::string& tar_path, const std::string& dest) {
  struct archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  archive_read_support_format_gnutar(a);
  struct archive* w = archive_write_disk_new();
  archive_write_disk_set_options(w, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_OWNER |
                                        ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_NODOTDOT);
  Status st;
  if (archive_read_open_filename(a, tar_path.c_str(), 1 << 16) != ARCHIVE_OK) {
    st = invalid_argument("cannot read " + tar_path + " as a tar archive: " + archive_error_string(a));
  } else {
    struct archive_entry* e;
    int r;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
      std::string p = archive_entry_pathname(e);
      while (p.rfind("./", 0) == 0) p = p.substr(2);
      if (p.empty() || p == ".") continue;
      archive_entry_set_pathname(e, (dest + "/" + p).c_str());
      if (const char* hl = archive_entry_hardlink(e)) {
        std::string h = hl;
        while (h.rfind("./", 0) == 0) h = h.substr(2);
        archive_entry_set_hardlink(e, (dest + "/" + h).c_str());
      }
      if (archive_write_header(w, e) == ARCHIVE_OK) {
        const void* buf;
        size_t size;
        la_int64_t off;
        while (archive_read_data_block(a, &buf, &size, &off) == ARCHIVE_OK) archive_write_data_block(w, buf, size, off);
      }
      archive_write_finish_entry(w);
    }
    if (r != ARCHIVE_EOF) st = invalid_argument(tar_path + " is not a valid tar archive: " + archive_error_string(a));
  }
  archive_read_free(a);
  archive_write_free(w);
  return st;
}

ImageStore::ImageStore(std::string root) : root_(std::move(root) + "/images") {}

Status ImageStore::open() {
  std::error_code ec;
  fs::create_directories(root_ + "/layers", ec);
  if (ec) return internal_error("creating " + root_ + ": " + ec.message());
  std::ifstream in(root_ + "/index.json");
  if (!in) return ok_status();
  try {
    json j = json::parse(in);
    std::lock_guard lk(mu_);
    const json images = j.value("Images", json::object());
    const json refs = j.value("Refs", json::object());
    for (const auto& [id, im] : images.items()) {
      Image img;
      img.info.id = id;
      img.info.created = im.value("Created", int64_t{0});
      img.info.size = im.value("Size", int64_t{0});
      img.config = config_from(im.value("Config", json::object()));
      img.layers = strings(im, "Layers");
      images_[id] = img;
    }
    for (const auto& [ref, id] : refs.items()) {
      refs_[ref] = id.get<std::string>();
      if (images_.count(id)) images_[id].info.refs.push_back(ref);
    }
  } catch (const std::exception& e) {
    return internal_error("corrupt image index " + root_ + "/index.json: " + e.what());
  }
  return ok_status();
}

Status ImageStore::save_locked() {
  json j = {{"Images", json::object()}, {"Refs", refs_}};
  for (const auto& [id, im] : images_) {
    j["Images"][id] = {{"Created", im.info.created}, {"Size", im.info.size},
                       {"Config", config_json(im.config)}, {"Layers", im.layers}};
  }
  return write_atomic(root_ + "/index.json", j.dump());
}

Status ImageStore::tag_locked(const std::string& ref, const std::string& id) {
  auto old = refs_.find(ref);
  if (old != refs_.end() && images_.count(old->second)) {
    auto& v = images_[old->second].info.refs;
    std::erase(v, ref);
  }
  refs_[ref] = id;
  images_[id].info.refs.push_back(ref);
  return ok_status();
}

Result<std::string> ImageStore::add_layer(const std::string& tar_path, int64_t* size) {
  SHOAL_ASSIGN_OR_RETURN(std::string digest, sha256_file(tar_path));
  fs::path dir = fs::path(root_) / "layers" / digest;
  if (!fs::exists(dir)) {
    fs::path tmp = fs::path(root_) / "layers" / (digest + ".tmp-" + new_object_id());
    fs::create_directories(tmp);
    Status st = extract_tar(tar_path, tmp.string());
    if (!st.ok()) {
      fs::remove_all(tmp);
      return st;
    }
    convert_whiteouts(tmp);
    std::error_code ec;
    fs::rename(tmp, dir, ec);
    if (ec) fs::remove_all(tmp);  // another import won the race
  }
  *size += dir_size(dir);
  return digest;
}

Result<std::string> ImageStore::import_rootfs(const std::string& tar_path, const std::string& ref_text,
                                              const ImageConfig& config) {
  SHOAL_ASSIGN_OR_RETURN(Reference ref, parse_reference(ref_text));
  if (!ref.digest.empty()) return invalid_argument("cannot import into a digest reference; give NAME[:TAG]");
  Image img;
  SHOAL_ASSIGN_OR_RETURN(std::string layer, add_layer(tar_path, &img.info.size));
  img.layers = {layer};
  img.config = config;
  if (img.config.cmd.empty() && img.config.entrypoint.empty()) img.config.cmd = {"sh"};
  img.info.created = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
  img.info.id = "sha256:" + layer;  // one layer + default config: the layer names the image
  std::lock_guard lk(mu_);
  img.info.refs.clear();
  if (!images_.count(img.info.id)) images_[img.info.id] = img;
  SHOAL_RETURN_IF_ERROR(tag_locked(ref.familiar(), img.info.id));
  SHOAL_RETURN_IF_ERROR(save_locked());
  return img.info.id;
}

Result<std::vector<std::string>> ImageStore::load(const std::string& archive_path) {
  fs::path tmp = fs::path(root_) / ("load-" + new_object_id());
  fs::create_directories(tmp);
  struct Cleanup {
    fs::path p;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(p, ec);
    }
  } cleanup{tmp};
  SHOAL_RETURN_IF_ERROR(extract_tar(archive_path, tmp.string()));
  std::ifstream mf(tmp / "manifest.json");
  if (!mf) {
    return invalid_argument(archive_path + " is not a docker save archive (no manifest.json); to import a plain "
                            "root filesystem tarball use `shoal image import FILE NAME:TAG`");
  }
  std::vector<std::string> loaded;
  try {
    json manifest = json::parse(mf);
    for (const auto& m : manifest) {
      std::ifstream cf(tmp / m.at("Config").get<std::string>());
      if (!cf) return invalid_argument("the archive's image config " + m.at("Config").get<std::string>() + " is missing");
      json cfg = json::parse(cf);
      Image img;
      img.config = config_from(cfg.value("config", json::object()));
      for (const auto& l : m.at("Layers")) {
        std::string lp = (tmp / l.get<std::string>()).string();
        if (!fs::exists(lp)) return invalid_argument("the archive's layer " + l.get<std::string>() + " is missing");
        SHOAL_ASSIGN_OR_RETURN(std::string layer, add_layer(lp, &img.info.size));
        img.layers.push_back(layer);
      }
      auto cfg_digest = sha256_file((tmp / m.at("Config").get<std::string>()).string());
      img.info.id = "sha256:" + (cfg_digest.ok() ? *cfg_digest : img.layers.back());
      img.info.created = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
      std::lock_guard lk(mu_);
      if (!images_.count(img.info.id)) images_[img.info.id] = img;
      for (const auto& t : m.value("RepoTags", json::array())) {
        SHOAL_ASSIGN_OR_RETURN(Reference ref, parse_reference(t.get<std::string>()));
        SHOAL_RETURN_IF_ERROR(tag_locked(ref.familiar(), img.info.id));
        loaded.push_back(ref.familiar());
      }
      if (m.value("RepoTags", json::array()).empty()) loaded.push_back(img.info.id);
      SHOAL_RETURN_IF_ERROR(save_locked());
    }
  } catch (const std::exception& e) {
    return invalid_argument(std::string("malformed manifest.json in ") + archive_path + ": " + e.what());
  }
  return loaded;
}

Result<std::vector<ImageInfo>> ImageStore::list() {
  std::lock_guard lk(mu_);
  std::vector<ImageInfo> out;
  for (const auto& [_, im] : images_) out.push_back(im.info);
  return out;
}

Result<ResolvedImage> ImageStore::resolve(const std::string& ref_text) {
  SHOAL_ASSIGN_OR_RETURN(Reference ref, parse_reference(ref_text));
  std::lock_guard lk(mu_);
  auto it = refs_.find(ref.familiar());
  std::string id;
  if (it != refs_.end()) id = it->second;
  else if (images_.count(ref_text)) id = ref_text;
  if (id.empty() || !images_.count(id)) {
    return not_found("No such image: " + ref.familiar() +
                     " (shoal has no registry access configured on this node: load it with `shoal image load -i "
                     "FILE` or `shoal image import ROOTFS.tar " + ref.familiar() + "`)");
  }
  const Image& im = images_[id];
  ResolvedImage r;
  r.info = im.info;
  r.config = im.config;
  for (const auto& l : im.layers) r.layer_dirs.push_back(root_ + "/layers/" + l);
  return r;
}

}  // namespace shoal::runtime
