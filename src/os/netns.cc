#include "os/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <linux/close_range.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace shoal::os {

namespace {

// In a forked child: only async-signal-safe calls. Reports {step, errno}
// on `report` and exits when a step fails.
[[noreturn]] void child_fail(int report, int step) {
  int msg[2] = {step, errno};
  (void)!::write(report, msg, sizeof msg);
  _exit(127);
}

const char* kSteps[] = {"joining the network namespace (setns)", "creating a UTS namespace (unshare)",
                        "setting the hostname", "exec"};

}  // namespace

Result<pid_t> spawn_in_netns(const std::string& netns_path, const std::string& hostname, const SpawnOptions& o) {
  if (o.argv.empty()) return invalid_argument("spawn_in_netns: empty argv");
  int ns = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns < 0) return errno_status("opening the network namespace " + netns_path, errno);
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (o.append ? O_APPEND : O_TRUNC);
  int out = o.stdout_path.empty() ? ::open("/dev/null", O_WRONLY | O_CLOEXEC) : ::open(o.stdout_path.c_str(), flags, 0640);
  if (out < 0) {
    int e = errno;
    ::close(ns);
    return errno_status("opening " + o.stdout_path, e);
  }
  int err = o.stderr_path.empty() ? -1 : ::open(o.stderr_path.c_str(), flags, 0640);
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return errno_status("pipe", errno);
  auto argv = exec_strings(o.argv);
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  for (const auto& e : o.env_add) env.push_back(e);
  auto envp = exec_strings(env);
  pid_t pid = fork();
  if (pid == 0) {
    ::close(report[0]);
    if (o.new_session) setsid();
    if (setns(ns, CLONE_NEWNET) != 0) child_fail(report[1], 0);
    if (!hostname.empty()) {
      if (unshare(CLONE_NEWUTS) != 0) child_fail(report[1], 1);
      if (sethostname(hostname.data(), hostname.size()) != 0) child_fail(report[1], 2);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(devnull, 0);
    dup2(out, 1);
    dup2(err >= 0 ? err : out, 2);
    // Keep only stdio and the report pipe (close-on-exec: it closes when
    // the exec succeeds, which is how the parent learns of it).
    int keep = report[1];
    if (keep > 3) {
      dup3(keep, 3, O_CLOEXEC);
      keep = 3;
    }
    close_range(4, ~0U, 0);
    execvpe(argv[0], argv.data(), envp.data());
    child_fail(keep, 3);
  }
  int fork_errno = errno;
  ::close(report[1]);
  ::close(ns);
  ::close(out);
  ::close(devnull);
  if (err >= 0) ::close(err);
  if (pid < 0) {
    ::close(report[0]);
    return errno_status("fork", fork_errno);
  }
  int msg[2];
  ssize_t n;
  do n = ::read(report[0], msg, sizeof msg);
  while (n < 0 && errno == EINTR);
  ::close(report[0]);
  if (n == static_cast<ssize_t>(sizeof msg)) {
    int status;
    waitpid(pid, &status, 0);
    return errno_status(std::string(kSteps[msg[0]]) + " for " + o.argv[0] + " in " + netns_path, msg[1]);
  }
  return pid;
}

Result<int> run_in_netns(const std::string& netns_path, const std::vector<std::string>& argv_in) {
  if (argv_in.empty()) return invalid_argument("run_in_netns: empty argv");
  int ns = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns < 0) return errno_status("opening the network namespace " + netns_path, errno);
  auto argv = exec_strings(argv_in);
  pid_t pid = fork();
  if (pid == 0) {
    if (setns(ns, CLONE_NEWNET) != 0) {
      dprintf(2, "joining the network namespace %s: %s\n", netns_path.c_str(), strerror(errno));
      _exit(127);
    }
    execvp(argv[0], argv.data());
    dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  int fork_errno = errno;
  ::close(ns);
  if (pid < 0) return errno_status("fork", fork_errno);
  // The command owns the terminal's signals meanwhile: ^C reaches it, and we
  // report how it ended.
  struct sigaction ign {}, old_int {}, old_quit {};
  ign.sa_handler = SIG_IGN;
  sigaction(SIGINT, &ign, &old_int);
  sigaction(SIGQUIT, &ign, &old_quit);
  int status = 0;
  pid_t r;
  do r = waitpid(pid, &status, 0);
  while (r < 0 && errno == EINTR);
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGQUIT, &old_quit, nullptr);
  if (r < 0) return errno_status("waitpid", errno);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace shoal::os
