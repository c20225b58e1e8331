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
  return rename_durable(tmp, path);
}

Status sync_dir(const std::string& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_status("opening directory " + dir + " to sync it", errno);
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  // EINVAL: a filesystem that cannot sync directories (nothing to wait for).
  if (rc != 0 && err != EINVAL) return errno_status("syncing directory " + dir, err);
  return ok_status();
}

Status rename_durable(const std::string& from, const std::string& to) {
  if (rename(from.c_str(), to.c_str()) != 0) {
    int err = errno;
    unlink(from.c_str());
    return errno_status("renaming " + from + " to " + to, err);
  }
  auto parent = [](const std::string& p) {
    size_t slash = p.find_last_of('/');
    return slash == std::string::npos ? std::string(".") : slash == 0 ? std::string("/") : p.substr(0, slash);
  };
  SHOAL_RETURN_IF_ERROR(sync_dir(parent(to)));
  if (parent(from) != parent(to)) SHOAL_RETURN_IF_ERROR(sync_dir(parent(from)));
  return ok_status();
}

Status write_file(const std::string& path, const std::string& data, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return errno_status("creating " + path, errno);
  fchmod(fd, mode);  // exactly `mode`, whatever the umask (shoald's is 077)
  if (!write_all(fd, data)) {
    int err = errno;
    close(fd);
    return errno_status("writing " + path, err);
  }
  if (close(fd) != 0) return errno_status("writing " + path, errno);
  return ok_status();
}

}  // namespace shoal
