#include "agent/runtime/exec_helper.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <fstream>

#include "agent/runtime/shim.h"

namespace shoal::runtime {

using os::UniqueFd;

namespace {

constexpr int kIn = 0, kOut = 1, kControl = 3;

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void send_control(const std::string& msg) { (void)!send(kControl, msg.data(), msg.size(), MSG_NOSIGNAL); }

// Output to the client; once it fails (client gone) the rest is dropped.
bool g_out_ok = true;
// The streams the client attached (without a TTY; 1 stdout, 2 stderr): the
// others are read and dropped.
bool g_attached[3] = {false, true, true};
void relay(const char* p, size_t n) {
  if (g_out_ok) g_out_ok = write_all(kOut, p, n);
}
void relay_frame(int stream, const char* p, size_t n) {
  unsigned char h[8] = {static_cast<unsigned char>(stream), 0, 0, 0, static_cast<unsigned char>(n >> 24),
                        static_cast<unsigned char>(n >> 16), static_cast<unsigned char>(n >> 8),
                        static_cast<unsigned char>(n)};
  relay(reinterpret_cast<const char*>(h), sizeof h);
  relay(p, n);
}

int exit_code(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

int wait_child(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 255;
  }
  return exit_code(status);
}

// Forks the runtime with `argv`; its fds 0, 1, 2 as given, nothing else.
pid_t run(const std::vector<std::string>& args, int in, int out, int err) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid != 0) return pid;
  dup2(in, 0);
  dup2(out, 1);
  dup2(err, 2);
  close_range(3, ~0U, 0);
  signal(SIGPIPE, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  signal(SIGINT, SIG_DFL);  // an ignored signal would stay ignored in the exec'd process
  execvp(argv[0], argv.data());
  fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

// The runtime's error (from its log) as the stream shows it, and Docker's
// status for an exec that could not start, 126 (the process's own status
// when the runtime logged no error: it ran and exited so).
int failed(const std::string& log, int code, bool tty) {
  std::string err = runtime_log_error(log);
  if (err.empty()) return code;
  // Without a TTY the runtime printed it to the stderr we relay already.
  if (tty) {
    std::string msg = "OCI runtime exec failed: " + err + "\r\n";
    relay(msg.data(), msg.size());
  }
  return 126;
}

int pidfd_of(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

// Without a TTY the process's output ends when its pipes are drained;
// runc waits for a background process the command left holding them, so
// as in Docker the exec lasts as long as that process does.
int run_plain(std::vector<std::string> args, const std::string& log) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return 255;
  pid_t child = run(args, kIn, out[1], err[1]);
  close(out[1]);
  close(err[1]);
  if (child < 0) return 255;
  close(kIn);  // the runtime holds it now
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[16384];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    open_fds -= read_ready_pipes(fds, 2, buf, sizeof buf, [](int i, const char* data, size_t n) {
      if (g_attached[i + 1]) relay_frame(i + 1, data, n);
    });
  }
  for (const auto& f : fds)
    if (f.fd >= 0) close(f.fd);
  int code = wait_child(child);
  return code == 0 ? 0 : failed(log, code, false);
}

// Receives the terminal master the runtime sends over the console socket
// (at most 60 s). -1 if none came; *status is the runtime's exit status if
// it was reaped meanwhile (else -1).
int receive_master(int listener, pid_t runtime, int* status) {
  *status = -1;
  bool ready = false;
  for (int tries = 0; tries < 600 && !ready; ++tries) {
    pollfd p{listener, POLLIN, 0};
    ready = poll(&p, 1, 100) > 0;
    int st;
    if (!ready && waitpid(runtime, &st, WNOHANG) == runtime) {
      *status = exit_code(st);
      p.revents = 0;
      ready = poll(&p, 1, 0) > 0;  // it may have sent it just before exiting
      if (!ready) return -1;
    }
  }
  if (!ready) return -1;
  int conn = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (conn < 0) return -1;
  char data[256];
  char ctrl[CMSG_SPACE(sizeof(int))] = {};
  iovec iov{data, sizeof data};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctrl;
  m.msg_controllen = sizeof ctrl;
  int fd = -1;
  if (recvmsg(conn, &m, MSG_CMSG_CLOEXEC) >= 0) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
    }
  }
  close(conn);
  return fd;
}

