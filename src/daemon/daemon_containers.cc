// Daemon's api::LocalContainers: this node's containers and exec instances
// over the runtime (daemon.h).
#include <algorithm>

#include "agent/runtime/runc_runtime.h"
#include "common/json_limits.h"
#include "common/time.h"
#include "daemon/daemon.h"
#include "daemon/exec_sessions.h"

namespace shoal::daemon {

namespace {

std::string rfc3339_or_zero(std::chrono::system_clock::time_point t) {
  return t.time_since_epoch().count() == 0 ? "0001-01-01T00:00:00Z" : format_rfc3339(t);
}

}  // namespace

Result<runtime::ContainerState> Daemon::find_container(const std::string& ref) {
  auto cs = runtime_->list();
  if (!cs.ok()) return cs.status();
  std::vector<const runtime::ContainerState*> matches;
  for (const auto& c : *cs) {
    if (c.id == ref || c.name == ref || "/" + c.name == ref) return c;
    if (!ref.empty() && c.id.rfind(ref, 0) == 0) matches.push_back(&c);
  }
  if (matches.size() == 1) return *matches[0];
  if (matches.size() > 1) return invalid_argument("container id prefix " + shown_input(ref) + " is ambiguous");
  return not_found("No such container: " + shown_input(ref));
}

std::vector<api::ContainerSummary> Daemon::list(bool all) {
  std::vector<api::ContainerSummary> out;
  auto cs = runtime_->list();
  if (!cs.ok()) return out;
  auto now = std::chrono::system_clock::now();
  for (const auto& c : *cs) {
    bool running = c.status == runtime::ContainerStatus::kRunning;
    if (!all && !running) continue;
    api::ContainerSummary s;
    s.id = c.id;
    s.names = {"/" + c.name};
    s.image = c.image;
    for (const auto& a : c.command) s.command += (s.command.empty() ? "" : " ") + a;  // as Docker shows it
    s.created = std::chrono::duration_cast<std::chrono::seconds>(c.created_at.time_since_epoch()).count();
    s.labels = c.labels;
    s.ports = c.ports;
    if (running) {
      s.state = "running";
      s.status = "Up " + human_duration(now - c.started_at);
    } else if (c.status == runtime::ContainerStatus::kExited) {
      s.state = "exited";
      s.status = "Exited (" + std::to_string(c.exit_code) + ") " + human_duration(now - c.finished_at) + " ago";
    } else {
      s.state = "created";
      s.status = "Created";
    }
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.created > b.created; });
  return out;
}

Status Daemon::kill(const std::string& ref, int signal) {
  SHOAL_ASSIGN_OR_RETURN(runtime::ContainerState c, find_container(ref));
  if (c.id != ref && c.status != runtime::ContainerStatus::kRunning) {
    return failed_precondition("Container " + c.id.substr(0, 12) + " is not running");
  }
  return runtime_->kill(c.id, signal);
}

Result<api::ContainerDetails> Daemon::inspect(const std::string& ref) {
  SHOAL_ASSIGN_OR_RETURN(runtime::ContainerState c, find_container(ref));
  api::ContainerDetails d;
  for (auto& s : list(true)) {
    if (s.id == c.id) d.summary = std::move(s);
  }
  if (d.summary.id.empty()) return not_found("No such container: " + shown_input(ref));
  d.args = c.command;
  d.hostname = c.id.substr(0, 12);
  d.pid = c.status == runtime::ContainerStatus::kRunning ? c.pid : 0;
  d.exit_code = c.status == runtime::ContainerStatus::kExited ? c.exit_code : 0;
  d.error = c.error;
  d.started_at = rfc3339_or_zero(c.started_at);
  d.finished_at = rfc3339_or_zero(c.finished_at);
  d.log_path = runtime_->log_path(c.id);
  return d;
}

Result<std::string> Daemon::exec_create(const std::string& ref, const api::ExecOptions& options) {
  SHOAL_ASSIGN_OR_RETURN(runtime::ContainerState c, find_container(ref));
  return execs_->create(c.id, options);
}

Result<std::shared_ptr<http::Hijack>> Daemon::exec_start(const std::string& exec_id, int rows, int cols) {
  return execs_->start(exec_id, rows, cols);
}

Status Daemon::exec_resize(const std::string& exec_id, int height, int width) {
  return execs_->resize(exec_id, height, width);
}

Result<api::ExecInfo> Daemon::exec_inspect(const std::string& exec_id) { return execs_->inspect(exec_id); }

}  // namespace shoal::daemon
