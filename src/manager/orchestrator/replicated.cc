#include "manager/orchestrator/replicated.h"

#include <algorithm>
#include <map>
#include <unordered_set>

#include "common/ids.h"
#include "store/store.h"

namespace shoal::orchestrator {

namespace {

constexpr Duration kDefaultRestartDelay = std::chrono::seconds(5);

bool live(const Task& t) { return t.desired_state <= TaskState::kRunning; }

bool node_lost(const Task& t, const Context& ctx) {
  if (t.node_id.empty() || !ctx.nodes) return false;
  auto it = ctx.nodes->find(t.node_id);
  if (it == ctx.nodes->end()) return true;
  return it->second.state == NodeState::kDown || it->second.spec.availability == NodeAvailability::kDrain;
}

// Told to stop and not ended yet, on a node that will say when it has: a
// slot holding one waits for it (stop-first). A task that never reached a
// node (still Pending: nothing runs) is not stopping, nor one whose node is
// lost (it may never tell).
bool still_stopping(const Task& t, const Context& ctx) {
  return !live(t) && !is_terminal(t.status.state) && !t.node_id.empty() && !node_lost(t, ctx);
}

// Does the restart policy allow replacing this ended task?
bool should_restart(const Task& t, const RestartPolicy& p, bool lost) {
  if (lost) return true;  // node down/drained: always rescheduled, as in Swarm
  if (p.condition == "none") return false;
  if (p.condition == "on-failure") {
    bool clean = t.status.state == TaskState::kComplete ||
                 (t.status.container_status && t.status.container_status->exit_code == 0 &&
                  t.status.state == TaskState::kShutdown);
    return !clean;
  }
  return true;
}

bool in_window(const RestartAttempt& a, Duration window, SysTime now) {
  return window.count() == 0 || now - a.at < window;
}

// The restart attempts that count against max attempts at `now`.
uint64_t attempts(const std::vector<RestartAttempt>& h, Duration window, SysTime now) {
  uint64_t n = 0;
  for (const auto& a : h) n += in_window(a, window, now) ? a.count : 0;
  return n;
}

// When the attempts in the window fall below `max` again (h holds at least
// `max` of them, window > 0): once enough of the oldest left it.
SysTime below_max_at(const std::vector<RestartAttempt>& h, Duration window, SysTime now, uint64_t max) {
  uint64_t left = attempts(h, window, now);
  for (const auto& a : h) {
    if (!in_window(a, window, now)) continue;
    left -= a.count;
    if (left < max) return a.at + std::chrono::duration_cast<SysTime::duration>(window);
  }
  return now;
}

// `h` with one more attempt at `now`: attempts out of the window dropped, at
// most kMaxRestartRecords records (see replicated.h).
std::vector<RestartAttempt> with_attempt(const std::vector<RestartAttempt>& h, Duration window, SysTime now) {
  std::vector<RestartAttempt> out;
  for (const auto& a : h)
    if (in_window(a, window, now)) out.push_back(a);
  out.push_back({now, 1});
  while (out.size() > kMaxRestartRecords) {
    out[1].count += out[0].count;
    out.erase(out.begin());
  }
  return out;
}

// Tasks of one slot, newest first: all but one active task are shut down.
template <typename Shutdown>
void shut_extras(const std::vector<const Task*>& ts, const Context& ctx, Shutdown&& shutdown) {
  auto active = [&](const Task* t) { return live(*t) && !is_terminal(t->status.state) && !node_lost(*t, ctx); };
  const Task* keep = nullptr;
  size_t n = 0;
  for (const Task* t : ts) {
    if (!active(t)) continue;
    ++n;
    bool running = t->status.state == TaskState::kRunning;
    if (!keep || (running && keep->status.state != TaskState::kRunning)) keep = t;
  }
  if (n < 2) return;
  for (const Task* t : ts)
    if (t != keep && active(t)) shutdown(t);
}

}  // namespace

Task make_task(const Service& s, uint64_t slot, SysTime now) {
  Task t;
  t.id = new_object_id();
  t.created_at = t.updated_at = now;
  t.service_id = s.id;
  t.service_name = s.spec.name;
  t.slot = slot;
  t.spec = s.spec.task_template;
  t.spec_version = s.spec_version;
  for (const auto& p : s.endpoint_ports)
    if (p.publish_mode == "host") t.host_ports.push_back(p);
  t.desired_state = TaskState::kRunning;
  t.status.state = TaskState::kNew;
  t.status.message = "created";
  t.status.timestamp = now;
  return t;
}

Plan reconcile_service(const Service& s, const std::vector<const Task*>& tasks, const Context& ctx,
                       ServiceMemory& mem) {
  Plan plan;
  const SysTime now = ctx.now;
  auto wake = [&](Duration d) {
    if (d < Duration::zero()) d = Duration::zero();
    if (!plan.wake_after || d < *plan.wake_after) plan.wake_after = d;
  };
  std::map<uint64_t, std::vector<const Task*>> by_slot;
  for (const Task* t : tasks) by_slot[t->slot].push_back(t);
  for (auto& [_, v] : by_slot) {
    std::sort(v.begin(), v.end(), [](const Task* a, const Task* b) { return a->created_at > b->created_at; });
  }
  std::set<std::string> shut;  // tasks this pass sets to shutdown
  auto shutdown = [&](const Task* t) {
    if (shut.insert(t->id).second) plan.set_desired.push_back({t->id, TaskState::kShutdown});
  };

  // Remember when tasks were first seen running / ended.
  for (const Task* t : tasks) {
    if (t->status.state == TaskState::kRunning && !mem.running_at.count(t->id)) mem.running_at[t->id] = now;
    // When it ended, by its status in the store (so the restart delay holds
    // across a leader change or restart); a node clock ahead of ours, or no
    // timestamp, counts as now.
    if (is_terminal(t->status.state) && !mem.ended_at.count(t->id)) {
      SysTime at = t->status.timestamp;
      mem.ended_at[t->id] = at == SysTime{} || at > now ? now : at;
    }
  }

  // 0. One live task per slot: of several active ones (a fault, or state
  // from before the store enforced it), keep the newest running one (else
  // the newest) and shut the others down.
  for (const auto& [slot, ts] : by_slot) shut_extras(ts, ctx, shutdown);

  // 1. Restart supervision: live tasks that ended or lost their node.
  const RestartPolicy& rp = s.spec.task_template.restart_policy;
  std::set<uint64_t> occupied;  // slots that hold (or are about to get) a task
  bool update_failure = false;
  std::string failed_task;
  for (auto& [slot, ts] : by_slot) {
    for (const Task* t : ts) {
      if (!live(*t) || shut.count(t->id)) continue;
      bool lost = node_lost(*t, ctx);
      bool ended = is_terminal(t->status.state);
      if (!ended && !lost) {
        occupied.insert(slot);
        continue;
      }
      if (ended && mem.monitoring.count(slot) && t->spec_version == s.spec_version &&
          t->status.state != TaskState::kComplete) {
        update_failure = true;
        failed_task = t->id;
      }
      if (!should_restart(*t, rp, lost)) {
        occupied.insert(slot);  // the slot keeps its ended task; nothing replaces it
        continue;
      }
      // The slot's attempts so far: the ended task's, for its spec version
      // (a new spec starts counting afresh, as in Swarm).
      const std::vector<RestartAttempt> none;
      const auto& history = t->spec_version == s.spec_version ? t->restarts : none;
      if (!lost) {
        if (rp.max_attempts > 0 && attempts(history, rp.window, now) >= rp.max_attempts) {
          occupied.insert(slot);  // held: the ended task stays, desired running
          if (rp.window.count() > 0) wake(below_max_at(history, rp.window, now, rp.max_attempts) - now);
          continue;
        }
        Duration delay = rp.delay.value_or(kDefaultRestartDelay);
        SysTime ready_at = mem.ended_at[t->id] + std::chrono::duration_cast<SysTime::duration>(delay);
        if (now < ready_at) {
          occupied.insert(slot);
          wake(ready_at - now);
          continue;
        }
        // An ended task of an older spec is replaced by the new spec's first try: no attempt of it.
        bool same_spec = t->spec_version == s.spec_version;
        plan.carried.try_emplace(slot, rp.max_attempts > 0 && same_spec ? with_attempt(history, rp.window, now) : history);
      } else {
        plan.carried.try_emplace(slot, history);  // a lost node is no attempt
      }
      shutdown(t);  // replaced below, as the slot is now free
    }
  }

  // 2. Rolling update bookkeeping.
  std::vector<uint64_t> outdated;  // slots whose live task runs an old spec
  for (auto& [slot, ts] : by_slot) {
    for (const Task* t : ts) {
      if (live(*t) && !shut.count(t->id) && t->spec_version < s.spec_version) outdated.push_back(slot);
    }
  }
  // Stop-first: a slot waits until its old task stopped before getting the new one.
  for (auto it = mem.awaiting_stop.begin(); it != mem.awaiting_stop.end();) {
    bool stopping = false;
    for (const Task* t : by_slot[*it]) stopping |= still_stopping(*t, ctx);
    if (stopping) {
      occupied.insert(*it);
      ++it;
    } else {
      mem.monitoring.insert(*it);
      it = mem.awaiting_stop.erase(it);
    }
  }
  // Monitoring: an updated slot is done once its new task ran for `monitor`.
  UpdateConfig uc = s.spec.update_config.value_or(UpdateConfig{});
  // awaiting_stop is this leader's memory: after a leader change (or a
  // restart) during a stop-first update it is empty, yet a slot whose old
  // task still stops (told to, not ended, its node up) must not get its new
  // task before the old one ended; both would run.
  if (uc.order != "start-first") {
    for (auto& [slot, ts] : by_slot)
      for (const Task* t : ts)
        if (still_stopping(*t, ctx)) occupied.insert(slot);
  }
  for (auto it = mem.monitoring.begin(); it != mem.monitoring.end();) {
    const Task* cur = nullptr;
    for (const Task* t : by_slot[*it])
      if (live(*t) && !shut.count(t->id)) cur = t;
    if (cur && cur->status.state == TaskState::kRunning && mem.running_at.count(cur->id)) {
      SysTime done_at = mem.running_at[cur->id] + std::chrono::duration_cast<SysTime::duration>(uc.monitor);
      if (now >= done_at) {
        mem.last_batch_done = now;
        it = mem.monitoring.erase(it);
        continue;
      }
      wake(done_at - now);
    }
    ++it;
  }
  bool updating = s.update_status && (s.update_status->state == "updating");
  bool paused = s.update_status && s.update_status->state == "paused" && mem.paused_spec_version == s.spec_version;
  if (update_failure && uc.failure_action == "pause" && !paused) {
    UpdateStatus us = *s.update_status;
    us.state = "paused";
    us.message = "update paused due to failure or early termination of task " + failed_task;
    plan.update_status = us;
    mem.paused_spec_version = s.spec_version;
    paused = true;
  }
  if (!paused && (!outdated.empty() || !mem.awaiting_stop.empty() || !mem.monitoring.empty())) {
    if (!updating) {
      UpdateStatus us;
      us.state = "updating";
      us.started_at = now;
      us.message = "update in progress";
      plan.update_status = us;
    }
    // In flight: this leader's batches, and from the store the slots whose
    // outdated task was told to stop and still stops (a previous leader's
    // batch: not counting it started a second batch beside it).
    std::set<uint64_t> flight(mem.awaiting_stop.begin(), mem.awaiting_stop.end());
    flight.insert(mem.monitoring.begin(), mem.monitoring.end());
    for (auto& [slot, ts] : by_slot)
      for (const Task* t : ts)
        if (t->spec_version < s.spec_version && still_stopping(*t, ctx)) flight.insert(slot);
    size_t in_flight = flight.size();
    size_t parallel = uc.parallelism == 0 ? outdated.size() : uc.parallelism;
    SysTime next_batch = mem.last_batch_done + std::chrono::duration_cast<SysTime::duration>(uc.delay);
    bool delay_ok = uc.delay.count() == 0 || mem.last_batch_done == SysTime{} || now >= next_batch;
    if (!delay_ok && in_flight == 0) wake(next_batch - now);
    for (uint64_t slot : outdated) {
      if (in_flight >= parallel || !delay_ok) break;
      for (const Task* t : by_slot[slot]) {
        if (live(*t) && !shut.count(t->id) && t->spec_version < s.spec_version) shutdown(t);
      }
      if (uc.order == "start-first") {
        mem.monitoring.insert(slot);  // replaced at once below, old one stops meanwhile
      } else {
        mem.awaiting_stop.insert(slot);
        occupied.insert(slot);
      }
      ++in_flight;
    }
  } else if (updating && outdated.empty() && mem.awaiting_stop.empty() && mem.monitoring.empty()) {
    UpdateStatus us = *s.update_status;
    us.state = "completed";
    us.completed_at = now;
    us.message = "update completed";
    plan.update_status = us;
  }

  // 3. Scale: keep exactly `replicas` occupied slots.
  if (s.spec.mode == ServiceModeKind::kReplicated) {
    std::vector<uint64_t> live_slots(occupied.begin(), occupied.end());
    size_t want = s.spec.replicas;
    if (live_slots.size() > want) {
      std::sort(live_slots.rbegin(), live_slots.rend());
      for (size_t i = 0; i < live_slots.size() - want; ++i) {
        uint64_t slot = live_slots[i];
        for (const Task* t : by_slot[slot])
          if (live(*t)) shutdown(t);
        mem.awaiting_stop.erase(slot);
        mem.monitoring.erase(slot);
      }
    } else {
      size_t missing = want - live_slots.size();
      for (uint64_t slot = 1; missing > 0; ++slot) {
        if (occupied.count(slot)) continue;
        plan.create.push_back(make_task(s, slot, now));
        if (auto c = plan.carried.find(slot); c != plan.carried.end()) {
          plan.create.back().restarts = c->second;
        } else if (auto h = by_slot.find(slot); h != by_slot.end()) {
          // A slot emptied by an earlier pass whose creates were not written
          // (a batch applied in part): its tasks of this spec still hold the
          // attempts (the latest the most; creation times may tie); at most
          // the last one is lost, never all.
          for (const Task* t : h->second) {
            if (t->spec_version == s.spec_version && t->restarts.size() > plan.create.back().restarts.size()) {
              plan.create.back().restarts = t->restarts;
            }
          }
        }
        --missing;
      }
    }
  }

  // 4. Reaper: history per slot, oldest ended tasks first.
  for (auto& [slot, ts] : by_slot) {
    size_t kept = 0;
    for (const Task* t : ts) {  // newest first
      bool done = !live(*t) && (is_terminal(t->status.state) || t->node_id.empty());
      if (!done || shut.count(t->id)) {
        ++kept;
        continue;
      }
      if (static_cast<int64_t>(++kept) > ctx.history_limit) plan.remove.push_back(t->id);
    }
  }
  // Forget memory of deleted tasks, once it holds more than the tasks there are.
  if (mem.ended_at.size() + mem.running_at.size() > 2 * tasks.size() + 64) {
    std::unordered_set<std::string> present;
    for (const Task* t : tasks) present.insert(t->id);
    std::erase_if(mem.ended_at, [&](const auto& kv) { return !present.count(kv.first); });
    std::erase_if(mem.running_at, [&](const auto& kv) { return !present.count(kv.first); });
  }
  return plan;
}

Plan reconcile_orphans(const std::vector<const Task*>& tasks, const Context& ctx) {
  Plan plan;
  for (const Task* t : tasks) {
    if (t->desired_state < TaskState::kRemove) {
      plan.set_desired.push_back({t->id, TaskState::kRemove});
      continue;
    }
    // Delete once stopped (orphaned counts: find_orphaned), or if it never
    // reached a node. Not because its node is down, drained or gone: its
    // container may still run, and the task holds its addresses till then.
    bool stopped = is_terminal(t->status.state) || t->status.state < TaskState::kAssigned || t->node_id.empty();
    if (stopped) plan.remove.push_back(t->id);
  }
  (void)ctx;
  return plan;
}

Orphaned find_orphaned(const StoreSnapshot& snap, SysTime now) {
  Orphaned out;
  for (const auto& [node_id, ids] : snap.tasks_by_node) {
    auto n = snap.nodes.find(node_id);
    bool removed = n == snap.nodes.end();
    if (!removed && n->second.state != NodeState::kDown) continue;
    bool due = removed;
    if (!removed && n->second.updated_at != Time{}) {
      SysTime at = n->second.updated_at + kOrphanTimeout;
      due = now >= at;
      if (!due) {
        bool waiting = std::any_of(ids.begin(), ids.end(),
                                   [&](const std::string& id) { return !is_terminal(snap.tasks.at(id).status.state); });
        if (waiting && (!out.wake_after || at - now < *out.wake_after)) out.wake_after = at - now;
      }
    }
    if (!due) continue;
    for (const auto& id : ids) {
      const Task& t = snap.tasks.at(id);
      if (!is_terminal(t.status.state)) out.tasks.push_back({id, node_id, t.status, removed});
    }
  }
  // Deterministic order (the index is a hash map).
  std::sort(out.tasks.begin(), out.tasks.end(), [](const auto& a, const auto& b) { return a.task_id < b.task_id; });
  return out;
}

}  // namespace shoal::orchestrator
