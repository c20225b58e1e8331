// Process helpers: spawn with redirected output, wait with a deadline, run to
// completion capturing output.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/result.h"

namespace shoal::os {

struct SpawnOptions {
  std::vector<std::string> argv;
  std::vector<std::string> env_add;   // "K=V" added to the current environment
  std::string stdout_path;            // empty: /dev/null
  std::string stderr_path;            // empty: same as stdout
  bool append = true;
  bool new_session = false;           // setsid(): survives the parent's terminal/session
  int pdeathsig = 0;                  // signal sent to the child when the parent dies (0: none)
};

// `v` as the NULL-terminated char* array execve takes; valid while `v` lives.
// Built before fork: the child must not allocate.
std::vector<char*> exec_strings(const std::vector<std::string>& v);

Result<pid_t> spawn(const SpawnOptions& options);
// Waits for the child; returns its exit status (128+signal when killed), or
// kDeadlineExceeded if it is still running after `timeout`.
Result<int> wait_pid(pid_t pid, std::chrono::milliseconds timeout);
bool process_alive(pid_t pid);
// Runs argv to completion; returns stdout. A non-zero exit is an error whose
// message holds stderr.
Result<std::string> run_capture(const std::vector<std::string>& argv, const std::string& stdin_data = "");

}  // namespace shoal::os
