// Test helpers shared by the orchestrator's unit tests (pipeline_test,
// global_test, faults_test): the swarm they start from, services, and the
// agents' side of the task life cycle. Header-only; tests only.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store/store.h"

namespace shoal::orchestrator::testutil {

// A Ready, Active node whose hostname is its id.
inline Node ready_node(const std::string& id) {
  Node n;
  n.id = id;
  n.state = NodeState::kReady;
  n.description.hostname = id;
  return n;
}

// The cluster object and the ready nodes node<first>..node<last>.
inline void seed_swarm(Store& store, int last = 3, int first = 1) {
  Batch b;
  if (first == 1) {
    Cluster c;
    c.id = "cluster";
    b.create(c);
  }
  for (int i = first; i <= last; ++i) b.create(ready_node("node" + std::to_string(i)));
  ASSERT_TRUE(store.commit(b).ok());
}

// A replicated busybox service.
inline Service replicated(const std::string& id, const std::string& name, uint64_t replicas) {
  Service s;
  s.id = id;
  s.spec.name = name;
  s.spec.replicas = replicas;
  s.spec.task_template.container_spec.image = "busybox";
  return s;
}

// A global busybox service.
inline Service global(const std::string& id, const std::string& name, std::vector<std::string> constraints = {}) {
  Service s;
  s.id = id;
  s.spec.name = name;
  s.spec.mode = ServiceModeKind::kGlobal;
  s.spec.task_template.container_spec.image = "busybox";
  s.spec.task_template.placement.constraints = std::move(constraints);
  return s;
}

// Creates `s` through `store`; returns it as stored.
inline Service create(Store& store, const Service& s) {
  Batch b;
  b.create(s);
  EXPECT_TRUE(store.commit(b).ok());
  return store.service(s.id).value_or(s);
}

// The agents: every assigned live task runs (since `now`), every shut-down
// one stops; written through `store`.
inline void agents_run(Store& store, SysTime now) {
  Batch b;
  for (auto& t : store.tasks()) {
    if (t.node_id.empty()) continue;
    if (t.desired_state == TaskState::kRunning && t.status.state < TaskState::kRunning) {
      b.update_task(t.id, [now](Task& x) {
        x.status.state = TaskState::kRunning;
        x.status.timestamp = now;
        return true;
      });
    } else if (t.desired_state > TaskState::kRunning && !is_terminal(t.status.state)) {
      b.update_task(t.id, [](Task& x) {
        x.status.state = TaskState::kShutdown;
        return true;
      });
    }
  }
  ASSERT_TRUE(store.commit(b).ok());
}

}  // namespace shoal::orchestrator::testutil
