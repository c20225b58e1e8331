// StopHolds: the stops the dispatcher holds back so that a task stopped on
// purpose (scale down, rolling update, drain) leaves every node's DNS
// answers and VIP rotations before its stop signal is sent.
//
// The store change that moves a task's desired state past running makes
// the next view refresh list it as not serving (network_views.h), but each
// node's view and the task's own stop travel separately: without a hold,
// a node slower to apply its view would still send connections to a task
// that is already going. So the task's own node is told of the stop only
// once, for every node whose view listed the task serving:
//  - the node polls this dispatcher (its session is here): its agent asked
//    for a generation at or past the one of its first view without the
//    task (the agent applies a view before it polls again, agent.cc), or
//  - its session is on another manager (whose acks this one cannot see):
//    `remote_allowance` passed since the refresh (that manager refreshes
//    its own views within ~0.1 s of the same store change);
// and in any case at `max_hold` after the hold began, so a node that
// stopped answering (not yet marked Down) delays a stop, never blocks it.
//
// Not thread-safe: the dispatcher calls it under its lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model/network_view.h"
#include "model/objects.h"

namespace shoal::dispatcher {

class StopHolds {
 public:
  using Time = std::chrono::steady_clock::time_point;
  struct Options {
    std::chrono::nanoseconds max_hold = std::chrono::seconds(3);
    std::chrono::nanoseconds remote_allowance = std::chrono::seconds(1);
  };
  explicit StopHolds(Options o) : opts_(o) {}

  // Holds the stop of `task`, which runs on `node`, decided by the store
  // change at `revision`; `prev_desired`: the desired state its node holds
  // until the release (full assignment sets send that, not the stop). A
  // view built from a snapshot at or past `revision` lists the task as not
  // serving; views_at: the revision the dispatcher's current views were
  // built from. When they are past `revision` already (a refresh overtook
  // the event, as with several stops in one transaction), `listed` names
  // the nodes whose current view holds the task, with that view's
  // generation: each must ack it.
  void hold(const std::string& task, const std::string& node, TaskState prev_desired, int64_t revision,
            int64_t views_at, const std::vector<std::pair<std::string, uint64_t>>& listed, Time now);
  bool held(const std::string& task) const { return holds_.count(task) > 0; }
  // The desired state to send for a held task (hold()'s prev_desired).
  std::optional<TaskState> held_desired(const std::string& task) const;
  void forget(const std::string& task) { holds_.erase(task); }
  bool empty() const { return holds_.empty(); }

  // A refresh built from the snapshot at `revision` gave `node` a new view
  // at generation `gen`; `before`: the view it had (nullptr: none).
  void view_changed(const std::string& node, const session::NetworkView* before, int64_t revision, uint64_t gen);
  // A refresh built from the snapshot at `revision` ended at `now`.
  void refreshed(int64_t revision, Time now);
  // `node`'s agent asked for the changes after generation `gen`: it has
  // applied every view up to `gen`.
  void acked(const std::string& node, uint64_t gen);

  // Takes the holds whose stop may go now: (task, node) pairs. `here(n)`:
  // node n's session is on this dispatcher (its acks are seen).
  std::vector<std::pair<std::string, std::string>> take_due(Time now,
                                                            const std::function<bool(const std::string&)>& here);
  // The earliest time after `now` a hold may become due without an ack
  // (take_due() is called at once for those due already); nullopt: none held.
  std::optional<Time> next_wake(Time now) const;

 private:
  struct Hold {
    std::string node;
    TaskState prev_desired = TaskState::kRunning;
    int64_t revision = 0;  // views built from snapshots before this do not count
    Time deadline;
    std::optional<Time> refreshed_at;  // the first counted refresh ended then
    std::map<std::string, uint64_t> need;  // node -> generation of its first view without the task serving
  };
  Options opts_;
  std::unordered_map<std::string, Hold> holds_;  // task -> its hold
  std::unordered_map<std::string, uint64_t> acks_;  // node -> highest generation it asked from
};

}  // namespace shoal::dispatcher
