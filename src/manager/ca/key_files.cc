#include "manager/ca/key_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

namespace shoal::ca {

namespace {

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

std::string octal(mode_t m) {
  char buf[8];
  snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

}  // namespace

Result<std::string> read_private_file(const std::string& path, bool secret, size_t max_bytes) {
  Fd f{::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)};
  if (f.fd < 0) {
    int err = errno;
    if (err == ENOENT) return not_found(path + " is missing");
    if (err == ELOOP) return failed_precondition(path + " is a symlink: shoald reads its keys and certificates only "
                                                 "from regular files; replace the link with the file itself");
    return errno_status("opening " + path, err);
  }
  struct stat st;
  if (fstat(f.fd, &st) != 0) return errno_status("fstat " + path, errno);
  if (!S_ISREG(st.st_mode)) return failed_precondition(path + " is not a regular file: replace it with the file itself");
  if (st.st_uid != geteuid()) {
    return failed_precondition(path + " is owned by uid " + std::to_string(st.st_uid) + ", not by shoald's uid " +
                               std::to_string(geteuid()) + ": another user could have written it; chown it (and " +
                               "consider the swarm's keys leaked)");
  }
  if (secret && (st.st_mode & 077) != 0) {
    return failed_precondition(path + " is readable by other users (mode " + octal(st.st_mode) +
                               ", only 0600 is private): chmod 0600 it (and consider the key leaked)");
  }
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    return failed_precondition(path + " has " + std::to_string(st.st_size) + " bytes, more than a key or certificate (" +
                               std::to_string(max_bytes) + ")");
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(f.fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status("reading " + path, errno);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

Status ensure_private_dir(const std::string& dir) {
  std::error_code ec;
  auto parent = std::filesystem::path(dir).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) return internal_error("creating " + parent.string() + ": " + ec.message());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return errno_status("creating " + dir, errno);
  Fd f{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
  if (f.fd < 0) {
    int err = errno;
    if (err == ELOOP || err == ENOTDIR) {
      return failed_precondition(dir + " is not a directory (a symlink or a file): shoald keeps keys only in a "
                                 "directory of its own; remove it and start again");
    }
    return errno_status("opening " + dir, err);
  }
  struct stat st;
  if (fstat(f.fd, &st) != 0) return errno_status("fstat " + dir, errno);
  if (st.st_uid != geteuid()) {
    return failed_precondition(dir + " is owned by uid " + std::to_string(st.st_uid) + ", not by shoald's uid " +
                               std::to_string(geteuid()) + ": remove it and start again");
  }
  if (fchmod(f.fd, 0700) != 0) return errno_status("chmod 0700 " + dir, errno);
  return ok_status();
}

}  // namespace shoal::ca
