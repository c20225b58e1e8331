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
#include <cstring>
#include <vector>

#include "common/ids.h"
#include "os/safe_path.h"

namespace shoal::runtime {

using os::printable;
using os::Resolve;
using os::UniqueFd;

namespace {

constexpr size_t kMaxEntryPath = 4096;
constexpr size_t kMaxComponent = 255;
constexpr int64_t kTarHeader = 512;

struct ReadArchive {
  struct archive* a = archive_read_new();
  ~ReadArchive() { archive_read_free(a); }
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
  return e ? printable(e, 200) : "unknown libarchive error";
}

// Opens `path` for reading if it is a regular file (never following a
// final symlink, never blocking on a FIFO).
Result<UniqueFd> open_regular(const std::string& path) {
  UniqueFd f(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!f.valid()) {
    int err = errno;
    if (err == ENOENT) return invalid_argument(path + " does not exist");
    if (err == ELOOP) return invalid_argument(path + " is a symlink, not a regular file");
    return errno_status("opening " + path, err);
  }
  struct stat st {};
  if (fstat(f.get(), &st) != 0) return errno_status("inspecting " + path, errno);
  if (!S_ISREG(st.st_mode)) return invalid_argument(path + " is not a regular file");
  fcntl(f.get(), F_SETFL, fcntl(f.get(), F_GETFL) & ~O_NONBLOCK);
  return f;
}

// Opens `path` (a regular file) as an archive: tar formats, or `raw` (one
// entry, the decompressed stream) for digests.
Status open_archive(ReadArchive& in, const std::string& path, bool raw, UniqueFd* fd) {
  SHOAL_ASSIGN_OR_RETURN(*fd, open_regular(path));
  archive_read_support_filter_all(in.a);
  if (raw) {
    archive_read_support_format_raw(in.a);
  } else {
    archive_read_support_format_tar(in.a);
    archive_read_support_format_gnutar(in.a);
  }
  if (archive_read_open_fd(in.a, fd->get(), 1 << 16) != ARCHIVE_OK) {
    return invalid_argument("cannot read " + path + " as a tar archive: " + archive_error(in.a));
  }
  return ok_status();
}

struct EntryPath {
  std::string rel;     // "a/b/c"; empty for the root itself
  std::string parent;  // "a/b"
  std::string base;    // "c"
};

// Splits and checks an entry name (see the rules in layer.h). `what` says
// which name it is in messages ("an entry", "a hard link to").
Result<EntryPath> entry_path(const char* raw_c, const std::string& label) {
  if (!raw_c) return invalid_argument(label + " has an entry without a usable name");
  std::string raw = raw_c;
  std::string quoted = "'" + printable(raw) + "'";
  if (raw.size() > kMaxEntryPath) {
    return invalid_argument(label + " has an entry named " + quoted + " longer than " +
                            std::to_string(kMaxEntryPath) + " bytes");
  }
  if (!raw.empty() && raw[0] == '/') {
    return invalid_argument(label + " has an entry with the absolute path " + quoted +
                            " (layer entries must be relative to the layer root)");
  }
  EntryPath out;
  size_t pos = 0;
  while (pos <= raw.size()) {
    size_t end = raw.find('/', pos);
    if (end == std::string::npos) end = raw.size();
    std::string comp = raw.substr(pos, end - pos);
    pos = end + 1;
    if (comp.empty() || comp == ".") continue;
    if (comp == "..") return invalid_argument(label + " has an entry " + quoted + " that leaves the layer");
    if (comp.size() > kMaxComponent) {
      return invalid_argument(label + " has an entry " + quoted + " with a name component longer than 255 bytes");
    }
    if (!out.rel.empty()) out.parent = out.rel;
    out.rel += (out.rel.empty() ? "" : "/") + comp;
    out.base = comp;
  }
  return out;
}

bool xattr_allowed(const std::string& name) {
  return name.rfind("user.", 0) == 0 || name == "security.capability" || name == "system.posix_acl_access" ||
         name == "system.posix_acl_default";
}

// One unpack: the destination's fd, the budget, deferred work.
class Unpacker {
 public:
  Unpacker(const UnpackOptions& o, std::string label) : opt_(o), label_(std::move(label)) {}

  Status run(ReadArchive& in, const std::string& dest);
  const UnpackStats& stats() const { return stats_; }

