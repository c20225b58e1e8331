#include "os/safe_path.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <deque>
#include <vector>

namespace shoal::os {

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) close(fd_);
    fd_ = o.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() { reset(); }

void UniqueFd::reset() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

namespace {

std::atomic<bool> g_force_walk{false};

std::deque<std::string> split_path(const std::string& p) {
  std::deque<std::string> out;
  size_t pos = 0;
  while (pos <= p.size()) {
    size_t end = p.find('/', pos);
    if (end == std::string::npos) end = p.size();
    if (end > pos) out.push_back(p.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

long sys_openat2(int dirfd, const char* path, int flags, mode_t mode, uint64_t resolve) {
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = resolve;
  return syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

// The hand-written walk. `stack` holds the directories from the root down;
// ".." pops (never below the root), symlinks are read and their components
// queued (kInRoot) or refused (kNoSymlinks).
int walk(int root_fd, const std::string& rel, int flags, Resolve how, mode_t mode) {
  std::vector<UniqueFd> stack;
  auto cur = [&] { return stack.empty() ? root_fd : stack.back().get(); };
  std::deque<std::string> todo = split_path(rel);
  int links = 0;
  if (todo.empty()) todo.push_back(".");
  while (!todo.empty()) {
    std::string comp = std::move(todo.front());
    todo.pop_front();
    bool last = todo.empty();
    if (comp == "..") {
      if (stack.empty()) {
        if (how == Resolve::kNoSymlinks) return -EXDEV;
      } else {
        stack.pop_back();
      }
      if (last) todo.push_back(".");
      continue;
    }
    if (last && comp != ".") {
      bool follow = how == Resolve::kInRoot && !(flags & O_NOFOLLOW);
      struct stat st {};
      bool link = follow && fstatat(cur(), comp.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
      if (!link) {
        int fd = openat(cur(), comp.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0) return fd;
        int err = errno;
        // O_DIRECTORY|O_NOFOLLOW on a symlink says ENOTDIR; openat2 says ELOOP.
        if (err == ENOTDIR && fstatat(cur(), comp.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
          err = ELOOP;
        }
        return -err;
      }
    }
    if (comp == ".") continue;
    int fd = openat(cur(), comp.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -errno;
    UniqueFd f(fd);
    struct stat st {};
    if (fstat(f.get(), &st) != 0) return -errno;
    if (S_ISLNK(st.st_mode)) {
      if (how == Resolve::kNoSymlinks || ++links > 40) return -ELOOP;
      char target[4096];
      ssize_t n = readlinkat(cur(), comp.c_str(), target, sizeof target - 1);
      if (n < 0) return -errno;
      std::string t(target, static_cast<size_t>(n));
      if (!t.empty() && t[0] == '/') stack.clear();
      auto parts = split_path(t);
      if (parts.empty()) parts.push_back(".");
      todo.insert(todo.begin(), parts.begin(), parts.end());
      continue;
    }
    if (!S_ISDIR(st.st_mode)) return -ENOTDIR;
    stack.push_back(std::move(f));
  }
  // Ended on "." or "..": open the directory we are in.
  int fd = openat(cur(), ".", flags | O_CLOEXEC, mode);
  return fd >= 0 ? fd : -errno;
}

}  // namespace

bool have_openat2() {
  static const bool kHave = [] {
    long fd = sys_openat2(AT_FDCWD, "/", O_PATH | O_CLOEXEC, 0, RESOLVE_NO_MAGICLINKS);
    if (fd >= 0) close(static_cast<int>(fd));
    return fd >= 0;
  }();
  return kHave && !g_force_walk.load();
}

void force_walk_for_testing(bool on) { g_force_walk.store(on); }

int open_in_root(int root_fd, const std::string& rel, int flags, Resolve how, mode_t mode) {
  std::string path = rel;
  while (!path.empty() && path[0] == '/') path.erase(0, 1);
  if (path.empty()) path = ".";
  if (have_openat2()) {
    uint64_t resolve = RESOLVE_NO_MAGICLINKS |
                       (how == Resolve::kInRoot ? RESOLVE_IN_ROOT : RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
    for (;;) {
      long fd = sys_openat2(root_fd, path.c_str(), flags | O_CLOEXEC, mode, resolve);
      if (fd >= 0) return static_cast<int>(fd);
      if (errno != EAGAIN && errno != EINTR) return -errno;  // EAGAIN: a rename raced the lookup
    }
  }
  return walk(root_fd, path, flags, how, mode);
}

Result<UniqueFd> open_regular_in_root(const std::string& root, const std::string& rel, Resolve how) {
  UniqueFd dir(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return errno_status("opening " + root, errno);
  int fd = open_in_root(dir.get(), rel, O_RDONLY | O_NONBLOCK, how);
  std::string name = "\"" + printable(rel) + "\"";
  if (fd == -ENOENT) return not_found(name + " does not exist");
  if (fd == -ELOOP) return invalid_argument(name + " is reached through a symlink, which is not allowed here");
  if (fd == -EXDEV) return invalid_argument(name + " points outside its directory");
  if (fd == -ENOTDIR) return invalid_argument(name + " has a parent that is not a directory");
  if (fd < 0) return errno_status("opening " + name, -fd);
  UniqueFd f(fd);
  struct stat st {};
  if (fstat(f.get(), &st) != 0) return errno_status("inspecting " + name, errno);
  if (!S_ISREG(st.st_mode)) {
    return invalid_argument(name + " is not a regular file (it is a " +
                            (S_ISDIR(st.st_mode)   ? "directory"
                             : S_ISCHR(st.st_mode) ? "character device"
                             : S_ISBLK(st.st_mode) ? "block device"
                             : S_ISFIFO(st.st_mode) ? "FIFO"
                                                    : "special file") +
                            ")");
  }
  // Back to blocking reads: regular files never block, but say what we mean.
  fcntl(f.get(), F_SETFL, fcntl(f.get(), F_GETFL) & ~O_NONBLOCK);
  return f;
}

Result<std::string> read_file_in_root(const std::string& root, const std::string& rel, size_t max_bytes,
                                      Resolve how) {
  SHOAL_ASSIGN_OR_RETURN(UniqueFd f, open_regular_in_root(root, rel, how));
  std::string out;
  char buf[1 << 14];
  for (;;) {
    ssize_t n = read(f.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_status("reading \"" + printable(rel) + "\"", errno);
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return invalid_argument("\"" + printable(rel) + "\" is larger than the limit of " + std::to_string(max_bytes) +
                              " bytes for such a file");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

int remove_tree_at(int dir_fd, const std::string& name) {
  if (unlinkat(dir_fd, name.c_str(), 0) == 0) return 0;
  if (errno != EISDIR && errno != EPERM) return -errno;
  int fd = openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -errno;
  DIR* d = fdopendir(fd);
  if (!d) {
    int err = errno;
    close(fd);
    return -err;
  }
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  int rc = 0;
  for (const auto& n : names) {
    rc = remove_tree_at(dirfd(d), n);
    if (rc != 0) break;
  }
  closedir(d);
  if (rc != 0) return rc;
  return unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) == 0 ? 0 : -errno;
}

std::string printable(const std::string& s, size_t max) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (out.size() >= max) return out + "...";
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      char hex[8];
      snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

}  // namespace shoal::os
