#include "agent/runtime/shim.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "common/time.h"

namespace shoal::runtime {

namespace {

void write_file(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  ssize_t ignored = write(fd, data.data(), data.size());
  (void)ignored;
  fsync(fd);
  close(fd);
  rename(tmp.c_str(), path.c_str());
}

void log_lines(int log_fd, std::string& buf, const char* stream, bool flush_all) {
  size_t nl;
  auto emit = [&](const std::string& line) {
    nlohmann::json j = {{"log", line}, {"stream", stream},
                        {"time", format_rfc3339(std::chrono::system_clock::now())}};
    std::string out = j.dump() + "\n";
    ssize_t ignored = write(log_fd, out.data(), out.size());
    (void)ignored;
  };
  while ((nl = buf.find('\n')) != std::string::npos) {
    emit(buf.substr(0, nl + 1));
    buf.erase(0, nl + 1);
  }
  if (flush_all && !buf.empty()) {
    emit(buf);
    buf.clear();
  }
}

}  // namespace

int shim_main(int argc, char** argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: shoald __shim CONTAINER_DIR RUNTIME ID\n");
    return 2;
  }
  std::string dir = argv[2], runtime = argv[3], id = argv[4];
  signal(SIGPIPE, SIG_IGN);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) return 1;
  int log_fd = open((dir + "/container.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  std::string runc_log = dir + "/runtime.log";
  pid_t child = fork();
  if (child == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    close_range(3, ~0U, 0);
    std::string bundle = dir + "/bundle";
    std::string pid_file = dir + "/container.pid";
    execlp(runtime.c_str(), runtime.c_str(), "--log", runc_log.c_str(), "--log-format", "json", "run", "--bundle", bundle.c_str(),
           "--pid-file", pid_file.c_str(), id.c_str(), nullptr);
    fprintf(stderr, "exec %s: %s\n", runtime.c_str(), strerror(errno));
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  std::string bout, berr;
  struct pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[8192];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      std::string& b = i == 0 ? bout : berr;
      b.append(buf, static_cast<size_t>(n));
      if (log_fd >= 0) log_lines(log_fd, b, i == 0 ? "stdout" : "stderr", false);
    }
  }
  if (log_fd >= 0) {
    log_lines(log_fd, bout, "stdout", true);
    log_lines(log_fd, berr, "stderr", true);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  nlohmann::json j = {{"ExitCode", code}, {"FinishedAt", format_rfc3339(std::chrono::system_clock::now())}};
  write_file(dir + "/exit.json", j.dump());
  return 0;
}

}  // namespace shoal::runtime
