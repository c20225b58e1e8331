#include "agent/runtime/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <memory>
#include <vector>

#include "common/ids.h"

namespace shoal::runtime {

namespace fs = std::filesystem;

namespace {

struct ReadArchive {
  struct archive* a = archive_read_new();
  ~ReadArchive() { archive_read_free(a); }
};
struct WriteDisk {
  struct archive* a = archive_write_disk_new();
  ~WriteDisk() { archive_write_free(a); }
};
struct Sha256 {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Sha256() { EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx); }
  void update(const void* p, size_t n) { EVP_DigestUpdate(ctx, p, n); }
  std::string hex() {
    unsigned char md[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx, md, &n);
    return hex_encode(std::string(reinterpret_cast<const char*>(md), n));
  }
};

std::string archive_error(struct archive* a) {
  const char* e = archive_error_string(a);
  return e ? e : "unknown libarchive error";
}

// "./a/b/" -> "a/b"; empty for the root itself. Rejects ".." components.
Result<std::string> clean_entry_path(const std::string& raw) {
  std::string out;
  size_t pos = 0;
  while (pos <= raw.size()) {
    size_t end = raw.find('/', pos);
    if (end == std::string::npos) end = raw.size();
    std::string comp = raw.substr(pos, end - pos);
    pos = end + 1;
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") return invalid_argument("archive entry \"" + raw + "\" leaves the target directory");
    out += (out.empty() ? "" : "/") + comp;
  }
  return out;
}

// The real path of `rel`'s parent below `root`, or an error if it resolves
// outside root (a symlink in the layer pointing elsewhere).
Result<std::string> safe_parent(const std::string& root, const std::string& rel) {
  fs::path parent = (fs::path(root) / rel).parent_path();
  std::error_code ec;
  fs::create_directories(parent, ec);
  fs::path real = fs::canonical(parent, ec);
  std::string r = real.string(), base = fs::canonical(root, ec).string();
  if (ec || (r != base && r.rfind(base + "/", 0) != 0)) {
    return invalid_argument("archive entry \"" + rel + "\" resolves outside the layer (through a symlink)");
  }
  return r;
}

Status apply_whiteouts(const std::string& dest, const std::vector<std::string>& opaque,
                       const std::vector<std::string>& whiteouts) {
  for (const auto& rel : opaque) {  // rel is "dir/.wh..wh..opq"
    SHOAL_ASSIGN_OR_RETURN(std::string dir, safe_parent(dest, rel));
    if (setxattr(dir.c_str(), "trusted.overlay.opaque", "y", 1, 0) != 0) {
      return errno_status("marking " + dir + " opaque (setxattr trusted.overlay.opaque; needs root)", errno);
    }
  }
  for (const auto& rel : whiteouts) {  // rel is "dir/.wh.name"
    SHOAL_ASSIGN_OR_RETURN(std::string dir, safe_parent(dest, rel));
    std::string target = dir + "/" + fs::path(rel).filename().string().substr(4);
    std::error_code ec;
    fs::remove_all(target, ec);
    if (mknod(target.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) {
      return errno_status("creating the overlay whiteout " + target + " (mknod 0/0; needs root)", errno);
    }
  }
  return ok_status();
}

}  // namespace

