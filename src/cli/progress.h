// Live convergence display for `service create|update|scale` without -d,
// modelled on the docker CLI's service progress (cli/command/service/progress):
//
//   overall progress: 3 out of 3 tasks
//   1/3: running   [==================================================>]
//   verify: Service converged
//
// ProgressTracker is pure: it turns polled API snapshots (service, tasks,
// nodes) into display lines and decides convergence, so it is unit-testable
// with a fake clock. ProgressPrinter renders lines: on a TTY it redraws them
// in place (ANSI cursor up); otherwise it prints a line when its text changes.
// wait_for_convergence() polls the API every 200 ms until converged or Ctrl-C.
#pragma once

#include <chrono>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace shoal::cli {

class ApiClient;

struct ProgressLine {
  std::string id;    // "overall progress", "1/3", a node id, "verify", "rollback"
  std::string text;  // what follows "id: "
};

class ProgressTracker {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct Step {
    bool done = false;  // converged and verified (or the update completed)
    Status error;       // update/rollback paused, bad service mode
  };
  // tasks: the service's tasks with desired state running; nodes: GET /nodes.
  Step update(const nlohmann::json& service, const nlohmann::json& tasks, const nlohmann::json& nodes,
              TimePoint now);
  // Current lines in display order.
  const std::vector<ProgressLine>& lines() const { return lines_; }

 private:
  void set(const std::string& id, const std::string& text);
  bool update_replicated(const nlohmann::json& service, const nlohmann::json& tasks,
                         const std::map<std::string, bool>& active, bool rollback);
  bool update_global(const nlohmann::json& tasks, const std::map<std::string, bool>& active, bool rollback);

  std::vector<ProgressLine> lines_;
  std::map<int64_t, int> slot_map_;
  bool initialized_ = false;
  bool tasks_done_ = false;
  bool rollback_ = false;
  bool converged_ = false;
  TimePoint converged_at_{};
};

class ProgressPrinter {
 public:
  ProgressPrinter(std::ostream& out, bool tty) : out_(out), tty_(tty) {}
  void render(const std::vector<ProgressLine>& lines);
  // Plain message line below the progress lines ("Operation continuing...").
  void message(const std::string& text);

 private:
  std::ostream& out_;
  bool tty_;
  size_t drawn_ = 0;
  std::vector<std::string> last_;
  std::map<std::string, std::string> printed_;  // non-TTY: last text per id
};

// The progress bar docker draws for a task state ("[=====>    ]").
std::string progress_bar(const std::string& state);
// "running  " padded like docker ("%-9s").
std::string slot_line_text(const nlohmann::json& task);

// Polls until the service converges, its update pauses (error), or SIGINT.
// quiet: poll without printing.
Status wait_for_convergence(ApiClient& api, const std::string& service_id, std::ostream& out, bool tty,
                            bool quiet);

}  // namespace shoal::cli
