#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace shoal {

namespace {

// Writes all of `data` to `fd`; errno is set when it returns false.
bool write_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

Status write_file_atomic(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp-XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0) return errno_status("creating a temp file next to " + path, errno);
  if (!write_all(fd, data)) {
    int err = errno;
    close(fd);
    unlink(tmp.c_str());
    return errno_status("writing " + tmp, err);
  }
  fchmod(fd, mode);
  if (fsync(fd) != 0 || close(fd) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return errno_status("syncing " + tmp, err);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return errno_status("renaming " + tmp + " to " + path, err);
  }
  return ok_status();
}

Status write_file(const std::string& path, const std::string& data, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return errno_status("creating " + path, errno);
  if (!write_all(fd, data)) {
    int err = errno;
    close(fd);
    return errno_status("writing " + path, err);
  }
  if (close(fd) != 0) return errno_status("writing " + path, errno);
  return ok_status();
}

}  // namespace shoal