Status unpack_archive(const std::string& archive_path, const std::string& dest, const UnpackOptions& options,
                      int64_t* unpacked_bytes) {
  ReadArchive in;
  archive_read_support_filter_all(in.a);
  archive_read_support_format_tar(in.a);
  archive_read_support_format_gnutar(in.a);
  WriteDisk out;
  archive_write_disk_set_options(out.a, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_OWNER |
                                            ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                            ARCHIVE_EXTRACT_SECURE_SYMLINKS);
  archive_write_disk_set_standard_lookup(out.a);
  if (archive_read_open_filename(in.a, archive_path.c_str(), 1 << 16) != ARCHIVE_OK) {
    return invalid_argument("cannot read " + archive_path + " as a tar archive: " + archive_error(in.a));
  }
  std::vector<std::string> opaque, whiteouts;
  int64_t bytes = 0;
  struct archive_entry* e;
  int r;
  while ((r = archive_read_next_header(in.a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
    SHOAL_ASSIGN_OR_RETURN(std::string rel, clean_entry_path(archive_entry_pathname(e)));
    if (rel.empty()) continue;
    std::string base = fs::path(rel).filename().string();
    if (options.overlay_whiteouts && base.rfind(".wh.", 0) == 0) {
      (base == ".wh..wh..opq" ? opaque : whiteouts).push_back(rel);
      continue;
    }
    archive_entry_set_pathname(e, (dest + "/" + rel).c_str());
    if (const char* hl = archive_entry_hardlink(e)) {
      SHOAL_ASSIGN_OR_RETURN(std::string target, clean_entry_path(hl));
      archive_entry_set_hardlink(e, (dest + "/" + target).c_str());
    } else if (archive_entry_filetype(e) == AE_IFREG) {
      bytes += archive_entry_size(e);
    }
    int w = archive_write_header(out.a, e);
    if (w < ARCHIVE_WARN) {
      return invalid_argument("unpacking " + archive_path + ": entry \"" + rel + "\": " + archive_error(out.a));
    }
    if (archive_entry_size(e) > 0) {
      const void* buf;
      size_t size;
      la_int64_t off;
      int d;
      while ((d = archive_read_data_block(in.a, &buf, &size, &off)) == ARCHIVE_OK) {
        if (archive_write_data_block(out.a, buf, size, off) < ARCHIVE_WARN) {
          return internal_error("writing " + dest + "/" + rel + ": " + archive_error(out.a));
        }
      }
      if (d != ARCHIVE_EOF) return invalid_argument("reading " + archive_path + ": " + archive_error(in.a));
    }
    if (archive_write_finish_entry(out.a) < ARCHIVE_WARN) {
      return internal_error("finishing " + dest + "/" + rel + ": " + archive_error(out.a));
    }
  }
  if (r != ARCHIVE_EOF) {
    return invalid_argument(archive_path + " is not a valid tar archive: " + archive_error(in.a));
  }
  SHOAL_RETURN_IF_ERROR(apply_whiteouts(dest, opaque, whiteouts));
  if (unpacked_bytes) *unpacked_bytes = bytes;
  return ok_status();
}

std::string sha256_hex(const std::string& data) {
  Sha256 h;
  h.update(data.data(), data.size());
  return h.hex();
}

Result<std::string> sha256_file(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status("opening " + path, errno);
  Sha256 h;
  char buf[1 << 16];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) h.update(buf, static_cast<size_t>(n));
  int err = errno;
  close(fd);
  if (n < 0) return errno_status("reading " + path, err);
  return h.hex();
}

Result<std::string> sha256_uncompressed(const std::string& path) {
  ReadArchive in;
  archive_read_support_filter_all(in.a);
  archive_read_support_format_raw(in.a);
  struct archive_entry* e;
  if (archive_read_open_filename(in.a, path.c_str(), 1 << 16) != ARCHIVE_OK ||
      archive_read_next_header(in.a, &e) != ARCHIVE_OK) {
    return invalid_argument("cannot read " + path + ": " + archive_error(in.a));
  }
  Sha256 h;
  char buf[1 << 16];
  la_ssize_t n;
  while ((n = archive_read_data(in.a, buf, sizeof buf)) > 0) h.update(buf, static_cast<size_t>(n));
  if (n < 0) return invalid_argument("decompressing " + path + ": " + archive_error(in.a));
  return h.hex();
}

Result<std::string> read_whole_file(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return not_found(path + " does not exist");
    return errno_status("opening " + path, err);
  }
  std::string out;
  char buf[1 << 14];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  int err = errno;
  close(fd);
  if (n < 0) return errno_status("reading " + path, err);
  return out;
}

}  // namespace shoal::runtime
