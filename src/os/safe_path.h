// Path resolution confined to a directory, for trees whose content is not
// ours to trust: unpacked image layers, unpacked `docker save` archives, a
// container's root filesystem. Every lookup starts at a directory fd and
// cannot leave it, whatever the tree's symlinks and ".." say.
//
// The kernel does the check when it can: openat2(2) with RESOLVE_IN_ROOT or
// RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, and RESOLVE_NO_MAGICLINKS always
// (Linux >= 5.6). On older kernels the same rules are applied by a walk one
// component at a time with O_NOFOLLOW, reading each symlink by hand. The
// walk is not atomic against a concurrent writer of the tree; the trees we
// resolve in are private to shoald (0700) while we do.
//
// Stateless; every function is safe to call from any thread.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "common/result.h"

namespace shoal::os {

// An owned file descriptor, closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset();
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_ = -1;
};

enum class Resolve {
  // Symlinks are followed as if the root were "/": an absolute link or a
  // ".." at the top stays at the root (RESOLVE_IN_ROOT). For reading what an
  // image means, e.g. its /etc/passwd, as the container would see it.
  kInRoot,
  // No symlink anywhere on the path (ELOOP), no ".." above the root (EXDEV)
  // (RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS). For writing into a tree. With
  // O_PATH|O_NOFOLLOW a trailing symlink is opened itself, as openat2 does.
  kNoSymlinks,
};

// Opens `rel` below the directory `root_fd` with openat(2)-style `flags`
// (O_CLOEXEC is added) and `mode` (for O_CREAT). `rel` is relative; a
// leading "/" means the root. Returns the fd, or -errno: ENOENT, ENOTDIR,
// ELOOP (a symlink kNoSymlinks forbids, or more than 40 links), EXDEV (the
// path would leave the root), or what openat(2) says.
int open_in_root(int root_fd, const std::string& rel, int flags, Resolve how, mode_t mode = 0);

// True when this kernel has openat2 (checked once); false means the walk.
bool have_openat2();
// For tests: forces the hand-written walk even where openat2 exists.
void force_walk_for_testing(bool on);

// Reads the regular file `rel` inside `root` (resolved with `how`), at most
// `max_bytes` of it. The file is opened O_NONBLOCK (a FIFO cannot hang us)
// and must be S_ISREG by fstat: a symlink to /dev/zero, a device, a FIFO or a
// directory is kInvalidArgument, a missing file kNotFound, one larger than
// `max_bytes` kInvalidArgument saying the limit. Messages name `rel`
// (shortened by printable()).
Result<std::string> read_file_in_root(const std::string& root, const std::string& rel, size_t max_bytes,
                                      Resolve how = Resolve::kInRoot);

// Opens the regular file `rel` inside `root` for reading (same rules as
// read_file_in_root, without the size cap) and returns its fd.
Result<UniqueFd> open_regular_in_root(const std::string& root, const std::string& rel,
                                      Resolve how = Resolve::kInRoot);

// Removes `name` in the directory `dir_fd` and, if it is a directory,
// everything below it, never following a symlink. 0 or -errno.
int remove_tree_at(int dir_fd, const std::string& name);

// `s` for an error message: at most `max` bytes, control and non-ASCII bytes
// as \xNN, "..." appended when cut. Untrusted names go through this.
std::string printable(const std::string& s, size_t max = 120);

}  // namespace shoal::os
