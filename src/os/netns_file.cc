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
  struct statfs sfs {};
  if (::statfs(path.c_str(), &sfs) != 0) return false;
  return static_cast<unsigned long>(sfs.f_type) == NSFS_MAGIC;
}

Status create_netns_file(const std::string& path) {
  if (is_netns_mount(path)) return already_exists("a network namespace is already mounted on " + path);
  int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
  if (fd < 0) return errno_status("creating the namespace file " + path, errno);
  ::close(fd);
  return on_fresh_thread([&]() -> Status {
    if (::unshare(CLONE_NEWNET) != 0) return errno_status("creating a network namespace (unshare) for " + path, errno);
    std::string self = "/proc/self/task/" + std::to_string(::syscall(SYS_gettid)) + "/ns/net";
    if (::mount(self.c_str(), path.c_str(), nullptr, MS_BIND, nullptr) != 0)
      return errno_status("bind-mounting the new network namespace on " + path, errno);
    return ok_status();
  });
}

Status remove_netns_file(const std::string& path) {
  // A namespace file can be mounted more than once (e.g. by a concurrent
  // create that lost a race); unmount until nothing is left.
  for (int i = 0; i < 16 && is_mount_point(path); ++i) {
    if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL)
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
