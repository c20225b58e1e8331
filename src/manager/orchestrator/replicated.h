// The replicated orchestrator, its restart supervisor, rolling updater and
// task reaper, as one pure decision function per service: given the service,
// its tasks, the nodes and the time, it returns the Plan of changes. The
// ControlLoops (pipeline.h) feed it and write the plan.
//
// Rules (SwarmKit's):
// - slots 1..replicas each hold one live task (desired running); of two or
//   more active ones in a slot the newest running one (else the newest) is
//   kept and the others are shut down (the store refuses a second live task
//   per slot, see store.h; this repairs what got through before);
// - a live task that ended (failed, complete, rejected, shutdown by itself),
//   or sits on a node that is down or drained, is replaced in its slot per the
//   restart policy (condition any | on-failure | none, delay, max attempts in
//   a window); its desired state becomes shutdown. The attempts are counted
//   per slot (per node for global services) from the store, not from leader
//   memory: each replacement carries its slot's attempts (Task::restarts), so
//   a new leader or a restarted shoald reaches the same decision;
// - scale down shuts down the highest slots;
// - a changed spec (spec_version) rolls out per UpdateConfig: parallelism,
//   delay, monitor, failure action (pause | continue), order (stop-first |
//   start-first); UpdateStatus says updating / paused / completed;
// - history: at most `history_limit` tasks per slot are kept; tasks of a
//   removed service (desired remove) are deleted once they stopped (or
//   never reached a node), not when their node goes down or is drained: a
//   task's container may run until it is known to have stopped, and until
//   then the task holds its addresses (allocator.h);
// - orphaned tasks (find_orphaned): a task that has not stopped on a node
//   that was removed, or that has been down for kOrphanTimeout, is marked
//   orphaned (a terminal observed state): its addresses are free again and
//   it is deleted like any ended task.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "model/objects.h"

namespace shoal {
struct StoreSnapshot;
}

namespace shoal::orchestrator {

struct Plan {
  std::vector<Task> create;
  std::vector<std::pair<std::string, TaskState>> set_desired;
  std::vector<std::string> remove;
  std::optional<UpdateStatus> update_status;
  std::optional<Duration> wake_after;  // reconcile this service again after this long
  // slot -> the restart attempts the slot's next task carries (Task::restarts)
  std::map<uint64_t, std::vector<RestartAttempt>> carried;
};

// At most this many RestartAttempt records per task: beyond it the two
// oldest merge (counts summed, the newer time kept), so with more attempts
// than this in one window an attempt may count a little longer than the
// window, never shorter (a crash loop is held, not let through).
constexpr size_t kMaxRestartRecords = 32;

// What the orchestrator remembers about a service between passes (in memory
// on the leader; rebuilt from the store on failover, conservatively). The
// restart attempts are not here: they are on the tasks (Task::restarts).
struct ServiceMemory {
  std::unordered_map<std::string, SysTime> ended_at;    // task -> first seen ended
  std::unordered_map<std::string, SysTime> running_at;  // task -> first seen running
  std::set<uint64_t> awaiting_stop;                     // slots whose old task is stopping (stop-first)
  std::set<uint64_t> monitoring;                        // slots updated, in their monitor period
  SysTime last_batch_done{};
  uint64_t paused_spec_version = 0;
};

struct Context {
  SysTime now;
  int64_t history_limit = 5;
  const std::unordered_map<std::string, Node>* nodes = nullptr;
};

Plan reconcile_service(const Service& service, const std::vector<const Task*>& tasks, const Context& ctx,
                       ServiceMemory& memory);
// For tasks whose service no longer exists.
Plan reconcile_orphans(const std::vector<const Task*>& tasks, const Context& ctx);

// A new task for `slot` of `service` (state new, desired running).
Task make_task(const Service& service, uint64_t slot, SysTime now);

// How long a task that has not stopped may stay on a node that is down
// before it is taken for orphaned: Docker's 24 hours (swarmkit marks such
// tasks ORPHANED so that their resources are freed). Until then its
// addresses are not handed out again, as its container may still run on a
// node that is only cut off; a node that comes back reports it stopped
// (or running) long before. The time counts from the node's updated_at,
// which the dispatcher sets when it marks the node down (a later change of
// the node only postpones it); a down node without one (not written by the
// dispatcher) orphans its tasks only when it is removed.
constexpr Duration kOrphanTimeout = std::chrono::hours(24);

struct Orphaned {
  struct Entry {
    std::string task_id;
    std::string node_id;
    TaskStatus seen;  // its status when found: marked only if it still is
    bool node_removed = false;
  };
  std::vector<Entry> tasks;
  std::optional<Duration> wake_after;  // when the next task on a down node falls due
};

// The tasks to mark orphaned now: not stopped (observed state not terminal)
// on a node that was removed or has been down for kOrphanTimeout.
Orphaned find_orphaned(const StoreSnapshot& snap, SysTime now);

}  // namespace shoal::orchestrator
