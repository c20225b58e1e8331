#include "os/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <linux/close_range.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace shoal::os {

std::vector<char*> exec_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

Result<pid_t> spawn(const SpawnOptions& o) {
  if (o.argv.empty()) return invalid_argument("spawn: empty argv");
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (o.append ? O_APPEND : O_TRUNC);
  int out = o.stdout_path.empty() ? ::open("/dev/null", O_WRONLY | O_CLOEXEC) : ::open(o.stdout_path.c_str(), flags, 0640);
  if (out < 0) return errno_status("opening " + o.stdout_path, errno);
  int err = o.stderr_path.empty() ? -1 : ::open(o.stderr_path.c_str(), flags, 0640);
  auto argv = exec_strings(o.argv);
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  for (const auto& e : o.env_add) env.push_back(e);
  auto envp = exec_strings(env);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    ::close(out);
    if (err >= 0) ::close(err);
    return errno_status("fork", e);
  }
  if (pid == 0) {
    if (o.new_session) setsid();
    if (o.pdeathsig) {
      prctl(PR_SET_PDEATHSIG, o.pdeathsig);
      if (getppid() != parent) _exit(1);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    int devnull = ::open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(out, 1);
    dup2(err >= 0 ? err : out, 2);
    close_range(3, ~0U, 0);  // never leak shoald's sockets into children
    execvpe(argv[0], argv.data(), envp.data());
    dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  ::close(out);
  if (err >= 0) ::close(err);
  return pid;
}

Result<int> wait_pid(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0) return errno_status("waitpid", errno);
    if (std::chrono::steady_clock::now() >= deadline) return deadline_exceeded("process " + std::to_string(pid) + " still running");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool process_alive(pid_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

Result<std::string> run_capture(const std::vector<std::string>& argv_in, const std::string& stdin_data) {
  int outp[2], errp[2], inp[2];
  if (pipe2(outp, O_CLOEXEC) || pipe2(errp, O_CLOEXEC) || pipe2(inp, O_CLOEXEC)) return errno_status("pipe", errno);
  auto argv = exec_strings(argv_in);
  pid_t pid = fork();
  if (pid < 0) return errno_status("fork", errno);
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(inp[0], 0);
    dup2(outp[1], 1);
    dup2(errp[1], 2);
    close_range(3, ~0U, 0);
    execvp(argv[0], argv.data());
    dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  ::close(outp[1]);
  ::close(errp[1]);
  ::close(inp[0]);
  if (!stdin_data.empty()) {
    size_t off = 0;
    while (off < stdin_data.size()) {
      ssize_t n = ::write(inp[1], stdin_data.data() + off, stdin_data.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
  }
  ::close(inp[1]);
  std::string out, err;
  struct pollfd fds[2] = {{outp[0], POLLIN, 0}, {errp[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[8192];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? out : err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (code != 0) {
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return Status(Code::kInternal, argv_in[0] + " exited with " + std::to_string(code) + (err.empty() ? "" : ": " + err));
  }
  return out;
}

}  // namespace shoal::os
