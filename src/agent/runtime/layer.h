// Layer and file helpers for the image store: unpacking untrusted tar
// archives (any compression libarchive reads: none, gzip, zstd, xz, ...)
// with OCI whiteouts turned into overlayfs ones, content digests, atomic
// writes. Stateless; safe to call from any thread.
//
// The rules an archive must follow (anything else fails the whole unpack
// with kInvalidArgument naming the entry; the caller removes the partial
// directory, see ImageStore::ensure_layer):
//  - entry names are relative ("./a/b" and "a/b" are the same); an absolute
//    name or one with a ".." component is refused, as is a name longer than
//    4096 bytes or with a component longer than 255;
//  - every entry is created through its parent directory's fd, found
//    below the destination with no symlink on the way (openat2
//    RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS or the same walk by hand): a
//    symlink entry followed by an entry through it is refused; symlinks
//    themselves may point anywhere (they are only ever resolved inside the
//    container, or by shoald with Resolve::kInRoot);
//  - a hard link must name an entry already in the archive, by a path that
//    follows the same rules (so it cannot reach outside or through a link);
//  - overlay mode: ".wh.NAME" whites out NAME of lower layers (a 0/0
//    character device, unless this layer itself has NAME: the OCI spec says
//    a whiteout hides only lower layers), ".wh..wh..opq" makes its directory
//    opaque (trusted.overlay.opaque=y); ".wh.", ".wh..", ".wh..." and other
//    ".wh..wh.*" names (AUFS metadata) are refused;
//  - block and character devices are refused, except below "dev/", where
//    they are skipped: every container gets a fresh tmpfs on /dev, which
//    hides them (Docker's rule hides them the same way); a device node
//    anywhere else would be a handle on the host's hardware in the store
//    (overlayfs is not mounted nodev). FIFOs are created (they are only a
//    rendezvous). Sockets and unknown types are refused;
//  - owners are the entry's numeric uid/gid (names are ignored, as Docker
//    does), applied before the mode so setuid/setgid bits end up exactly as
//    the entry says, and no others; the umask plays no part;
//  - extended attributes: user.*, security.capability and the POSIX ACL
//    ones are kept; any other (trusted.* would steer overlayfs) is refused;
//  - the sum of the entries' sizes (plus 512 bytes per entry, the tar
//    header) may not exceed UnpackOptions::max_bytes, and the number of
//    entries UnpackOptions::max_entries (millions of empty entries cost
//    inodes and time, not bytes).
#pragma once

#include <cstdint>
#include <string>

#include "common/files.h"
#include "common/result.h"

namespace shoal::runtime {

// The default cap on what one archive may unpack to (16 GiB).
inline constexpr int64_t kDefaultMaxUnpackedBytes = int64_t{16} << 30;
// The default cap on the entries of one archive (2^20: large images have a
// few hundred thousand files in their biggest layer).
inline constexpr int64_t kDefaultMaxEntries = int64_t{1} << 20;

struct UnpackOptions {
  // Layer semantics: OCI whiteouts become overlayfs ones (see above).
  // Without it (the outer `docker save` archive), ".wh." names are files.
  bool overlay_whiteouts = true;
  // See above; exceeding it fails the unpack and says the limit.
  int64_t max_bytes = kDefaultMaxUnpackedBytes;
  int64_t max_entries = kDefaultMaxEntries;  // see above
  // What the archive is, for messages: "layer sha256:...". Default: its path.
  std::string label;
};

struct UnpackStats {
  int64_t bytes = 0;    // sizes of the regular files written
  int64_t entries = 0;  // entries read
  int64_t skipped_devices = 0;  // device nodes below dev/ not created
};

// Unpacks the archive at `archive_path` into the existing, empty directory
// `dest` following the rules above. On failure `dest` may hold part of the
// archive: the caller unpacks into a scratch directory and removes it.
Status unpack_archive(const std::string& archive_path, const std::string& dest,
                      const UnpackOptions& options = {}, UnpackStats* stats = nullptr);

// Makes everything written below `dir` durable before it is published by a
// rename: syncfs(2) of the filesystem holding it (one call for all the files
// and directories of a layer, instead of an fsync each).
Status sync_tree(const std::string& dir);

// Hex sha256 of the regular file's bytes (a blob digest). Not a regular file
// (a symlink, a FIFO, a device) is kInvalidArgument.
Result<std::string> sha256_file(const std::string& path);
// Hex sha256 of the regular file's bytes after decompression (a layer's
// DiffID); more than `max_bytes` decompressed is kInvalidArgument.
Result<std::string> sha256_uncompressed(const std::string& path, int64_t max_bytes = kDefaultMaxUnpackedBytes);
std::string sha256_hex(const std::string& data);

// Whole file, or kNotFound/kInternal saying which file could not be read.
// For shoald's own files; untrusted ones go through os::read_file_in_root.
Result<std::string> read_whole_file(const std::string& path);

}  // namespace shoal::runtime
