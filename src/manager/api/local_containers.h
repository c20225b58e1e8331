// LocalContainers: this node's containers, for /containers (list, inspect,
// logs, kill) and `docker exec` (/containers/{id}/exec, /exec). Implemented
// by the daemon over the agent's runtime.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "http/message.h"

namespace shoal::api {

struct ContainerSummary {
  std::string id;
  std::vector<std::string> names;  // "/web.1.x9b1..."
  std::string image;
  std::string command;
  int64_t created = 0;  // unix seconds
  std::string state;    // created | running | exited
  std::string status;   // "Up 5 seconds", "Exited (137) 3 seconds ago"
  std::map<std::string, std::string> labels;
  std::vector<std::string> ports;  // "8081:8000/tcp": its host-mode ports
};

// A container in full, for GET /containers/{id}/json.
struct ContainerDetails {
  ContainerSummary summary;
  std::vector<std::string> args;  // the process: path is args[0]
  std::string hostname;
  int pid = 0;
  int exit_code = 0;
  std::string error;
  std::string started_at, finished_at;  // RFC 3339, "0001-01-01T00:00:00Z" if never
  std::string log_path;
};

// POST /containers/{id}/exec's options (Docker's ExecConfig).
struct ExecOptions {
  std::vector<std::string> cmd;
  std::vector<std::string> env;
  std::string user;
  std::string workdir;
  bool tty = false;
  bool attach_stdin = false, attach_stdout = false, attach_stderr = false;
  int console_rows = 0, console_cols = 0;  // ConsoleSize (0: none)
};

struct ExecInfo {
  std::string id;
  std::string container_id;
  ExecOptions options;
  bool running = false;
  std::optional<int> exit_code;  // set once it ended
  int pid = 0;
};

class LocalContainers {
 public:
  virtual ~LocalContainers() = default;
  virtual std::vector<ContainerSummary> list(bool all) = 0;
  // id, unique id prefix or name; signal as a number.
  virtual Status kill(const std::string& id_or_name, int signal) = 0;
  // The container named by id, unique id prefix or name.
  virtual Result<ContainerDetails> inspect(const std::string& id_or_name) {
    return not_found("No such container: " + id_or_name);
  }
  // Exec instances: created on a running container, started once (the
  // descriptors of the hijacked stream), resized (TTY), inspected.
  virtual Result<std::string> exec_create(const std::string& id_or_name, const ExecOptions& options) {
    (void)options;
    return not_found("No such container: " + id_or_name);
  }
  // rows/cols: the terminal's size from the start (0: as created).
  virtual Result<std::shared_ptr<http::Hijack>> exec_start(const std::string& exec_id, int rows, int cols) {
    (void)rows, (void)cols;
    return not_found("No such exec instance: " + exec_id);
  }
  virtual Status exec_resize(const std::string& exec_id, int height, int width) {
    (void)height, (void)width;
    return not_found("No such exec instance: " + exec_id);
  }
  virtual Result<ExecInfo> exec_inspect(const std::string& exec_id) {
    return not_found("No such exec instance: " + exec_id);
  }
};

}  // namespace shoal::api
