#include "daemon/main.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "agent/runtime/exec_helper.h"
#include "agent/runtime/shim.h"
#include "common/log.h"
#include "daemon/daemon.h"

namespace shoal::daemon {

namespace {

// The data root holds the etcd data, the CA's sealed key, images and every
// task's files: only root may enter it (Docker makes its own 0710).
Status secure_data_root(const std::string& root) {
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) return internal_error("creating the data root " + root + ": " + ec.message());
  struct stat st;
  if (lstat(root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return invalid_argument("the data root " + root + " is not a directory (a symlink is not accepted either)");
  }
  if (st.st_uid != 0) {
    return invalid_argument("the data root " + root + " is owned by uid " + std::to_string(st.st_uid) +
                            ", not root: another user could read or change swarm state; chown it to root");
  }
  if (chmod(root.c_str(), 0700) != 0) {
    return internal_error("making the data root " + root + " private (chmod 0700): " + std::strerror(errno));
  }
  return ok_status();
}

}  // namespace

int daemon_main(int argc, char** argv) {
  // The per-container supervisor is this same binary, re-executed.
  if (argc > 1 && std::strcmp(argv[1], "__shim") == 0) return runtime::shim_main(argc, argv);
  if (argc > 1 && std::strcmp(argv[1], "__exec") == 0) return runtime::exec_helper_main(argc, argv);

  auto opts = parse_daemon_options(std::vector<std::string>(argv + 1, argv + argc));
  if (!opts.ok()) {
    std::cerr << "shoald: " << opts.status().message() << "\n";
    return 1;
  }
  if (opts->help) {
    std::cout << daemon_usage();
    return 0;
  }
  if (geteuid() != 0) {
    std::cerr << "shoald: must run as root (it creates namespaces, mounts and cgroups)\n";
    return 1;
  }
  // Nothing shoald writes is readable by other users unless it says so with
  // an explicit mode (what containers see inside their own root).
  umask(077);
  if (Status st = secure_data_root(opts->data_root); !st.ok()) {
    std::cerr << "shoald: " << st.message() << "\n";
    return 1;
  }
  setenv("SHOAL_LOG_LEVEL", opts->log_level.c_str(), 0);
  // Many sessions and containers: raise the open file limit as far as allowed.
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // every thread inherits the mask
  signal(SIGPIPE, SIG_IGN);

  Daemon daemon(*opts);
  Status st = daemon.start();
  if (!st.ok()) {
    std::cerr << "shoald: " << st.message() << "\n";
    return 1;
  }
  int sig = 0;
  sigwait(&set, &sig);
  LOG_INFO("shoald", "received signal " << sig << ": shutting down (containers keep running)");
  daemon.stop();
  return 0;
}

}  // namespace shoal::daemon
