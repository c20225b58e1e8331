// Small file writes with the durability each caller needs.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/result.h"

namespace shoal {

// Writes `data` to `path` via a temp file in the same directory, fsync,
// rename and an fsync of the directory: readers see the old or the new
// content, never a mix, and once it returns the new content survives a
// crash. The file gets `mode` exactly (default 0600: nothing shoald writes is
// readable by other users unless the caller says so).
Status write_file_atomic(const std::string& path, const std::string& data, mode_t mode = 0600);

// Creates or truncates `path` and writes `data`, without a temp file or
// fsync: for files that something written atomically afterwards marks as
// complete (a container's bundle before its config.json), where a new inode
// and a sync per file would only cost time.
Status write_file(const std::string& path, const std::string& data, mode_t mode = 0600);

// rename(from, to), then fsync of the directory holding `to` (and of the one
// holding `from`, if another), so the rename itself is durable. On a failed
// rename `from` is unlinked (it is a temp file by convention).
Status rename_durable(const std::string& from, const std::string& to);
// fsync of a directory: makes the entries created, renamed or removed in it
// durable.
Status sync_dir(const std::string& dir);

}  // namespace shoal
