#include "agent/runtime/shim.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <spawn.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/runtime/layer.h"
#include "common/files.h"
#include "common/time.h"

namespace shoal::runtime {

namespace {

void write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// Emits the complete lines of `buf` (all of it if `flush_all`) as json-file
// records; keeps a partial last line for later.
void log_lines(int log_fd, std::string& buf, const char* stream, bool flush_all) {
  auto emit = [&](const std::string& line) {
    nlohmann::json j = {{"log", line}, {"stream", stream},
                        {"time", format_rfc3339(std::chrono::system_clock::now())}};
    // Invalid UTF-8 from the container must not kill the shim.
    write_all(log_fd, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  };
  size_t nl;
  while ((nl = buf.find('\n')) != std::string::npos) {
    emit(buf.substr(0, nl + 1));
    buf.erase(0, nl + 1);
  }
  // Docker splits very long lines at 16 KiB.
  while (buf.size() >= 16384) {
    emit(buf.substr(0, 16384));
    buf.erase(0, 16384);
  }
  if (flush_all && !buf.empty()) {
    emit(buf);
    buf.clear();
  }
}

}  // namespace

std::string runtime_log_error(const std::string& log_path) {
  std::ifstream in(log_path);
  std::string line, last;
  while (std::getline(in, line)) {
    try {
      nlohmann::json j = nlohmann::json::parse(line);
      if (j.value("level", "") == "error") last = j.value("msg", line);
    } catch (...) {
      if (!line.empty()) last = line;
    }
  }
  for (const char* prefix : {"runc run failed: ", "runc create failed: ", "runc exec failed: "}) {
    if (last.rfind(prefix, 0) == 0) last = last.substr(strlen(prefix));
  }
  return last;
}

int read_ready_pipes(pollfd* fds, int n, char* buf, size_t size,
                     const std::function<void(int, const char*, size_t)>& each) {
  int closed = 0;
  for (int i = 0; i < n; ++i) {
    if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    ssize_t got = read(fds[i].fd, buf, size);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      close(fds[i].fd);
      fds[i].fd = -1;
      ++closed;
      continue;
    }
    each(i, buf, static_cast<size_t>(got));
  }
  return closed;
}

int start_failure_code(const std::string& error, int code) {
  if (error.empty()) return code;
  if (error.find("executable file not found") != std::string::npos ||
      error.find("no such file or directory") != std::string::npos) {
    return 127;
  }
  if (error.find("permission denied") != std::string::npos) return 126;
  return code;
}

std::string runtime_error(const std::string& dir) {
  std::string last = runtime_log_error(dir + "/runtime.log");
  return last.empty() ? "" : "OCI runtime create failed: " + last;
}

Result<pid_t> spawn_shim(const std::string& self_exe, const std::string& dir, const std::string& oci_runtime,
                         const std::string& state_root, const std::string& id) {
  // fd 3 of the shim: where it reports the pid it runs on after detaching.
  std::vector<std::string> args = {self_exe, "__shim", dir, oci_runtime, state_root, id, "3"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string log = dir + "/shim.log";
  int p[2] = {-1, -1};
  if (pipe2(p, O_CLOEXEC) != 0) return errno_status("preparing the shim's report pipe", errno);
  // posix_spawn (a vfork underneath): no copy of this large, multithreaded
  // process's page tables per container, as fork() would make. The child
  // gets its own session, an empty signal mask, stdin from /dev/null,
  // stdout/stderr to shim.log, the pipe as fd 3 and nothing else.
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0640);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_adddup2(&fa, p[1], 3);
  posix_spawn_file_actions_addclosefrom_np(&fa, 4);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
  pid_t child = -1;
  int rc = posix_spawn(&child, argv[0], &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(p[1]);
  if (rc != 0) {
    close(p[0]);
    return errno_status("starting the container supervisor " + self_exe, rc);
  }
  // The child forks the long-lived shim, writes its pid and exits; the shim
  // is then reparented to init (or the nearest subreaper), never to shoald.
  pid_t shim = -1;
  ssize_t n;
  while ((n = read(p[0], &shim, sizeof shim)) < 0 && errno == EINTR) {
  }
  close(p[0]);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (n != sizeof shim || shim <= 0) {
    return internal_error("the container supervisor " + self_exe + " did not start (exit status " +
                          std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)) +
                          "; see " + log + ")");
  }
  return shim;
}

int shim_main(int argc, char** argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: shoald __shim CONTAINER_DIR OCI_RUNTIME STATE_ROOT ID REPORT_FD\n");
    return 2;
  }
  const std::string dir = argv[2], runtime = argv[3], state_root = argv[4], id = argv[5];
  // The shim keeps shoald's umask (077) for what it writes (shim.pid, started,
  // the log); runc gets Docker's 022 below, since it hands its umask to the
  // container (mount points it creates, the process's own files).
  // Detach: the process shoald started reports the pid of the one that
  // stays, and exits.
  {
    int report_fd = std::atoi(argv[6]);
    pid_t stay = fork();
    if (stay < 0) {
      perror("shim: fork");
      return 1;
    }
    if (stay > 0) {
      ssize_t ignored = write(report_fd, &stay, sizeof stay);
      (void)ignored;
      _exit(0);
    }
    close(report_fd);
    // Recorded by the shim itself before the container starts, so a shoald
    // that crashes before it writes the pid file finds the shim on restart.
    Status st = write_file_atomic(dir + "/shim.pid", std::to_string(getpid()));
    if (!st.ok()) {
      fprintf(stderr, "shim: %s\n", st.message().c_str());
      return 1;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    perror("shim: pipe");
    return 1;
  }
  int log_fd = open((dir + "/container.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log_fd < 0) perror("shim: opening container.log");
  const std::string runtime_log = dir + "/runtime.log", bundle = dir + "/bundle", pid_file = dir + "/container.pid";
  std::vector<std::string> args = {runtime, "--root", state_root, "--log", runtime_log, "--log-format", "json",
                                   "run", "--bundle", bundle, "--pid-file", pid_file, id};
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t child = fork();
  if (child < 0) {
    perror("shim: fork");
    return 1;
  }
  if (child == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    close_range(3, ~0U, 0);
    signal(SIGHUP, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    umask(022);
    execvp(cargv[0], cargv.data());
    fprintf(stderr, "exec %s: %s\n", runtime.c_str(), strerror(errno));
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  std::string bufs[2];
  const char* streams[2] = {"stdout", "stderr"};
  struct pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[16384];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    open_fds -= read_ready_pipes(fds, 2, buf, sizeof buf, [&](int i, const char* data, size_t n) {
      bufs[i].append(data, n);
      if (log_fd >= 0) log_lines(log_fd, bufs[i], streams[i], false);
    });
  }
  if (log_fd >= 0) {
    for (int i = 0; i < 2; ++i) log_lines(log_fd, bufs[i], streams[i], true);
    fsync(log_fd);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::string error = code == 0 ? "" : runtime_error(dir);
  code = start_failure_code(error, code);
  nlohmann::json j = {{"ExitCode", code}, {"FinishedAt", format_rfc3339(std::chrono::system_clock::now())},
                      {"Error", error}};
  Status st = write_file_atomic(dir + "/exit.json", j.dump() + "\n");
  if (!st.ok()) {
    fprintf(stderr, "shim: recording the exit status: %s\n", st.message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace shoal::runtime
