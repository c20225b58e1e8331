#include "daemon/exec_sessions.h"

#include <sys/socket.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

#include "common/ids.h"
#include "common/log.h"

namespace shoal::daemon {

bool ExecSessions::make_room_locked() {
  while (sessions_.size() >= kMaxSessions) {
    auto oldest = sessions_.end();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      const Session& c = *it->second;
      bool stale = !c.started && std::chrono::steady_clock::now() - c.created_at > kUnstartedTtl;
      if (!c.done && !stale) continue;
      if (oldest == sessions_.end() || it->second->finished_at < oldest->second->finished_at) oldest = it;
    }
    if (oldest == sessions_.end()) return false;
    // Its watcher set `done` last, under the lock we hold: it is returning.
    if (oldest->second->watcher.joinable()) oldest->second->watcher.join();
    sessions_.erase(oldest);
  }
  return true;
}

Result<std::string> ExecSessions::create(const std::string& container_id, const api::ExecOptions& options) {
  auto st = runtime_.state(container_id);
  if (!st.ok()) return st.status();
  if (st->status != runtime::ContainerStatus::kRunning) {
    return conflict("Container " + container_id.substr(0, 12) + " is not running");
  }
  std::lock_guard lk(mu_);
  if (stopping_) return unavailable("shoald is stopping");
  if (!make_room_locked()) {
    return unavailable("this node already has " + std::to_string(kMaxSessions) +
                       " exec instances that have not ended; wait for some to end");
  }
  auto s = std::make_shared<Session>();
  s->info.id = new_container_id();
  s->info.container_id = container_id;
  s->info.options = options;
  sessions_[s->info.id] = s;
  return s->info.id;
}

Result<std::shared_ptr<http::Hijack>> ExecSessions::start(const std::string& exec_id, int rows, int cols) {
  std::shared_ptr<Session> s;
  {
    std::lock_guard lk(mu_);
    auto it = sessions_.find(exec_id);
    if (it == sessions_.end()) return not_found("No such exec instance: " + exec_id);
    if (it->second->started) return conflict("exec instance " + exec_id + " has already been started");
    if (stopping_) return unavailable("shoald is stopping");
    s = it->second;
    s->started = true;
  }
  const api::ExecOptions& o = s->info.options;
  runtime::ExecSpec spec;
  spec.cmd = o.cmd;
  spec.env = o.env;
  spec.cwd = o.workdir;
  spec.user = o.user;
  spec.tty = o.tty;
  spec.stdin = o.attach_stdin;
  spec.stdout = o.attach_stdout;
  spec.stderr = o.attach_stderr;
  spec.rows = rows > 0 ? rows : o.console_rows;
  spec.cols = cols > 0 ? cols : o.console_cols;
  auto child = runtime_.exec(s->info.container_id, spec);
  std::lock_guard lk(mu_);
  if (!child.ok()) {
    s->info.exit_code = 126;  // as Docker records an exec that could not start
    s->finished_at = std::chrono::steady_clock::now();
    s->done = true;
    return child.status();
  }
  auto h = std::make_shared<http::Hijack>(child->input.release(), child->output.release());
  s->child = std::move(*child);
  s->info.running = true;
  if (stopping_) {
    // stop() ran meanwhile and joined the others: no watcher for this one.
    ::shutdown(s->child.control.get(), SHUT_RDWR);
    return h;
  }
  try {
    s->watcher = std::thread([this, s] { watch(s); });
  } catch (const std::system_error&) {
    // No thread for it: nobody would learn its end. The stream still runs.
    ::shutdown(s->child.control.get(), SHUT_RDWR);
    s->info.running = false;
    s->info.exit_code = 126;
    s->done = true;
  }
  return h;
}

void ExecSessions::watch(std::shared_ptr<Session> s) {
  const int ctl = s->child.control.get();
  std::optional<int> code;
  for (;;) {
    char msg[64] = {};
    ssize_t n = ::recv(ctl, msg, sizeof msg - 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the helper exited (or stop() shut the socket)
    int v = 0;
    if (std::sscanf(msg, "pid %d", &v) == 1) {
      std::lock_guard lk(mu_);
      s->info.pid = v;
    } else if (std::sscanf(msg, "exit %d", &v) == 1) {
      code = v;
      {
        std::lock_guard lk(mu_);
        s->info.exit_code = v;
        s->info.running = false;
        s->finished_at = std::chrono::steady_clock::now();
      }
      (void)::send(ctl, "ack", 3, MSG_NOSIGNAL);  // recorded: the helper may end the stream
    }
  }
  bool stopping;
  {
    std::lock_guard lk(mu_);
    stopping = stopping_;
  }
  int status = 0;
  // The helper exits right after "exit"; at stop it may run on (its process
  // does): it is not waited for then.
  while (::waitpid(s->child.pid, &status, stopping ? WNOHANG : 0) < 0 && errno == EINTR) {
  }
  if (!code && !stopping) LOG_WARN("exec", "exec " << s->info.id.substr(0, 12) << ": its helper ended without a status");
  std::lock_guard lk(mu_);
  s->info.running = false;
  if (!s->info.exit_code) {
    s->info.exit_code = 126;
    s->finished_at = std::chrono::steady_clock::now();
  }
  s->done = true;
}

Status ExecSessions::resize(const std::string& exec_id, int height, int width) {
  std::lock_guard lk(mu_);
  auto it = sessions_.find(exec_id);
  if (it == sessions_.end()) return not_found("No such exec instance: " + exec_id);
  const Session& s = *it->second;
  if (!s.info.running) return failed_precondition("exec instance " + exec_id + " is not running");
  if (!s.info.options.tty) return ok_status();  // nothing to size (Docker accepts it too)
  std::string m = "resize " + std::to_string(height) + " " + std::to_string(width);
  if (::send(s.child.control.get(), m.data(), m.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
    return failed_precondition("exec instance " + exec_id + " is not running");
  }
  return ok_status();
}

Result<api::ExecInfo> ExecSessions::inspect(const std::string& exec_id) const {
  std::lock_guard lk(mu_);
  auto it = sessions_.find(exec_id);
  if (it == sessions_.end()) return not_found("No such exec instance: " + exec_id);
  return it->second->info;
}

void ExecSessions::stop() {
  std::vector<std::thread> watchers;
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    for (auto& [_, s] : sessions_) {
      if (s->child.control.valid()) ::shutdown(s->child.control.get(), SHUT_RDWR);
      if (s->watcher.joinable()) watchers.push_back(std::move(s->watcher));
    }
  }
  for (auto& t : watchers) t.join();
}

}  // namespace shoal::daemon
