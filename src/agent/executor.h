// Executor: how the worker turns a task into a running process. The real one
// drives the OCI runtime (runtime_executor.h); the fake one (fake_executor.h)
// reports success at once, for benchmarks with thousands of simulated nodes
// and for unit tests.
//
// Calls for one task never overlap (the worker serialises them); calls for
// different tasks may run concurrently.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "model/network_view.h"
#include "model/objects.h"

namespace shoal::agent {

struct Observation {
  enum class Kind { kMissing, kCreated, kRunning, kExited };
  Kind kind = Kind::kMissing;
  ContainerStatus container;  // id, pid, exit code
  std::string error;
};

class Executor {
 public:
  virtual ~Executor() = default;
  // Creates the container (image resolved, rootfs ready). kNotFound for an
  // unknown image: the task is then rejected with the message.
  virtual Status prepare(const Task& task) = 0;
  virtual Status start(const Task& task) = 0;
  virtual Observation observe(const std::string& task_id) = 0;
  // Stop signal, then SIGKILL after the task's stop grace period.
  virtual Status stop(const Task& task) = 0;
  // Removes the task's container and everything it used.
  virtual Status remove(const std::string& task_id) = 0;
  // Task ids that have a container on this node (adopted after a restart).
  virtual std::vector<std::string> known_tasks() = 0;
  // The worker is stopping: a prepare() waiting on something slow (an image
  // pull) returns soon with an error. Sticky; any thread. Default: nothing
  // to cancel.
  virtual void cancel() {}
  // The node's network view changed (it came with an assignment set, before
  // the set's tasks reach the worker). Called on the agent's assignment
  // thread, one call at a time. Default: no networks.
  virtual void set_network_view(const session::NetworkView&) {}
  // The node leaves the swarm, its containers already removed: drop what
  // else the executor made on the node (its networks). Default: nothing.
  virtual void erase_node_state() {}
};

}  // namespace shoal::agent
