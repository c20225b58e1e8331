#include "manager/orchestrator/pipeline.h"

#include "common/guard.h"
#include "common/log.h"
#include "manager/allocator/allocator.h"
#include "manager/scheduler/scheduler.h"

namespace shoal::orchestrator {

namespace {
// The timer key of the orphan check (find_orphaned): no service has an
// empty id, so a wake under it runs a pass over nothing in particular,
// which finds the tasks fallen due.
const std::string kOrphanWake;
}  // namespace

ControlLoops::ControlLoops(Store& store, Clock& clock, Fence fence, std::chrono::milliseconds sync_timeout)
    : store_(store), clock_(clock), fence_(std::move(fence)), sync_timeout_(sync_timeout) {}

ControlLoops::~ControlLoops() { stop(); }

void ControlLoops::start() {
  subscription_ = store_.subscribe([this](const StoreEvent& e) { on_event(e); });
  thread_ = std::thread([this] { loop(); });
}

void ControlLoops::stop() {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (subscription_) store_.unsubscribe(subscription_);
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  // No pass registers timers any more (stopping_). Cancel outside mu_, which
  // the callbacks take: Clock::cancel waits for a running callback, so none
  // runs after this.
  std::unordered_map<std::string, Clock::TimerId> timers;
  {
    std::lock_guard lk(mu_);
    timers.swap(timers_);
  }
  for (const auto& [_, id] : timers) clock_.cancel(id);
}

size_t ControlLoops::passes() const {
  std::lock_guard lk(mu_);
  return passes_;
}

void ControlLoops::mark(const std::string& service_id) {
  std::lock_guard lk(mu_);
  dirty_.insert(service_id);
  cv_.notify_all();
}

void ControlLoops::on_event(const StoreEvent& e) {
  std::lock_guard lk(mu_);
  switch (e.kind) {
    case Kind::kService:
      dirty_.insert(e.id);
      break;
    case Kind::kTask: {
      const Task& t = std::get<Task>(e.object);
      dirty_.insert(t.service_id);
      if (t.status.state == TaskState::kPending) schedule_pending_ = true;
      // Its addresses freed: tasks waiting for one may get it now.
      if (!t.networks.empty() && (is_terminal(t.status.state) || e.type == StoreEvent::Type::kDelete)) {
        schedule_pending_ = true;
      }
      break;
    }
    case Kind::kNetwork:
      // An update leaves a network's address space as it was (its subnets
      // are reserved at its creation): it is a service attaching it, which
      // rewrites it (Store's Batch::require), and that service's own event
      // makes it dirty.
      if (e.type == StoreEvent::Type::kUpdate) break;
      all_dirty_ = true;  // VIPs and waiting tasks follow a network's creation or removal (rare)
      schedule_pending_ = true;
      break;
    case Kind::kNode:
    case Kind::kCluster:
      all_dirty_ = true;  // node state/availability affects every service
      schedule_pending_ = true;
      break;
  }
  cv_.notify_all();
}

void ControlLoops::loop() {
  std::unique_lock lk(mu_);
  while (!stopping_) {
    cv_.wait(lk, [&] { return stopping_ || all_dirty_ || !dirty_.empty() || schedule_pending_; });
    if (stopping_) break;
    // Gather the rest of a burst of changes (a batch of status reports is
    // many watch events) so that it costs one pass, not one per event.
    cv_.wait_for(lk, std::chrono::milliseconds(10), [&] { return stopping_; });
    if (stopping_) break;
    lk.unlock();
    Status st = guarded_pass();
    lk.lock();
    if (!st.ok()) {
      LOG_WARN("orchestrator", "pass failed: " << st.message());
      // Store down, leadership lost or a conflict: back off, then redo everything.
      cv_.wait_for(lk, std::chrono::milliseconds(200), [&] { return stopping_; });
      all_dirty_ = true;
    }
  }
}

Status ControlLoops::reconcile_all() {
  {
    std::lock_guard lk(mu_);
    all_dirty_ = true;
    schedule_pending_ = true;
  }
  return guarded_pass();
}

Status ControlLoops::guarded_pass() {
  Status st = guarded("orchestrator", "a control-loop pass", [this] { return run_pass(); });
  if (st.code() == Code::kInternal) {
    // What the pass wrote before it threw is unknown: the next one plans only
    // once the cache shows it, and over everything.
    std::lock_guard lk(mu_);
    resync_ = true;
    all_dirty_ = true;
    schedule_pending_ = true;
  }
  return st;
}

Status ControlLoops::run_pass() {
  // On the first pass (the previous leader's last writes may not be in the
  // cache yet) and after a failed or unknown write, plan only once the cache
  // shows what did commit (else a pass could create tasks that already exist).
  bool resync;
  {
    std::lock_guard lk(mu_);
    resync = resync_;
  }
  if (resync) {
    SHOAL_RETURN_IF_ERROR(store_.sync(sync_timeout_).with_context("waiting for the store's cache before planning"));
    std::lock_guard lk(mu_);
    resync_ = false;
  }
  std::set<std::string> dirty;
  bool all, sched;
  {
    std::lock_guard lk(mu_);
    dirty.swap(dirty_);
    all = all_dirty_;
    sched = schedule_pending_;
    all_dirty_ = false;
    schedule_pending_ = false;
    ++passes_;
  }
  dirty.erase(kOrphanWake);
  SysTime now = clock_.now();
  Context ctx;
  ctx.now = now;
  std::unordered_map<std::string, Node> nodes;
  std::vector<Task> new_tasks;
  std::vector<Task> pending;  // existing tasks waiting for a node
  Batch batch;
  std::unordered_map<std::string, Duration> wakes;
  scheduler::NodeLoad load;
  std::vector<Node> node_list;
  std::vector<Service> vip_changes;  // services whose Endpoint.VirtualIPs the allocator changed
  std::vector<Node> ingress_changes;  // nodes given their address on ingress (the routing mesh's)
  std::vector<Task*> ready;          // allocated, to be scheduled
  std::unordered_set<std::string> ingress;  // services publishing ports through the routing mesh
  std::unordered_set<std::string> written;  // tasks the plans below change or delete
  Orphaned orphaned;

  store_.view([&](const StoreSnapshot& snap) {
    if (snap.cluster) ctx.history_limit = snap.cluster->spec.task_history_retention_limit;
    nodes = snap.nodes;
    ctx.nodes = &nodes;
    if (all) {
      for (const auto& [id, _] : snap.services) dirty.insert(id);
      for (const auto& [id, _] : snap.tasks_by_service) dirty.insert(id);
    }
    for (const auto& sid : dirty) {
      std::vector<const Task*> tasks;
      if (auto it = snap.tasks_by_service.find(sid); it != snap.tasks_by_service.end()) {
        for (const auto& tid : it->second) tasks.push_back(&snap.tasks.at(tid));
      }
      Plan plan;
      auto sit = snap.services.find(sid);
      if (sit == snap.services.end()) {
        plan = reconcile_orphans(tasks, ctx);
        memory_.erase(sid);
        global_memory_.erase(sid);
      } else if (sit->second.spec.mode == ServiceModeKind::kGlobal) {
        plan = reconcile_global(sit->second, tasks, ctx, global_memory_[sid]);
      } else {
        plan = reconcile_service(sit->second, tasks, ctx, memory_[sid]);
      }
      for (auto& t : plan.create) new_tasks.push_back(std::move(t));
      for (const auto& [tid, desired] : plan.set_desired) {
        TaskState d = desired;
        batch.update_task(tid, [d](Task& t) {
          if (t.desired_state >= d) return false;
          t.desired_state = d;
          return true;
        });
      }
      for (const auto& tid : plan.remove) batch.remove(Kind::kTask, tid);
      for (const auto& [tid, _] : plan.set_desired) written.insert(tid);
      written.insert(plan.remove.begin(), plan.remove.end());
      if (plan.update_status) {
        UpdateStatus us = *plan.update_status;
        uint64_t version = sit->second.spec_version;
        batch.update_service(sid, [us, version](Service& s) {
          if (s.spec_version != version) return false;  // a newer spec: the next pass decides
          s.update_status = us;
          return true;
        });
      }
      if (plan.wake_after) wakes[sid] = *plan.wake_after;
    }
    // Tasks whose node was removed or has been down too long: orphaned,
    // their addresses free (replicated.h). Found on every pass (a walk over
    // the nodes, and the tasks of those down or gone).
    orphaned = find_orphaned(snap, now);
    // Network resources, in memory on the snapshot (allocator.h): VIPs of
    // the dirty services, then addresses for new and pending tasks.
    bool loaded = false;
    auto load_once = [&] {
      if (!loaded) allocator_.load(snap);
      loaded = true;
    };
    for (const auto& sid : dirty) {
      auto sit = snap.services.find(sid);
      if (sit == snap.services.end()) continue;
      const Service& s = sit->second;
      if (s.virtual_ips.empty() && s.spec.task_template.networks.empty() && !allocator::publishes_ingress(s.spec)) {
        continue;
      }
      load_once();
      Service copy = s;
      if (allocator_.plan_vips(copy)) vip_changes.push_back(std::move(copy));
    }
    // While some service publishes through the mesh, every node that has
    // none gets its own ingress address (its mesh traffic's source).
    bool mesh = false;
    for (const auto& entry : snap.services) mesh = mesh || allocator::publishes_ingress(entry.second.spec);
    if (mesh) {
      for (const auto& entry : snap.nodes) {
        if (!entry.second.ingress_addr.empty()) continue;
        load_once();
        Node copy = entry.second;
        if (allocator_.plan_node_ingress(copy)) ingress_changes.push_back(std::move(copy));
      }
    }
    if (sched || !new_tasks.empty()) {
      for (const auto& [id, t] : snap.tasks) {
        // Not one this pass stops or deletes: assigning it as well would
        // make two writes of one task in the batch (a conflict, the whole
        // pass lost, and the same plan again next pass).
        if (t.node_id.empty() && t.status.state <= TaskState::kPending && t.desired_state <= TaskState::kRunning &&
            !written.count(id)) {
          pending.push_back(t);
        }
      }
      // The allocator's book, with the VIPs planned above still in it.
      load_once();
      for (const auto& [id, s] : snap.services)
        if (allocator::publishes_ingress(s.spec)) ingress.insert(id);
      // Live load per node, for spreading.
      for (const auto& [node, ids] : snap.tasks_by_node) {
        for (const auto& tid : ids) {
          const Task& t = snap.tasks.at(tid);
          if (is_terminal(t.status.state)) continue;
          // A task being stopped holds its host-mode ports until it has ended.
          for (const auto& p : t.host_ports) load.host_ports[node].insert({p.protocol, p.published_port});
          if (t.desired_state > TaskState::kRunning) continue;
          load.total[node]++;
          load.by_service[node][t.service_id]++;
          load.reserved_cpu[node] += t.spec.resources.reservations.nano_cpus;
          load.reserved_mem[node] += t.spec.resources.reservations.memory_bytes;
        }
      }
    }
  });

  // Bounded writes: a pass creates at most kMaxCreatesPerPass tasks; the
  // services left short are reconciled again in the next pass.
  std::set<std::string> unfinished;
  if (new_tasks.size() > kMaxCreatesPerPass) {
    for (size_t i = kMaxCreatesPerPass; i < new_tasks.size(); ++i) unfinished.insert(new_tasks[i].service_id);
    new_tasks.resize(kMaxCreatesPerPass);
  }

  // Allocate and schedule in memory: new tasks are written once, assigned.
  std::vector<Task*> work;
  for (auto& t : new_tasks) work.push_back(&t);
  for (auto& t : pending) work.push_back(&t);
  if (!work.empty()) {
    ready = allocator_.allocate(work, ingress, now);
    for (const auto& [_, n] : nodes) node_list.push_back(n);
    scheduler::Scheduler sched_(node_list, load);
    sched_.schedule(ready, now);
  }
  for (const auto& n : ingress_changes) {
    std::string addr = n.ingress_addr;
    batch.update_node(n.id, [addr](Node& cur) {
      if (!cur.ingress_addr.empty()) return false;  // another pass gave it one
      cur.ingress_addr = addr;
      return true;
    });
  }
  for (const auto& s : vip_changes) {
    std::vector<VirtualIp> vips = s.virtual_ips;
    batch.update_service(s.id, [vips](Service& cur) {
      if (cur.virtual_ips == vips) return false;
      cur.virtual_ips = vips;
      return true;
    });
  }
  for (const auto& o : orphaned.tasks) {
    // A task a plan writes in this pass is marked in the next (its write
    // starts one): one op per task keeps the batch's transactions independent.
    if (written.count(o.task_id)) continue;
    std::string node = o.node_id;
    TaskStatus seen = o.seen;
    static_assert(kOrphanTimeout == std::chrono::hours(24), "the message below says 24 hours");
    std::string why = o.node_removed ? "task orphaned: its node was removed"
                                     : "task orphaned: its node has been down for 24 hours";
    batch.update_task(o.task_id, [node, seen, why, now](Task& t) {
      // Only as found: not if its node reported on it meanwhile.
      if (t.node_id != node || t.status.state != seen.state || t.status.timestamp != seen.timestamp ||
          is_terminal(t.status.state)) {
        return false;
      }
      t.status.state = TaskState::kOrphaned;
      t.status.message = why;
      t.status.err.clear();
      t.status.timestamp = now;
      return true;
    });
  }
  if (orphaned.wake_after) wakes[kOrphanWake] = *orphaned.wake_after;
  for (const auto& t : new_tasks) batch.create(t);
  for (const auto& t : pending) {
    Task copy = t;
    batch.update_task(t.id, [copy](Task& cur) {
      if (!cur.node_id.empty() || cur.status.state > TaskState::kPending || cur.desired_state > TaskState::kRunning)
        return false;  // assigned meanwhile, or told to stop: not placed
      if (cur.node_id == copy.node_id && cur.status.state == copy.status.state &&
          cur.status.message == copy.status.message && cur.status.err == copy.status.err &&
          cur.networks == copy.networks) {
        return false;
      }
      cur.node_id = copy.node_id;
      cur.status = copy.status;
      cur.networks = copy.networks;
      return true;
    });
  }

  Status st = batch.empty() ? ok_status() : store_.commit(batch, fence_);
  std::vector<Clock::TimerId> replaced;
  {
    std::lock_guard lk(mu_);
    if (!st.ok()) resync_ = true;
    for (const auto& sid : unfinished) dirty_.insert(sid);
    if (!unfinished.empty()) cv_.notify_all();
    for (const auto& [sid, d] : wakes) {
      if (stopping_) break;  // stop() may already have cancelled what it found
      if (auto it = timers_.find(sid); it != timers_.end()) replaced.push_back(it->second);
      std::string id = sid;
      // The callback knows its own id (set before it can take mu_), so a
      // replaced timer that fires late does not forget its successor.
      auto self = std::make_shared<Clock::TimerId>(0);
      *self = clock_.after(d, [this, id, self] {
        std::lock_guard lk2(mu_);
        if (stopping_) return;
        if (auto it = timers_.find(id); it != timers_.end() && it->second == *self) timers_.erase(it);
        dirty_.insert(id);
        cv_.notify_all();
      });
      timers_[sid] = *self;
    }
  }
  for (auto id : replaced) clock_.cancel(id);  // outside mu_: the callbacks take it
  return st;
}

}  // namespace shoal::orchestrator
