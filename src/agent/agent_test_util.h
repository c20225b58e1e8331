// Test helpers shared by the agent's tests that run an Agent against a
// dispatcher double on a unix socket.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include "agent/agent.h"

namespace shoal::agent {

// A fresh directory under /tmp for one test process and the unix endpoint
// of a socket in it; removed when the object goes. Not thread-safe.
struct TestSocketDir {
  explicit TestSocketDir(const std::string& name)
      : dir("/tmp/shoal-" + name + "-" + std::to_string(getpid())), endpoint("unix://" + dir + "/d.sock") {
    std::filesystem::create_directories(dir);
  }
  ~TestSocketDir() { std::filesystem::remove_all(dir); }
  TestSocketDir(const TestSocketDir&) = delete;
  TestSocketDir& operator=(const TestSocketDir&) = delete;
  std::string dir;
  std::string endpoint;
};

// The options of node "n1" whose dispatcher is `endpoint`.
inline AgentOptions node_n1_options(const std::string& endpoint) {
  AgentOptions o;
  o.dispatcher = endpoint;
  o.node_id = "n1";
  return o;
}

}  // namespace shoal::agent
