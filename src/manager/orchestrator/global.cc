#include "manager/orchestrator/global.h"

#include <set>

#include "manager/scheduler/scheduler.h"

namespace shoal::orchestrator {

namespace {
bool ready_and_active(const Context& ctx, const std::string& node) {
  if (!ctx.nodes) return false;
  auto n = ctx.nodes->find(node);
  return n != ctx.nodes->end() && n->second.state == NodeState::kReady &&
         n->second.spec.availability == NodeAvailability::kActive;
}
}  // namespace

bool eligible_for(const Service& s, const Node& node, SysTime now) {
  // The scheduler's own filters decide, so a global task goes exactly where
  // a replicated one could.
  Task probe = make_task(s, 0, now);
  probe.status.state = TaskState::kPending;
  scheduler::NodeLoad none;
  scheduler::Scheduler one({node}, none);
  std::vector<Task*> batch{&probe};
  return one.schedule(batch, now) == 1;
}

Plan reconcile_global(const Service& s, const std::vector<const Task*>& tasks, const Context& ctx,
                      GlobalMemory& mem) {
  std::set<std::string> eligible;
  if (ctx.nodes) {
    for (const auto& [id, n] : *ctx.nodes)
      if (eligible_for(s, n, ctx.now)) eligible.insert(id);
  }
  // The replicated logic over copies whose slot stands for their node.
  auto slot_of = [&](const std::string& node) {
    auto [it, added] = mem.slot_of.try_emplace(node, mem.slot_of.size() + 1);
    return it->second;
  };
  std::vector<Task> copies;
  copies.reserve(tasks.size());
  for (const Task* t : tasks) {
    copies.push_back(*t);
    copies.back().slot = slot_of(t->node_id);
  }
  std::vector<const Task*> view;
  for (const Task& t : copies) view.push_back(&t);
  Plan plan = reconcile_service(s, view, ctx, mem.inner);

  std::set<std::string> shut;
  for (const auto& [id, desired] : plan.set_desired)
    if (desired > TaskState::kRunning) shut.insert(id);
  std::set<std::string> occupied;
  for (const Task& t : copies) {
    if (t.desired_state > TaskState::kRunning || shut.count(t.id)) {
      if (mem.inner.awaiting_stop.count(t.slot)) occupied.insert(t.node_id);  // stop-first: wait for it
      continue;
    }
    if (ready_and_active(ctx, t.node_id) && !eligible.count(t.node_id)) {  // its constraints no longer hold
      plan.set_desired.push_back({t.id, TaskState::kShutdown});
      continue;
    }
    occupied.insert(t.node_id);
  }
  for (const auto& node : eligible) {
    if (occupied.count(node)) continue;
    Task t = make_task(s, 0, ctx.now);
    t.node_id = node;
    t.status.state = TaskState::kAssigned;
    t.status.message = "scheduler assigned task to node";
    // The restart attempts of the node's slot (replicated.h), if it had one.
    if (auto sl = mem.slot_of.find(node); sl != mem.slot_of.end())
      if (auto c = plan.carried.find(sl->second); c != plan.carried.end()) t.restarts = c->second;
    plan.create.push_back(std::move(t));
  }
  return plan;
}

}  // namespace shoal::orchestrator