void apply_resize(int master, const char* msg) {
  unsigned rows = 0, cols = 0;
  if (std::sscanf(msg, "resize %u %u", &rows, &cols) != 2 || rows > 65535 || cols > 65535) return;
  winsize ws{};
  ws.ws_row = static_cast<unsigned short>(rows);
  ws.ws_col = static_cast<unsigned short>(cols);
  ioctl(master, TIOCSWINSZ, &ws);
}

int run_tty(std::vector<std::string> args, size_t flags_at, const std::string& dir, const std::string& log) {
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  const std::string sock = dir + "/console.sock", pid_file = dir + "/exec.pid";
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", sock.c_str());
  if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(listener, 1) != 0) {
    perror("exec: console socket");
    return 255;
  }
  args.insert(args.begin() + static_cast<long>(flags_at),
              {"--detach", "--console-socket", sock, "--pid-file", pid_file});
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  pid_t runtime = run(args, devnull, devnull, devnull);
  if (runtime < 0) return 255;
  int reaped = -1;
  int master = receive_master(listener, runtime, &reaped);
  close(listener);
  if (master < 0 && reaped < 0) kill(runtime, SIGKILL);  // stuck: no terminal in 60 s
  int rc = reaped >= 0 ? reaped : wait_child(runtime);
  if (master < 0 || rc != 0) {
    if (master >= 0) close(master);
    return failed(log, rc != 0 ? rc : 255, true);
  }
  pid_t pid = 0;
  {
    std::ifstream in(pid_file);
    in >> pid;
  }
  if (pid <= 0) return failed(log, 255, true);
  send_control("pid " + std::to_string(pid));
  int pidfd = pidfd_of(pid);
  // The master is non-blocking and the client's input is buffered (up to
  // 1 MiB, then it is read no further until the terminal takes some): a
  // paste larger than the terminal's buffer never stops the relaying.
  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  std::string input;
  constexpr size_t kMaxInput = 1 << 20;
  pollfd fds[4] = {{kIn, POLLIN, 0}, {master, POLLIN, 0}, {kControl, POLLIN, 0}, {pidfd, POLLIN, 0}};
  char buf[16384];
  bool exited = false, input_open = true;
  while (!exited) {
    fds[0].fd = input_open && input.size() < kMaxInput ? kIn : -1;
    fds[1].events = static_cast<short>(POLLIN | (input.empty() ? 0 : POLLOUT));
    if (poll(fds, 4, pidfd < 0 ? 200 : -1) < 0 && errno != EINTR) break;
    if (fds[0].fd >= 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = read(kIn, buf, sizeof buf);
      if (n > 0) {
        input.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        input_open = false;  // the client's input ended (a terminal gets no EOF from it: as docker)
      }
    }
    if (fds[1].fd >= 0 && !input.empty() && (fds[1].revents & POLLOUT)) {
      ssize_t n = write(master, input.data(), input.size());
      if (n > 0) input.erase(0, static_cast<size_t>(n));
    }
    if (fds[1].fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = read(master, buf, sizeof buf);
      if (n > 0) relay(buf, static_cast<size_t>(n));
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
        fds[1].fd = -1;  // EIO: every slave closed
        input.clear();
      }
    }
    if (fds[2].fd >= 0 && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      char msg[64] = {};
      ssize_t n = recv(kControl, msg, sizeof msg - 1, MSG_DONTWAIT);
      if (n > 0) {
        apply_resize(master, msg);
      } else if (n == 0) {
        fds[2].fd = -1;
      }
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      rc = exit_code(status);
      exited = true;
    }
  }
  if (pidfd >= 0) close(pidfd);
  // What the process wrote last is still in the terminal.
  for (ssize_t n; (n = read(master, buf, sizeof buf)) > 0;) relay(buf, static_cast<size_t>(n));
  close(master);
  return rc;
}

}  // namespace

