// LocalContainers: this node's containers, for GET /containers/json and
// POST /containers/{id}/kill. Implemented by the daemon over the agent's runtime.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/result.h"

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
};

class LocalContainers {
 public:
  virtual ~LocalContainers() = default;
  virtual std::vector<ContainerSummary> list(bool all) = 0;
  // id, unique id prefix or name; signal as a number.
  virtual Status kill(const std::string& id_or_name, int signal) = 0;
};

}  // namespace shoal::api
