#include "agent/fake_executor.h"

namespace shoal::agent {

Status FakeExecutor::prepare(const Task& task) {
  std::lock_guard lk(mu_);
  auto& o = tasks_[task.id];
  o.kind = Observation::Kind::kCreated;
  o.container.container_id = "fake-" + task.id;
  return ok_status();
}

Status FakeExecutor::start(const Task& task) {
  std::lock_guard lk(mu_);
  auto it = tasks_.find(task.id);
  if (it == tasks_.end()) return not_found("no container for task " + task.id);
  it->second.kind = Observation::Kind::kRunning;
  it->second.container.pid = 1;
  return ok_status();
}

Observation FakeExecutor::observe(const std::string& task_id) {
  std::lock_guard lk(mu_);
  auto it = tasks_.find(task_id);
  return it == tasks_.end() ? Observation{} : it->second;
}

Status FakeExecutor::stop(const Task& task) {
  std::lock_guard lk(mu_);
  auto it = tasks_.find(task.id);
  if (it != tasks_.end() && it->second.kind != Observation::Kind::kExited) {
    it->second.kind = Observation::Kind::kExited;
    it->second.container.exit_code = 143;
  }
  return ok_status();
}

Status FakeExecutor::remove(const std::string& task_id) {
  std::lock_guard lk(mu_);
  tasks_.erase(task_id);
  return ok_status();
}

std::vector<std::string> FakeExecutor::known_tasks() {
  std::lock_guard lk(mu_);
  std::vector<std::string> out;
  for (const auto& [id, _] : tasks_) out.push_back(id);
  return out;
}

void FakeExecutor::exit_task(const std::string& task_id, int code) {
  std::lock_guard lk(mu_);
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return;
  it->second.kind = Observation::Kind::kExited;
  it->second.container.exit_code = code;
}

}  // namespace shoal::agent
