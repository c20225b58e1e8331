// FakeExecutor: tasks "run" at once and stay running until stopped. For
// benchmarks that simulate many nodes in one process, and for unit tests.
#pragma once

#include <mutex>
#include <unordered_map>

#include "agent/executor.h"

namespace shoal::agent {

class FakeExecutor : public Executor {
 public:
  Status prepare(const Task& task) override;
  Status start(const Task& task) override;
  Observation observe(const std::string& task_id) override;
  Status stop(const Task& task) override;
  Status remove(const std::string& task_id) override;
  std::vector<std::string> known_tasks() override;
  // Test hook: the task's process exits with `code`.
  void exit_task(const std::string& task_id, int code);

 private:
  std::mutex mu_;
  std::unordered_map<std::string, Observation> tasks_;
};

}  // namespace shoal::agent
