// Layer and file helpers for the image store: unpacking tar archives (any
// compression libarchive reads: none, gzip, zstd, xz, ...) with OCI
// whiteouts turned into overlayfs ones, content digests, atomic writes.
// Stateless; safe to call from any thread.
#pragma once

#include <cstdint>
#include <string>

#include "common/files.h"
#include "common/result.h"

namespace shoal::runtime {

struct UnpackOptions {
  // Layer semantics: ".wh.NAME" becomes an overlayfs whiteout (a 0/0
  // character device NAME) and ".wh..wh..opq" marks its directory opaque
  // (xattr trusted.overlay.opaque=y). Without it, entries are written as is.
  bool overlay_whiteouts = true;
};

// Unpacks the archive at `archive_path` into the existing directory `dest`,
// keeping owners, modes, times and xattrs; refuses entries that escape dest
// ("..", through symlinks). `unpacked_bytes` (optional) receives the total
// size of the regular files written.
Status unpack_archive(const std::string& archive_path, const std::string& dest,
                      const UnpackOptions& options = {}, int64_t* unpacked_bytes = nullptr);

// Hex sha256 of the file's bytes (a blob digest).
Result<std::string> sha256_file(const std::string& path);
// Hex sha256 of the file's bytes after decompression (a layer's DiffID).
Result<std::string> sha256_uncompressed(const std::string& path);
std::string sha256_hex(const std::string& data);

// Whole file, or kNotFound/kInternal saying which file could not be read.
Result<std::string> read_whole_file(const std::string& path);

}  // namespace shoal::runtime