int exec_helper_main(int argc, char** argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: shoald __exec TTY OCI_RUNTIME STATE_ROOT ID PROCESS_JSON STREAMS\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  const bool tty = std::strcmp(argv[2], "1") == 0;
  const std::string runtime = argv[3], state_root = argv[4], id = argv[5], process = argv[6];
  g_attached[1] = std::strchr(argv[7], 'o') != nullptr;
  g_attached[2] = std::strchr(argv[7], 'e') != nullptr;
  // The runtime's log, and with a TTY its console socket and pid file, in a
  // private directory of this exec (root only).
  char tmpl[] = "/tmp/shoal-exec-XXXXXX";
  if (!mkdtemp(tmpl)) {
    perror("exec: mkdtemp");
    unlink(process.c_str());
    return 255;
  }
  const std::string dir = tmpl, log = dir + "/runtime.log";
  std::vector<std::string> args = {runtime, "--root", state_root, "--log", log, "--log-format", "json", "exec",
                                   "--process", process};
  const size_t flags_at = args.size();
  args.push_back(id);
  int code = tty ? run_tty(args, flags_at, dir, log) : run_plain(args, log);
  unlink(process.c_str());
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  send_control("exit " + std::to_string(code));
  // The output's end must not reach the client before shoald has recorded
  // the status (the CLI asks for it as soon as the stream ends): wait for
  // its "ack" (or its end; at most 5 s).
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
       std::chrono::steady_clock::now() < deadline;) {
    pollfd p{kControl, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char msg[64] = {};
    ssize_t n = recv(kControl, msg, sizeof msg - 1, MSG_DONTWAIT);
    if (n <= 0 || std::strncmp(msg, "ack", 3) == 0) break;
  }
  close(kOut);
  return 0;
}

Result<ExecChild> spawn_exec_helper(const std::string& self_exe, const std::string& oci_runtime,
                                    const std::string& state_root, const std::string& container_id,
                                    const std::string& process_file, const ExecSpec& spec) {
  std::string streams = std::string(spec.stdout ? "o" : "") + (spec.stderr ? "e" : "") + "-";
  std::vector<std::string> args = {self_exe,   "__exec",     spec.tty ? "1" : "0", oci_runtime,
                                   state_root, container_id, process_file,         streams};
  int in[2] = {-1, -1}, out[2] = {-1, -1}, ctl[2] = {-1, -1};
  if (pipe2(out, O_CLOEXEC) != 0) return errno_status("preparing the exec's output pipe", errno);
  UniqueFd out_r(out[0]), out_w(out[1]);
  UniqueFd in_r, in_w;
  if (spec.stdin) {
    if (pipe2(in, O_CLOEXEC) != 0) return errno_status("preparing the exec's input pipe", errno);
    in_r = UniqueFd(in[0]);
    in_w = UniqueFd(in[1]);
  }
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) != 0) {
    return errno_status("preparing the exec's control socket", errno);
  }
  UniqueFd ctl_ours(ctl[0]), ctl_theirs(ctl[1]);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  if (in_r.valid()) {
    posix_spawn_file_actions_adddup2(&fa, in_r.get(), kIn);
  } else {
    posix_spawn_file_actions_addopen(&fa, kIn, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&fa, out_w.get(), kOut);
  posix_spawn_file_actions_adddup2(&fa, ctl_theirs.get(), kControl);
  posix_spawn_file_actions_addclosefrom_np(&fa, 4);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
  pid_t child = -1;
  int rc = posix_spawn(&child, argv[0], &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return errno_status("starting the exec helper " + self_exe, rc);
  ExecChild c;
  c.pid = child;
  c.input = std::move(in_w);
  c.output = std::move(out_r);
  c.control = std::move(ctl_ours);
  return c;
}

}  // namespace shoal::runtime
