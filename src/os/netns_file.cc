#include "os/netns_file.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <thread>

namespace shoal::os {

Result<UniqueFd> open_netns(const std::string& path, const std::string& what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status("opening the network namespace of " + what + " (" + path + ")", errno);
  return UniqueFd(fd);
}

Result<UniqueFd> open_netns_nofollow(const std::string& path, const std::string& what) {
  // O_NONBLOCK: a FIFO put where a namespace file should be cannot hang us.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0 && errno == ELOOP)
    return failed_precondition("the network namespace file of " + what + " (" + path +
                               ") is a symbolic link: refused, it must be a namespace mounted there");
  if (fd < 0) return errno_status("opening the network namespace of " + what + " (" + path + ")", errno);
  UniqueFd owned(fd);
  struct statfs sfs {};
  if (::fstatfs(fd, &sfs) != 0) return errno_status("checking the namespace file " + path, errno);
  if (static_cast<unsigned long>(sfs.f_type) != NSFS_MAGIC)
    return failed_precondition("the network namespace file of " + what + " (" + path +
                               ") has no namespace mounted on it");
  return owned;
}

Result<UniqueFd> open_current_netns() {
  int fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status("opening this thread's network namespace (/proc/thread-self/ns/net)", errno);
  return UniqueFd(fd);
}

namespace {

// Runs fn on a fresh thread and waits for it. The thread is joined before
// returning, so fn may capture the caller's locals by reference.
Status on_fresh_thread(const std::function<Status()>& fn) {
  Status st;
  try {
    std::thread t([&] {
      try {
        st = fn();
      } catch (const std::exception& e) {  // escaping the thread would be std::terminate
        st = internal_error(std::string("namespace work failed: ") + e.what());
      }
    });
    t.join();
  } catch (const std::system_error& e) {
    return internal_error(std::string("starting a helper thread for namespace work: ") + e.what());
  }
  return st;
}

}  // namespace

Status run_in_netns_thread(int ns_fd, const std::string& what, const std::function<Status()>& fn) {
  return on_fresh_thread([&]() -> Status {
    // The thread ends right after fn, so it never has to switch back.
    if (::setns(ns_fd, CLONE_NEWNET) != 0) return errno_status("joining the network namespace of " + what, errno);
    return fn();
  });
}

Status call_in_netns(const std::string& netns_path, const std::function<Status()>& fn) {
  if (netns_path.empty()) return fn();
  SHOAL_ASSIGN_OR_RETURN(UniqueFd ns, open_netns(netns_path, netns_path));
  return run_in_netns_thread(ns.get(), netns_path, fn);
}

bool is_netns_mount(const std::string& path) {
  // O_PATH|O_NOFOLLOW opens a trailing symlink itself, whose file system is
  // never nsfs: a symlink to a namespace is not a namespace mount.
  int fd = ::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  struct statfs sfs {};
  bool nsfs = ::fstatfs(fd, &sfs) == 0 && static_cast<unsigned long>(sfs.f_type) == NSFS_MAGIC;
  ::close(fd);
  return nsfs;
}

Status create_netns_file(const std::string& path) {
  if (is_netns_mount(path)) return already_exists("a network namespace is already mounted on " + path);
  int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0444);
  if (fd < 0 && errno == ELOOP)
    return failed_precondition("the namespace file " + path + " is a symbolic link: refused");
  if (fd < 0) return errno_status("creating the namespace file " + path, errno);
  UniqueFd file(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno_status("checking the namespace file " + path, errno);
  if (!S_ISREG(st.st_mode)) return failed_precondition(path + " is not a regular file: refused as a namespace file");
  return on_fresh_thread([&]() -> Status {
    if (::unshare(CLONE_NEWNET) != 0) return errno_status("creating a network namespace (unshare) for " + path, errno);
    std::string self = "/proc/self/task/" + std::to_string(::syscall(SYS_gettid)) + "/ns/net";
    // Mounted on the file opened above (through its /proc fd link), not on
    // whatever `path` names by now.
    std::string target = "/proc/self/fd/" + std::to_string(file.get());
    if (::mount(self.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0)
      return errno_status("bind-mounting the new network namespace on " + path, errno);
    return ok_status();
  });
}

Status remove_netns_file(const std::string& path) {
  // A namespace file can be mounted more than once (e.g. by a concurrent
  // create that lost a race); unmount until nothing is left.
  for (int i = 0; i < 16 && is_mount_point(path); ++i) {
    if (::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL)
      return errno_status("unmounting the network namespace " + path, errno);
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return errno_status("removing " + path, errno);
  return ok_status();
}

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mountinfo(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    bool octal = s[i] == '\\' && i + 3 < s.size();
    for (size_t k = 1; octal && k <= 3; ++k) octal = s[i + k] >= '0' && s[i + k] <= '7';
    if (octal) {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

bool is_mount_point(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // Fields: id parent major:minor root mount-point ...
    std::istringstream f(line);
    std::string id, parent, dev, root, mount_point;
    if (!(f >> id >> parent >> dev >> root >> mount_point)) continue;
    if (unescape_mountinfo(mount_point) == path) return true;
  }
  return false;
}

}  // namespace shoal::os