 private:
  struct DirTimes {
    std::string rel;
    struct timespec times[2];
  };
  struct Whiteout {
    std::string parent, name;  // name empty: opaque marker for `parent`
  };

  Status entry(ReadArchive& in, struct archive_entry* e);
  Result<UniqueFd> parent_dir(const std::string& parent, const std::string& rel);
  Status clear_existing(int dir, const EntryPath& p, bool keep_dir);
  Status write_regular(ReadArchive& in, struct archive_entry* e, int dir, const EntryPath& p);
  Status write_dir(struct archive_entry* e, int dir, const EntryPath& p);
  Status write_hardlink(struct archive_entry* e, int dir, const EntryPath& p);
  Status write_other(struct archive_entry* e, int dir, const EntryPath& p);
  Status set_meta(int fd, struct archive_entry* e, const EntryPath& p);
  Status apply_whiteouts();
  Status apply_dir_times();
  Status fail(const EntryPath& p, const std::string& what) const {
    return invalid_argument(label_ + " has an entry '" + printable(p.rel) + "' " + what);
  }
  Status sys_fail(const EntryPath& p, const std::string& what, int err) const {
    return internal_error("unpacking '" + printable(p.rel) + "' of " + label_ + ": " + what + ": " + strerror(err));
  }

  const UnpackOptions& opt_;
  const std::string label_;
  UniqueFd root_;
  UnpackStats stats_;
  int64_t budget_used_ = 0;
  std::vector<Whiteout> whiteouts_;
  std::vector<DirTimes> dir_times_;
  const bool root_user_ = geteuid() == 0;
};

Status Unpacker::run(ReadArchive& in, const std::string& dest) {
  root_ = UniqueFd(open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root_.valid()) return errno_status("opening " + dest, errno);
  struct archive_entry* e;
  int r;
  while ((r = archive_read_next_header(in.a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
    if (++stats_.entries > opt_.max_entries) {
      return invalid_argument(label_ + " has more than " + std::to_string(opt_.max_entries) +
                              " entries, the limit for one archive");
    }
    SHOAL_RETURN_IF_ERROR(entry(in, e));
  }
  if (r != ARCHIVE_EOF) return invalid_argument(label_ + " is not a valid tar archive: " + archive_error(in.a));
  SHOAL_RETURN_IF_ERROR(apply_whiteouts());
  return apply_dir_times();
}

Status Unpacker::entry(ReadArchive& in, struct archive_entry* e) {
  SHOAL_ASSIGN_OR_RETURN(EntryPath p, entry_path(archive_entry_pathname(e), label_));
  int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
  if (size < 0) return fail(p, "with a negative size");
  budget_used_ += kTarHeader;
  if (size > opt_.max_bytes - budget_used_) {
    return invalid_argument(label_ + " unpacks to more than " + std::to_string(opt_.max_bytes) +
                            " bytes, the limit for one archive (at entry '" + printable(p.rel) + "')");
  }
  budget_used_ += size;
  if (p.rel.empty()) return ok_status();  // the root itself: the layer directory is ours
  if (opt_.overlay_whiteouts && p.base.rfind(".wh.", 0) == 0) {
    if (p.base == ".wh..wh..opq") {
      whiteouts_.push_back({p.parent, ""});
      return ok_status();
    }
    std::string name = p.base.substr(4);
    if (name.empty() || name == "." || name == "..") return fail(p, "that is a whiteout of no file");
    if (name.rfind(".wh.", 0) == 0) return fail(p, "that is AUFS metadata, which OCI layers may not hold");
    whiteouts_.push_back({p.parent, name});
    return ok_status();
  }
  SHOAL_ASSIGN_OR_RETURN(UniqueFd dir, parent_dir(p.parent, p.rel));
  if (archive_entry_hardlink(e)) return write_hardlink(e, dir.get(), p);
  switch (archive_entry_filetype(e)) {
    case AE_IFREG:
      return write_regular(in, e, dir.get(), p);
    case AE_IFDIR:
      return write_dir(e, dir.get(), p);
    default:
      return write_other(e, dir.get(), p);
  }
}

// The directory `parent` below the root, created (0755, root) where missing,
// with no symlink on the way.
Result<UniqueFd> Unpacker::parent_dir(const std::string& parent, const std::string& rel) {
  int fd = os::open_in_root(root_.get(), parent, O_RDONLY | O_DIRECTORY, Resolve::kNoSymlinks);
  if (fd == -ENOENT) {
    // Create the missing directories one by one.
    UniqueFd cur(dup(root_.get()));
    size_t pos = 0;
    while (pos < parent.size()) {
      size_t end = parent.find('/', pos);
      if (end == std::string::npos) end = parent.size();
      std::string comp = parent.substr(pos, end - pos);
      pos = end + 1;
      if (mkdirat(cur.get(), comp.c_str(), 0755) != 0 && errno != EEXIST) {
        return sys_fail({rel, parent, ""}, "creating its directory", errno);
      }
      fd = os::open_in_root(cur.get(), comp, O_RDONLY | O_DIRECTORY, Resolve::kNoSymlinks);
      if (fd < 0) break;
      cur = UniqueFd(fd);
    }
    if (fd >= 0) return cur;
  }
  EntryPath p{rel, parent, ""};
  if (fd == -ELOOP) return fail(p, "that goes through a symlink (an entry may not be written through a link)");
  if (fd == -ENOTDIR) return fail(p, "below something that is not a directory");
  if (fd == -EXDEV) return fail(p, "that leaves the layer");
  if (fd < 0) return sys_fail(p, "opening its directory", -fd);
  return UniqueFd(fd);
}

// A later entry replaces an earlier one of the same name, as tar does; a
// directory over a directory keeps what is inside.
Status Unpacker::clear_existing(int dir, const EntryPath& p, bool keep_dir) {
  struct stat st {};
  if (fstatat(dir, p.base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return ok_status();
  if (keep_dir && S_ISDIR(st.st_mode)) return ok_status();
  int rc = os::remove_tree_at(dir, p.base);
  return rc == 0 ? ok_status() : sys_fail(p, "replacing what an earlier entry wrote", -rc);
}

Status Unpacker::set_meta(int fd, struct archive_entry* e, const EntryPath& p) {
  int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
  if (uid < 0 || uid >= 0xffffffffLL || gid < 0 || gid >= 0xffffffffLL) {
    return fail(p, "with the invalid owner " + std::to_string(uid) + ":" + std::to_string(gid));
  }
  // Owner first: chown clears setuid/setgid, the mode then sets what the entry says.
  if (root_user_ && fchown(fd, static_cast<uid_t>(uid), static_cast<gid_t>(gid)) != 0) {
    return sys_fail(p, "setting its owner", errno);
  }
  if (fchmod(fd, archive_entry_perm(e) & 07777) != 0) return sys_fail(p, "setting its mode", errno);
  archive_entry_xattr_reset(e);
  const char* name;
  const void* value;
  size_t size;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    std::string n = name ? name : "";
    if (!xattr_allowed(n)) {
      return fail(p, "with the extended attribute '" + printable(n) +
                         "', which images may not set (allowed: user.*, security.capability, POSIX ACLs)");
    }
    if (fsetxattr(fd, n.c_str(), value, size, 0) != 0) return sys_fail(p, "setting the xattr " + n, errno);
  }
  return ok_status();
}

Status Unpacker::write_regular(ReadArchive& in, struct archive_entry* e, int dir, const EntryPath& p) {
  SHOAL_RETURN_IF_ERROR(clear_existing(dir, p, false));
  UniqueFd f(openat(dir, p.base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!f.valid()) return sys_fail(p, "creating it", errno);
  int64_t size = archive_entry_size(e);
  const void* buf;
  size_t n;
  la_int64_t off;
  int d;
  while ((d = archive_read_data_block(in.a, &buf, &n, &off)) == ARCHIVE_OK) {
    if (off < 0 || static_cast<int64_t>(n) > size - off) return fail(p, "whose data runs past its size");
    const char* c = static_cast<const char*>(buf);
    while (n > 0) {
      ssize_t w = pwrite(f.get(), c, n, off);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return sys_fail(p, "writing it", errno);
      c += w;
      n -= static_cast<size_t>(w);
      off += w;
    }
  }
  if (d != ARCHIVE_EOF) return invalid_argument("reading " + label_ + ": " + archive_error(in.a));
  if (ftruncate(f.get(), size) != 0) return sys_fail(p, "sizing it", errno);  // a trailing sparse hole
  stats_.bytes += size;
  SHOAL_RETURN_IF_ERROR(set_meta(f.get(), e, p));
  struct timespec t[2] = {{archive_entry_atime(e), archive_entry_atime_nsec(e)},
                          {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
  if (!archive_entry_atime_is_set(e)) t[0] = t[1];
  if (futimens(f.get(), t) != 0) return sys_fail(p, "setting its times", errno);
  return ok_status();
}

Status Unpacker::write_dir(struct archive_entry* e, int dir, const EntryPath& p) {
  SHOAL_RETURN_IF_ERROR(clear_existing(dir, p, true));
  if (mkdirat(dir, p.base.c_str(), 0700) != 0 && errno != EEXIST) return sys_fail(p, "creating it", errno);
  UniqueFd f(openat(dir, p.base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!f.valid()) return sys_fail(p, "opening it", errno);
  SHOAL_RETURN_IF_ERROR(set_meta(f.get(), e, p));
  DirTimes dt{p.rel, {{archive_entry_atime(e), archive_entry_atime_nsec(e)},
                      {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}}};
  if (!archive_entry_atime_is_set(e)) dt.times[0] = dt.times[1];
  dir_times_.push_back(std::move(dt));  // set last: creating children changes them
  return ok_status();
}

Status Unpacker::write_hardlink(struct archive_entry* e, int dir, const EntryPath& p) {
  auto target = entry_path(archive_entry_hardlink(e), label_);
  if (!target.ok() || target->rel.empty()) {
    return fail(p, "that is a hard link to '" + printable(archive_entry_hardlink(e)) +
                       "', which is outside the layer");
  }
  int tfd = os::open_in_root(root_.get(), target->parent, O_PATH | O_DIRECTORY, Resolve::kNoSymlinks);
  if (tfd == -ELOOP || tfd == -EXDEV) {
    return fail(p, "that is a hard link to '" + printable(target->rel) + "', which is reached through a symlink");
  }
  if (tfd < 0) return fail(p, "that is a hard link to '" + printable(target->rel) + "', which the layer lacks");
  UniqueFd tdir(tfd);
  struct stat st {};
  if (fstatat(tdir.get(), target->base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return fail(p, "that is a hard link to '" + printable(target->rel) + "', which the layer lacks");
  }
  if (S_ISDIR(st.st_mode)) return fail(p, "that is a hard link to the directory '" + printable(target->rel) + "'");
  if (target->rel == p.rel) return ok_status();  // a link to itself: already there
  SHOAL_RETURN_IF_ERROR(clear_existing(dir, p, false));
  // Flags 0: a symlink target is linked itself, never followed.
  if (linkat(tdir.get(), target->base.c_str(), dir, p.base.c_str(), 0) != 0) {
    return sys_fail(p, "linking it to '" + printable(target->rel) + "'", errno);
  }
  return ok_status();
}

// Symlinks, FIFOs and device nodes.
Status Unpacker::write_other(struct archive_entry* e, int dir, const EntryPath& p) {
  mode_t type = archive_entry_filetype(e);
  if (type == AE_IFCHR || type == AE_IFBLK) {
    if (p.rel.rfind("dev/", 0) == 0) {  // hidden by the container's /dev tmpfs
      ++stats_.skipped_devices;
      return ok_status();
    }
    return fail(p, std::string("that is a ") + (type == AE_IFCHR ? "character" : "block") + " device (" +
                       std::to_string(archive_entry_rdevmajor(e)) + ":" + std::to_string(archive_entry_rdevminor(e)) +
                       "); images may hold device nodes only below /dev, which containers never see");
  }
  if (type != AE_IFLNK && type != AE_IFIFO) return fail(p, "of a type images may not hold (a socket or unknown)");
  SHOAL_RETURN_IF_ERROR(clear_existing(dir, p, false));
  if (type == AE_IFLNK) {
    const char* target = archive_entry_symlink(e);
    if (!target || !*target) return fail(p, "that is a symlink to nothing");
    if (symlinkat(target, dir, p.base.c_str()) != 0) return sys_fail(p, "creating the symlink", errno);
    archive_entry_xattr_reset(e);
    if (archive_entry_xattr_count(e) > 0) return fail(p, "that is a symlink with extended attributes");
  } else if (mkfifoat(dir, p.base.c_str(), 0600) != 0) {
    return sys_fail(p, "creating the FIFO", errno);
  }
  int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
  if (uid < 0 || uid >= 0xffffffffLL || gid < 0 || gid >= 0xffffffffLL) return fail(p, "with an invalid owner");
  if (root_user_ && fchownat(dir, p.base.c_str(), static_cast<uid_t>(uid), static_cast<gid_t>(gid),
                             AT_SYMLINK_NOFOLLOW) != 0) {
    return sys_fail(p, "setting its owner", errno);
  }
  if (type == AE_IFIFO && fchmodat(dir, p.base.c_str(), archive_entry_perm(e) & 07777, 0) != 0) {
    return sys_fail(p, "setting its mode", errno);
  }
  struct timespec t[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                          {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
  if (utimensat(dir, p.base.c_str(), t, AT_SYMLINK_NOFOLLOW) != 0) return sys_fail(p, "setting its times", errno);
  return ok_status();
}

// After all entries: whiteouts hide only lower layers, so NAME written by
// this layer stays; opaque directories get their xattr.
Status Unpacker::apply_whiteouts() {
  for (const auto& w : whiteouts_) {
    std::string marker = w.name.empty() ? ".wh..wh..opq" : ".wh." + w.name;
    EntryPath p{w.parent.empty() ? marker : w.parent + "/" + marker, w.parent, w.name};
    SHOAL_ASSIGN_OR_RETURN(UniqueFd dir, parent_dir(w.parent, p.rel));
    if (w.name.empty()) {
      if (fsetxattr(dir.get(), "trusted.overlay.opaque", "y", 1, 0) != 0) {
        return sys_fail(p, "marking its directory opaque (trusted.overlay.opaque; needs root)", errno);
      }
      continue;
    }
    struct stat st {};
    if (fstatat(dir.get(), w.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) continue;
    if (mknodat(dir.get(), w.name.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) {
      return sys_fail(p, "creating the overlay whiteout (mknod 0/0; needs root)", errno);
    }
  }
  return ok_status();
}

Status Unpacker::apply_dir_times() {
  for (auto it = dir_times_.rbegin(); it != dir_times_.rend(); ++it) {
    UniqueFd f(os::open_in_root(root_.get(), it->rel, O_RDONLY | O_DIRECTORY, Resolve::kNoSymlinks));
    if (!f.valid()) continue;  // replaced by a later entry
    if (futimens(f.get(), it->times) != 0) return sys_fail({it->rel, "", ""}, "setting its times", errno);
  }
  return ok_status();
}

}  // namespace

Status unpack_archive(const std::string& archive_path, const std::string& dest, const UnpackOptions& options,
                      UnpackStats* stats) {
  ReadArchive in;
  UniqueFd fd;
  SHOAL_RETURN_IF_ERROR(open_archive(in, archive_path, /*raw=*/false, &fd));
  Unpacker u(options, options.label.empty() ? archive_path : options.label);
  SHOAL_RETURN_IF_ERROR(u.run(in, dest));
  if (stats) *stats = u.stats();
  return ok_status();
}

Status sync_tree(const std::string& dir) {
  UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return errno_status("opening " + dir + " to sync it", errno);
  if (syncfs(fd.get()) != 0) return errno_status("syncing the files below " + dir + " (disk full or failing?)", errno);
  return ok_status();
}

std::string sha256_hex(const std::string& data) {
  Sha256 h;
  h.update(data.data(), data.size());
  return h.hex();
}

Result<std::string> sha256_file(const std::string& path) {
  SHOAL_ASSIGN_OR_RETURN(UniqueFd f, open_regular(path));
  Sha256 h;
  char buf[1 << 16];
  ssize_t n;
  while ((n = read(f.get(), buf, sizeof buf)) > 0) h.update(buf, static_cast<size_t>(n));
  if (n < 0) return errno_status("reading " + path, errno);
  return h.hex();
}

Result<std::string> sha256_uncompressed(const std::string& path, int64_t max_bytes) {
  ReadArchive in;
  UniqueFd fd;
  SHOAL_RETURN_IF_ERROR(open_archive(in, path, /*raw=*/true, &fd));
  struct archive_entry* e;
  if (archive_read_next_header(in.a, &e) != ARCHIVE_OK) {
    return invalid_argument("cannot read " + path + ": " + archive_error(in.a));
  }
  Sha256 h;
  char buf[1 << 16];
  la_ssize_t n;
  int64_t total = 0;
  while ((n = archive_read_data(in.a, buf, sizeof buf)) > 0) {
    total += n;
    if (total > max_bytes) {
      return invalid_argument(path + " decompresses to more than " + std::to_string(max_bytes) +
                              " bytes, the limit for one archive");
    }
    h.update(buf, static_cast<size_t>(n));
  }
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
