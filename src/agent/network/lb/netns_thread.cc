#include "agent/network/lb/netns_thread.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <thread>

namespace shoal::netlb {

Status call_in_netns(const std::string& netns_path, const std::function<Status()>& fn) {
  if (netns_path.empty()) return fn();
  // Opened here so a bad path is reported before any thread is made.
  int fd = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status("opening the network namespace " + netns_path, errno);
  Status st;
  try {
    std::thread t([&] {
      if (setns(fd, CLONE_NEWNET) != 0) {
        st = errno_status("joining the network namespace " + netns_path, errno);
        return;
      }
      st = fn();
    });
    t.join();
  } catch (const std::system_error& e) {  // no thread could be made
    st = internal_error("starting a thread to enter " + netns_path + ": " + e.what());
  }
  ::close(fd);
  return st;
}

}  // namespace shoal::netlb
