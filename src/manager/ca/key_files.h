// Opening the manager's key and certificate files without following
// symlinks, so nothing planted in the data root can redirect a key read or
// write (defence in depth: the data root is already 0700 and root's).
//
// read_private_file opens with O_NOFOLLOW|O_NONBLOCK and checks the open file
// by fstat: a regular file (not a symlink, FIFO or device), owned by this
// process's effective uid, at most `max_bytes`; with `secret` also not
// readable or writable by group or others. ensure_private_dir creates `dir`
// (and its parents) if absent and checks, on
// the open directory (O_NOFOLLOW|O_DIRECTORY + fstat), that it is a
// directory owned by this uid, then makes it 0700. Errors name the path and
// the fix. Thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <string>

#include "common/result.h"

namespace shoal::ca {

constexpr size_t kMaxKeyFileBytes = 1 << 20;

// kNotFound if absent; kFailedPrecondition if it is a symlink or not a
// private regular file of ours.
Result<std::string> read_private_file(const std::string& path, bool secret, size_t max_bytes = kMaxKeyFileBytes);

Status ensure_private_dir(const std::string& dir);

}  // namespace shoal::ca
