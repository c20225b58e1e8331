#include "manager/dispatcher/network_views.h"
#include "manager/dispatcher/dispatcher.h"

#include <algorithm>
#include <unordered_set>

#include "common/ids.h"
#include "common/json_limits.h"
#include "common/guard.h"
#include "common/log.h"

namespace shoal::dispatcher {

namespace {

http::Response json_reply(int status, const json& body) {
  http::Response r;
  r.status = status;
  r.body = body.dump();
  r.headers["Content-Type"] = "application/json";
  return r;
}

http::Response error_reply(int status, const std::string& message) {
  return json_reply(status, {{"message", message}});
}

int http_status(const Status& st) { return http::status_for(st.code()); }

// Session messages come from nodes: bounded nesting (a body of a million
// '[' is a 400, not a stack overflow in the conversion) and bounded error text.
template <typename T>
bool parse_body(http::Exchange& ex, T* out) {
  auto j = parse_untrusted_json(ex.request.body, "the session message");
  if (!j.ok()) {
    ex.respond(error_reply(400, "malformed session message: " + j.status().message()));
    return false;
  }
  try {
    *out = j->get<T>();
    return true;
  } catch (const std::exception& e) {
    ex.respond(error_reply(400, "malformed session message: " + json_exception_text(e)));
    return false;
  }
}

// The session keys' lease: as long as a node may stay silent (at least 1 s).
std::chrono::seconds presence_ttl(const DispatcherOptions& o) {
  return std::max(std::chrono::seconds(1),
                  std::chrono::ceil<std::chrono::seconds>(o.heartbeat_period * o.missed_heartbeats));
}

// "5s", "1s", "500ms": a period for the log.
std::string period_text(Nanos p) {
  if (p % std::chrono::seconds(1) == Nanos(0)) return std::to_string(p / std::chrono::seconds(1)) + "s";
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(p).count()) + "ms";
}

}  // namespace

Dispatcher::Dispatcher(Store& store, Clock& clock, DispatcherOptions options)
    : store_(store),
      clock_(clock),
      options_(options),
      holds_(options.stop_holds),
      presence_(store.backend(), new_object_id(), presence_ttl(options)),
      presence_ttl_(presence_ttl(options)),
      period_ns_(options.heartbeat_period.count()) {}

Dispatcher::~Dispatcher() { stop(); }

void Dispatcher::start() {
  {
    std::lock_guard lk(mu_);
    stopping_ = false;
  }
  // Listen first, then seed the view of assignments: a change between the
  // two is then heard (and, being in the cache already, also seeded; a
  // change told twice is harmless, one never told is a lost assignment).
  subscription_ = store_.subscribe([this](const StoreEvent& e) { on_store_event(e); });
  if (auto c = store_.cluster()) on_cluster(*c);
  store_.view([&](const StoreSnapshot& s) {
    std::lock_guard lk(mu_);
    for (const auto& [id, t] : s.tasks) {
      task_view_[id] = {t.node_id, static_cast<int>(t.desired_state)};
      if (!t.node_id.empty()) assignments_[t.node_id].changed(id);
    }
  });
  notifier_ = std::thread([this] { notifier_loop(); });
  status_writer_ = std::thread([this] { status_loop(); });
  // Through arm_liveness: a check posted meanwhile (a Cluster event right
  // after subscribing) may have armed a timer already, which must not be
  // overwritten and left to fire after stop().
  arm_liveness(period());
}

Nanos Dispatcher::recheck_period() const {
  return std::clamp<Nanos>(period() / 5, std::chrono::milliseconds(100), std::chrono::seconds(1));
}

void Dispatcher::on_cluster(const Cluster& c) {
  const Nanos p = c.spec.heartbeat_period;
  if (p <= Nanos(0)) return;
  const Nanos old(period_ns_.exchange(p.count()));
  if (old == p) return;
  {
    // The sessions' agents still beat at the old period until a heartbeat
    // answer tells them the new one (and wait out one more old interval
    // after it): each open session gets the longer of the two limits from
    // now, so a shorter period marks no live node Down while the news travels.
    std::lock_guard lk(mu_);
    const SysTime now = clock_.now();
    const Nanos extra = old > p ? (old - p) * options_.missed_heartbeats : Nanos(0);
    for (auto& [_, s] : sessions_) s.last_heartbeat = std::max(s.last_heartbeat, now + extra);
  }
  DispatcherOptions now_in_force = options_;
  now_in_force.heartbeat_period = p;
  presence_.set_ttl(presence_ttl(now_in_force));  // from the next keepalive
  LOG_INFO("dispatcher", "heartbeat period now " << period_text(p) << ": a node is down after "
                                                 << options_.missed_heartbeats << " periods without a heartbeat");
  post_liveness_check();  // the next check moves to the new limits
}

Nanos Dispatcher::next_check_in(SysTime now, bool recheck) {
  const Nanos keepalive_every = std::min<Nanos>(period(), presence_ttl_ / 3);
  Nanos next = keepalive_every - (now - last_keepalive_);
  if (recheck) next = std::min(next, recheck_period());
  const Nanos lim = limit();
  std::lock_guard lk(mu_);
  // check_liveness marks a session that is silent for more than the limit.
  for (const auto& [_, s] : sessions_) next = std::min<Nanos>(next, s.last_heartbeat + lim + std::chrono::milliseconds(1) - now);
  for (const auto& [_, end] : grace_) next = std::min<Nanos>(next, end > now ? end - now : recheck_period());
  return std::max<Nanos>(next, std::chrono::milliseconds(1));
}

void Dispatcher::arm_liveness(Nanos in) {
  Clock::TimerId old;
  {
    std::lock_guard lk(mu_);
    old = liveness_timer_;
    liveness_timer_ = 0;
  }
  // Not under mu_ (cancel waits for a running callback); a no-op once fired.
  if (old != 0) clock_.cancel(old);
  std::lock_guard lk(mu_);
  if (!stopping_) liveness_timer_ = clock_.after(in, [this] { post_liveness_check(); });
}

void Dispatcher::stop() {
  Clock::TimerId liveness;
  {
    std::lock_guard lk(mu_);
    if (stopping_ && !notifier_.joinable()) return;
    stopping_ = true;
    liveness = liveness_timer_;
  }
  // First, from this thread: the status writer (joined below) may be stuck
  // on a hung etcd past the caller's StopBound grace, and a revoke after
  // that cancel fails, leaving this manager's sessions counted live by the
  // others until the lease expires (as Elector::resign does for its lease).
  presence_.revoke();
  if (subscription_) store_.unsubscribe(subscription_);
  subscription_ = 0;
  // The timer's callback only posts; check_liveness runs on status_writer_
  // (joined below) and, seeing stopping_, schedules no other timer.
  clock_.cancel(liveness);
  notify_cv_.notify_all();
  {
    std::lock_guard lk(status_mu_);
  }
  status_cv_.notify_all();
  if (notifier_.joinable()) notifier_.join();
  if (status_writer_.joinable()) status_writer_.join();
  presence_.close();  // after the status writer; revoke() made sure no lease is granted again
  // Answer whatever is still waiting so no connection hangs.
  std::unordered_map<std::string, std::vector<Waiter>> waiters;
  {
    std::lock_guard lk(mu_);
    waiters.swap(waiters_);
  }
  for (auto& [_, ws] : waiters)
    for (auto& w : ws) w.respond(error_reply(503, "the dispatcher is shutting down"));
}

bool Dispatcher::stopped() const {
  std::lock_guard lk(mu_);
  return stopping_;
}

void Dispatcher::begin_grace() {
  const SysTime end = clock_.now() + limit();
  std::vector<std::string> ready;
  store_.view([&](const StoreSnapshot& s) {
    for (const auto& [id, n] : s.nodes)
      if (n.state == NodeState::kReady) ready.push_back(id);
  });
  {
    std::lock_guard g(grace_mu_);
    registered_since_grace_.clear();
  }
  std::lock_guard lk(mu_);
  for (const auto& id : ready) grace_[id] = end;
}

void Dispatcher::end_grace() {
  {
    std::lock_guard g(grace_mu_);
    registered_since_grace_.clear();
  }
  std::lock_guard lk(mu_);
  grace_.clear();
}

size_t Dispatcher::session_count() const {
  std::lock_guard lk(mu_);
  return sessions_.size();
}

void Dispatcher::serve(http::Exchange ex) { serve(std::move(ex), std::string()); }

void Dispatcher::serve(http::Exchange ex, const std::string& peer) {
  if (stopped()) {
    ex.respond(error_reply(503, "the dispatcher is shutting down: connect to a manager again"));
    return;
  }
  std::string op = ex.request.path.substr(std::string(session::kPrefix).size());
  if (op == "session" && ex.request.method == "POST") return handle_register(ex, peer);
  if (op == "heartbeat" && ex.request.method == "POST") return handle_heartbeat(ex, peer);
  if (op == "assignments" && ex.request.method == "GET") return handle_assignments(ex, peer);
  if (op == "status" && ex.request.method == "POST") return handle_status(ex, peer);
  ex.respond(error_reply(404, "unknown dispatcher call " + quote_input(ex.request.method) + " " + quote_input(op)));
}

void Dispatcher::handle_register(http::Exchange& ex, const std::string& peer) {
  session::RegisterRequest req;
  if (!parse_body(ex, &req)) return;
  if (!peer.empty()) {  // the certificate names the node, never the body
    if (!req.node_id.empty() && req.node_id != peer) {
      ex.respond(error_reply(403, "register: the body names node " + quote_input(req.node_id) +
                                      " but the client certificate is node " + quote_input(peer)));
      return;
    }
    req.node_id = peer;
  }
  if (req.node_id.empty()) {
    ex.respond(error_reply(400, "register: NodeID is required"));
    return;
  }
  auto now = clock_.now();
  if (refuse_removed(ex, req.node_id, now)) return;
  {
    std::lock_guard g(grace_mu_);
    registered_since_grace_.insert(req.node_id);
  }
  Batch b;
  if (store_.node(req.node_id)) {
    b.update_node(req.node_id, [&](Node& n) {
      n.state = NodeState::kReady;
      n.status_message.clear();
      n.description = req.description;
      n.addr = req.addr;
      n.updated_at = now;
      return true;
    });
  } else {
    Node n;
    n.id = req.node_id;
    n.created_at = n.updated_at = now;
    n.description = req.description;
    n.state = NodeState::kReady;
    n.addr = req.addr;
    n.spec.role = NodeRole::kWorker;
    b.create(n);
  }
  Status st = store_.commit(b);
  // refuse_removed() above read the cache: a `node rm` committed meanwhile
  // is in it now (commit() returns once the cache shows our write, and so
  // everything committed before it), so check again and undo the node.
  if (st.ok() && undo_if_removed(ex, req.node_id, now)) return;
  // Published before the session exists, so a leader's grace check never
  // sees a live session as none. A failed publish is retried by the
  // keepalive: refusing the register would leave the node Ready (written
  // above) with no session anywhere, never marked Down.
  if (st.ok()) {
    if (Status ps = presence_.publish(req.node_id); !ps.ok()) LOG_WARN("dispatcher", ps.message() << "; retried");
  }
  if (!st.ok()) {
    {
      std::lock_guard g(grace_mu_);  // it holds no session: the grace judges it again
      registered_since_grace_.erase(req.node_id);
    }
    ex.respond(error_reply(http_status(st), "register: " + st.message()));
    return;
  }
  session::RegisterResponse resp;
  resp.session_id = new_object_id();
  resp.heartbeat_period = period();
  resp.managers = manager_addrs(true);
  // commit() returned once the cache showed the Ready: a Down read now
  // landed after it (a liveness check that began before this register).
  auto ready = store_.node(req.node_id);
  if (!ready || ready->state != NodeState::kReady) {
    ex.respond(error_reply(503, "register: node " + quote_input(req.node_id) +
                                    " was marked down while it registered; register again"));
    return;
  }
  {
    std::lock_guard lk(mu_);
    // One session per node: a new registration replaces an old one.
    std::erase_if(sessions_, [&](const auto& kv) { return kv.second.node_id == req.node_id; });
    sessions_[resp.session_id] = {req.node_id, now, static_cast<int64_t>(ready->version)};
  }
  // A Down the cache applied before the insert above had its event find no
  // session: look once more (one applied later is caught by its event).
  if (auto again = store_.node(req.node_id); again && drop_if_down_after(*again, again->version)) {
    ex.respond(error_reply(503, "register: node " + quote_input(req.node_id) +
                                    " was marked down while it registered; register again"));
    return;
  }
  LOG_INFO("dispatcher", "node " << req.node_id << " registered (" << req.description.hostname << ")");
  ex.respond(json_reply(200, resp));
}

std::string Dispatcher::session_node(const std::string& session_id) {
  std::lock_guard lk(mu_);
  auto it = sessions_.find(session_id);
  return it == sessions_.end() ? "" : it->second.node_id;
}

std::string Dispatcher::session_node_for(http::Exchange& ex, const std::string& sid, const std::string& peer) {
  std::string node = session_node(sid);
  if (node.empty()) {
    ex.respond(error_reply(404, "unknown session " + quote_input(sid) + ": register again"));
  } else if (!peer.empty() && node != peer) {
    ex.respond(error_reply(403, "session " + quote_input(sid) + " is not the session of node " + quote_input(peer)));
    node.clear();
  } else if (refuse_removed(ex, node, clock_.now())) {
    std::lock_guard lk(mu_);
    sessions_.erase(sid);
    node.clear();
  }
  return node;
}

bool Dispatcher::undo_if_removed(http::Exchange& ex, const std::string& node_id, SysTime now) {
  auto c = store_.cluster();
  if (!c || !node_removed(*c, node_id, now)) return false;
  {
    std::lock_guard g(grace_mu_);  // it holds no session
    registered_since_grace_.erase(node_id);
  }
  Batch undo;
  undo.remove(Kind::kNode, node_id);
  if (Status st = store_.commit(undo); !st.ok()) {
    LOG_WARN("dispatcher", "register of removed node " << node_id << " raced `node rm`; deleting it again failed: "
                                                       << st.message());
  }
  return refuse_removed(ex, node_id, now);
}

bool Dispatcher::refuse_removed(http::Exchange& ex, const std::string& node_id, SysTime now) {
  auto c = store_.cluster();
  if (!c || !node_removed(*c, node_id, now)) return false;
  ex.respond(error_reply(403, "node " + quote_input(node_id) + " was removed from the swarm; leave and join again"));
  return true;
}

void Dispatcher::handle_heartbeat(http::Exchange& ex, const std::string& peer) {
  std::string sid, node_id;
  auto body = parse_untrusted_json(ex.request.body, "the heartbeat");
  if (!body.ok()) {
    ex.respond(error_reply(400, "malformed heartbeat: " + body.status().message()));
    return;
  }
  try {
    sid = body->value("SessionID", "");
  } catch (const std::exception& e) {
    ex.respond(error_reply(400, "malformed heartbeat: " + json_exception_text(e)));
    return;
  }
  if (!peer.empty() && session_node_for(ex, sid, peer).empty()) return;
  {
    std::lock_guard lk(mu_);
    auto it = sessions_.find(sid);
    if (it == sessions_.end()) {
      ex.respond(error_reply(404, "unknown session " + quote_input(sid) + ": register again"));
      return;
    }
    it->second.last_heartbeat = clock_.now();
    node_id = it->second.node_id;
  }
  // Role: the role the node should have (its spec), so a promoted or demoted
  // node learns it and starts or stops its manager role.
  auto n = store_.node(node_id);
  ex.respond(json_reply(200, {{"HeartbeatPeriod", period().count()},
                              {"Managers", manager_addrs(false)},
                              {"Role", n ? node_role_name(n->spec.role) : ""}}));
}

std::vector<std::string> Dispatcher::manager_addrs(bool fresh) {
  auto now = clock_.now();
  {
    std::lock_guard lk(managers_mu_);
    if (!fresh && managers_at_ != SysTime{} && now - managers_at_ < std::chrono::seconds(1)) return managers_cache_;
  }
  std::vector<std::string> addrs;
  for (const auto& n : store_.nodes()) {
    if (n.manager_status && !n.manager_status->addr.empty()) addrs.push_back(n.manager_status->addr);
  }
  std::lock_guard lk(managers_mu_);
  managers_cache_ = addrs;
  managers_at_ = now;
  return addrs;
}

http::Response Dispatcher::assignment_response(const std::string& node_id, uint64_t since) {
  session::AssignmentSet set;
  AssignmentLog::Delta delta;
  std::map<std::string, TaskState> held;  // task -> the desired state its node keeps until the release
  {
    std::lock_guard lk(mu_);
    const AssignmentLog& log = assignments_[node_id];
    set.generation = log.generation();
    delta = log.since(since);
    // A held stop is not the node's to see yet, in a full set either; nor a
    // stop the dispatcher has not heard of yet (the store's cache is ahead
    // of its listeners): the desired state as this dispatcher last saw it.
    for (const auto& id : delta.changed) {
      if (auto d = holds_.held_desired(id)) {
        held.emplace(id, *d);
      } else if (auto tv = task_view_.find(id); tv != task_view_.end() && tv->second.second <= static_cast<int>(TaskState::kRunning)) {
        held.emplace(id, static_cast<TaskState>(tv->second.second));
      }
    }
    // Before the first refresh there is no view to give: absent means "keep
    // the one held", never "no networks" (an agent would tear its down).
    if (delta.network_view && views_ready_) {
      auto v = views_.find(node_id);
      set.network_view = v == views_.end() ? session::NetworkView{} : v->second;
    }
  }
  set.full = delta.full;
  set.removed = std::move(delta.removed);
  // The store may already be ahead of the generation read above; an agent
  // then sees a change early and once more in the next answer, never late.
  std::map<std::string, std::string> sealed;  // service id -> its sealed credentials
  store_.view([&](const StoreSnapshot& s) {
    set.tasks.reserve(delta.changed.size());
    for (const auto& id : delta.changed) {
      auto it = s.tasks.find(id);
      if (it == s.tasks.end() || it->second.node_id != node_id) continue;
      set.tasks.push_back(it->second);
      // Only ever moved back from a stop (never forward: a state it was seen past).
      if (auto h = held.find(id); h != held.end() && set.tasks.back().desired_state > h->second)
        set.tasks.back().desired_state = h->second;
      auto svc = s.services.find(it->second.service_id);
      if (it->second.desired_state <= TaskState::kRunning && svc != s.services.end() &&
          !svc->second.registry_auth_sealed.empty())
        sealed.emplace(svc->first, svc->second.registry_auth_sealed);
    }
  });
  add_registry_auth(sealed, set);
  return json_reply(200, set);
}

void Dispatcher::add_registry_auth(const std::map<std::string, std::string>& sealed, session::AssignmentSet& set) {
  if (sealed.empty()) return;
  if (!options_.unseal_registry_auth) {
    LOG_WARN("dispatcher", "this manager cannot unseal registry credentials: tasks are sent without them");
    return;
  }
  for (const auto& [service_id, blob] : sealed) {
    auto plain = options_.unseal_registry_auth(blob, service_id);
    if (plain.ok()) {
      set.registry_auth.emplace(service_id, std::move(plain).value());
    } else {  // the error says why (key id, tag), never the content
      LOG_WARN("dispatcher", "service " << service_id << "'s registry credentials are not sent: "
                                        << plain.status().message());
    }
  }
}

void Dispatcher::handle_assignments(http::Exchange& ex, const std::string& peer) {
  std::string node = session_node_for(ex, ex.request.query_param("session").value_or(""), peer);
  if (node.empty()) return;
  uint64_t since = 0, id = 0;
  try {
    since = std::stoull(ex.request.query_param("since").value_or("0"));
  } catch (...) {
    ex.respond(error_reply(400, "since must be a generation number"));
    return;
  }
  {
    std::lock_guard lk(mu_);
    if (stopping_) {  // stop() answered the parked polls already: answer this one now
      ex.respond(error_reply(503, "the dispatcher is shutting down: connect to a manager again"));
      return;
    }
    holds_.acked(node, std::min(since, assignments_[node].generation()));  // never past what was sent
    if (!holds_.empty()) {
      acks_arrived_ = true;
      notify_cv_.notify_all();
    }
    if (since >= assignments_[node].generation()) {
      id = ++last_waiter_id_;
      waiters_[node].push_back(
          {since, std::move(ex.respond), std::chrono::steady_clock::now() + options_.long_poll_timeout, id});
    }
  }
  if (id == 0) {
    ex.respond(assignment_response(node, since));
    return;
  }
  // Outside mu_: the callback may run at once and takes it. It cannot
  // outlive this dispatcher: stop() answers every parked poll, and an
  // answered exchange's callback has finished or never runs.
  if (ex.on_client_gone) ex.on_client_gone([this, node, id] { drop_waiter(node, id); });
}

void Dispatcher::drop_waiter(const std::string& node, uint64_t id) {
  std::vector<Waiter> dropped;  // destroyed outside mu_
  std::lock_guard lk(mu_);
  auto it = waiters_.find(node);
  if (it == waiters_.end()) return;
  for (auto w = it->second.begin(); w != it->second.end(); ++w) {
    if (w->id != id) continue;
    dropped.push_back(std::move(*w));
    it->second.erase(w);
    break;
  }
  if (it->second.empty()) waiters_.erase(it);
}

size_t Dispatcher::parked_polls() const {
  std::lock_guard lk(mu_);
  size_t n = 0;
  for (const auto& [_, ws] : waiters_) n += ws.size();
  return n;
}

bool Dispatcher::drop_if_down_after(const Node& n, int64_t revision) {
  if (n.state != NodeState::kDown) return false;
  std::lock_guard lk(mu_);
  // Its presence key stays: harmless for a Down node (a grace only judges
  // Ready ones), and written again by the register that follows.
  size_t dropped = std::erase_if(sessions_, [&](const auto& kv) {
    return kv.second.node_id == n.id && kv.second.ready_revision < revision;
  });
  if (dropped) {
    LOG_WARN("dispatcher", "node " << n.id << " was marked down after it registered: its session ends, so it "
                                          "registers again");
  }
  return dropped > 0;
}

namespace {
// Whether `view` holds an endpoint of task `task_id` (serving or not).
bool lists_endpoint(const session::NetworkView& view, const std::string& task_id) {
  for (const auto& n : view.networks)
    for (const auto& ep : n.endpoints)
      if (ep.task_id == task_id) return true;
  return false;
}
}  // namespace

void Dispatcher::on_store_event(const StoreEvent& e) {
  if (e.kind == Kind::kCluster) {
    if (e.type != StoreEvent::Type::kDelete) on_cluster(std::get<Cluster>(e.object));
    return;
  }
  if (e.kind == Kind::kNode) {
    if (e.type != StoreEvent::Type::kDelete) drop_if_down_after(std::get<Node>(e.object), e.revision);
    std::lock_guard lk(mu_);
    networks_dirty_ = true;  // a node's address or state is in its peers' views
    notify_cv_.notify_all();
    return;
  }
  if (e.kind == Kind::kNetwork || e.kind == Kind::kService) {
    std::lock_guard lk(mu_);
    networks_dirty_ = true;
    notify_cv_.notify_all();
    return;
  }
  if (e.kind != Kind::kTask) return;
  const Task& t = std::get<Task>(e.object);
  std::lock_guard lk(mu_);
  if (!t.networks.empty()) {
    networks_dirty_ = true;  // its endpoint appears, changes state or goes
    notify_cv_.notify_all();
  }
  auto& seen = task_view_[e.id];
  std::pair<std::string, int> now{t.node_id, static_cast<int>(t.desired_state)};
  auto gone = [&](const std::string& node) {
    if (node.empty()) return;
    assignments_[node].removed(e.id);
    dirty_nodes_.insert(node);
  };
  if (e.type == StoreEvent::Type::kDelete) {
    gone(seen.first);
    holds_.forget(e.id);
    task_view_.erase(e.id);
  } else if (e.type == StoreEvent::Type::kCreate || seen != now) {
    if (seen.first != now.first) {
      gone(seen.first);
      holds_.forget(e.id);
    }
    constexpr int kRunning = static_cast<int>(TaskState::kRunning);
    // Stopped on purpose while it serves: its node hears of it once every
    // node's view has dropped it (stop_holds.h). A later change while held
    // (shutdown -> remove) is sent with the release.
    bool stop_on_purpose = e.type != StoreEvent::Type::kCreate && seen.first == now.first &&
                           seen.second <= kRunning && now.second > kRunning && !t.networks.empty() &&
                           t.status.state == TaskState::kRunning && views_ready_;
    if (stop_on_purpose) {
      // Several stops in one transaction: the refresh the first one caused
      // may have seen the others already (the cache holds the whole batch).
      std::vector<std::pair<std::string, uint64_t>> listed;
      if (views_revision_ >= e.revision) {
        for (const auto& [node, view] : views_)
          if (lists_endpoint(view, e.id)) listed.emplace_back(node, assignments_[node].network_generation());
      }
      holds_.hold(e.id, now.first, static_cast<TaskState>(seen.second), e.revision, views_revision_, listed,
                  std::chrono::steady_clock::now());
    } else if (!now.first.empty() && !holds_.held(e.id)) {
      assignments_[now.first].changed(e.id);
      dirty_nodes_.insert(now.first);
    }
    seen = now;
  } else {
    return;
  }
  notify_cv_.notify_all();
}

void Dispatcher::refresh_network_views(std::unique_lock<std::mutex>& lk) {
  networks_dirty_ = false;
  views_at_ = std::chrono::steady_clock::now();
  lk.unlock();
  std::unordered_map<std::string, session::NetworkView> fresh;
  int64_t revision = 0;  // of the snapshot the views are built from
  Status built = guarded("dispatcher", "building network views", [&] {
    store_.view([&](const StoreSnapshot& snap) {
      fresh = build_network_views(snap);
      revision = snap.revision;
    });
    return ok_status();
  });
  lk.lock();
  views_at_ = std::chrono::steady_clock::now();  // from the end of a build: a slow one is not run back to back
  if (!built.ok()) {
    networks_dirty_ = true;  // tried again after kViewInterval
    return;
  }
  views_ready_ = true;
  std::erase_if(views_, [&](const auto& kv) { return !fresh.count(kv.first); });
  for (auto& [node, view] : fresh) {
    auto it = views_.find(node);
    // No view held yet counts as an empty one: a node without networks is
    // not woken for nothing.
    if (it == views_.end() ? view.networks.empty() : it->second == view) {
      if (it == views_.end()) views_.emplace(node, std::move(view));
      continue;
    }
    uint64_t gen = assignments_[node].network_view_changed();
    holds_.view_changed(node, it == views_.end() ? nullptr : &it->second, revision, gen);
    views_[node] = std::move(view);
    dirty_nodes_.insert(node);
  }
  views_revision_ = std::max(views_revision_, revision);
  holds_.refreshed(revision, std::chrono::steady_clock::now());
}

void Dispatcher::release_stops_locked() {
  acks_arrived_ = false;
  if (holds_.empty()) return;
  std::unordered_set<std::string> polling_here;  // nodes whose acks this dispatcher sees
  for (const auto& [_, s] : sessions_) polling_here.insert(s.node_id);
  auto here = [&](const std::string& node) { return polling_here.count(node) > 0; };
  for (const auto& [task, node] : holds_.take_due(std::chrono::steady_clock::now(), here)) {
    assignments_[node].changed(task);
    dirty_nodes_.insert(node);
  }
}

void Dispatcher::notifier_loop() {
  std::unique_lock lk(mu_);
  while (!stopping_) {
    // With a predicate: a change that arrived while the last answers were
    // being sent (mu_ released) is seen at once, not at the next tick.
    auto views_due = [&] { return networks_dirty_ && std::chrono::steady_clock::now() - views_at_ >= kViewInterval; };
    // Woken by a change, the wait is cut to the view's next due time.
    auto wake = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    if (auto w = holds_.next_wake(std::chrono::steady_clock::now())) wake = std::min(wake, *w);
    notify_cv_.wait_until(lk, wake, [&] {
      return stopping_ || !dirty_nodes_.empty() || views_due() || networks_dirty_ || acks_arrived_;
    });
    if (!stopping_ && networks_dirty_ && !views_due() && dirty_nodes_.empty()) {
      notify_cv_.wait_until(lk, views_at_ + kViewInterval, [&] { return stopping_ || !dirty_nodes_.empty(); });
    }
    if (stopping_) break;
    if (views_due()) refresh_network_views(lk);
    release_stops_locked();
    // Collect answers under the lock, build and send them outside it; one
    // answer per (node, generation the waiters hold).
    std::map<std::pair<std::string, uint64_t>, std::vector<http::Responder>> due;
    for (const auto& node : dirty_nodes_) {
      auto it = waiters_.find(node);
      if (it == waiters_.end()) continue;
      uint64_t gen = assignments_[node].generation();
      std::erase_if(it->second, [&](Waiter& w) {
        if (w.since >= gen) return false;
        due[{node, w.since}].push_back(std::move(w.respond));
        return true;
      });
    }
    dirty_nodes_.clear();
    auto now = std::chrono::steady_clock::now();
    for (auto& [node, ws] : waiters_) {
      std::erase_if(ws, [&, &node = node](Waiter& w) {  // clang 14 (fuzz build) cannot capture a binding
        if (w.deadline > now) return false;
        due[{node, w.since}].push_back(std::move(w.respond));  // nothing new: an empty delta
        return true;
      });
    }
    lk.unlock();
    for (auto& entry : due) {  // not a structured binding: clang 14 (fuzz build) cannot capture one
      const auto& key = entry.first;
      auto& rs = entry.second;
      http::Response resp;
      // A throw while building one node's answer (common/guard.h) answers
      // that node's polls with a 500 (its agent polls again) instead of
      // ending the process.
      Status built = guarded("dispatcher", "building an assignment answer", [&] {
        resp = assignment_response(key.first, key.second);
        return ok_status();
      });
      if (!built.ok()) resp = error_reply(500, built.message());
      for (auto& r : rs) r(resp);
    }
    lk.lock();
  }
}

// Longest Message and Err of a task status a worker reports that is stored.
constexpr size_t kMaxStatusText = 4096;

void Dispatcher::handle_status(http::Exchange& ex, const std::string& peer) {
  session::StatusBatch batch;
  if (!parse_body(ex, &batch)) return;
  const std::string node = session_node_for(ex, batch.session_id, peer);
  if (node.empty()) return;
  {
    // A node reports only on tasks assigned to it (it learnt them from
    // task_view_): another node's task, or an unknown id, is dropped.
    std::lock_guard lk(mu_);
    std::erase_if(batch.updates, [&](const auto& u) {
      auto it = task_view_.find(u.task_id);
      return it == task_view_.end() || it->second.first != node;
    });
  }
  // A worker's text is stored in etcd: bounded, whatever the body limit.
  for (auto& u : batch.updates) {
    u.status.message = utf8_prefix(u.status.message, kMaxStatusText);
    u.status.err = utf8_prefix(u.status.err, kMaxStatusText);
  }
  {
    // Checked under status_mu_: status_loop fails what is queued before it
    // exits, so a report queued here is always answered.
    std::lock_guard lk(status_mu_);
    if (stopped()) {
      ex.respond(error_reply(503, "the dispatcher is shutting down: report to a manager again"));
      return;
    }
    status_queue_.push_back({std::move(batch.updates), std::move(ex.respond)});
  }
  status_cv_.notify_all();
}

void Dispatcher::status_loop() {
  std::unique_lock lk(status_mu_);
  for (;;) {
    status_cv_.wait(lk, [&] {
      std::lock_guard g(mu_);
      return stopping_ || !status_queue_.empty() || liveness_due_;
    });
    {
      std::lock_guard g(mu_);
      if (stopping_) break;
    }
    if (liveness_due_) {
      liveness_due_ = false;
      liveness_running_ = true;
      lk.unlock();
      Status checked = guarded("dispatcher", "a liveness check", [&] {
        check_liveness();
        return ok_status();
      });
      if (!checked.ok()) arm_liveness(recheck_period());  // it may have thrown before re-arming
      lk.lock();
      liveness_running_ = false;
      if (status_queue_.empty()) continue;
    }
    // Let reports from other sessions gather, then write them together.
    lk.unlock();
    std::this_thread::sleep_for(options_.status_flush_delay);
    lk.lock();
    std::deque<PendingStatus> work;
    work.swap(status_queue_);
    lk.unlock();

    // The newest report per task wins; state only moves forward.
    std::unordered_map<std::string, TaskStatus> latest;
    for (auto& p : work) {
      for (auto& u : p.updates) {
        auto it = latest.find(u.task_id);
        if (it == latest.end() || u.status.state >= it->second.state) latest[u.task_id] = u.status;
      }
    }
    Batch b;
    for (auto& [id, st] : latest) {
      b.update_task(id, [st = st](Task& t) {  // clang 14 (fuzz build) cannot capture a binding
        if (st.state < t.status.state) return false;
        if (st.state == t.status.state && st.message == t.status.message && st.err == t.status.err) {
          return false;
        }
        t.status = st;
        // Whether its host-mode ports are mapped is the node's to say; which
        // they are is the manager's (Task::host_ports), never the node's.
        if (!t.status.port_status.empty()) t.status.port_status = t.host_ports;
        return true;
      });
    }
    Status result = guarded("dispatcher", "storing task status", [&] { return store_.commit(b); });
    if (!result.ok()) LOG_WARN("dispatcher", "storing task status: " << result.message());
    http::Response resp = result.ok() ? json_reply(200, json::object())
                                      : error_reply(http_status(result), result.message());
    for (auto& p : work) p.respond(resp);
    lk.lock();
  }
  // Fail what is left so agents resend elsewhere.
  for (auto& p : status_queue_) p.respond(error_reply(503, "the dispatcher is shutting down"));
  status_queue_.clear();
}

bool Dispatcher::liveness_settled() {
  std::lock_guard lk(status_mu_);
  return !liveness_due_ && !liveness_running_;
}

void Dispatcher::post_liveness_check() {
  {
    std::lock_guard lk(status_mu_);
    liveness_due_ = true;
  }
  status_cv_.notify_all();
}

// On the status writer's thread (status_loop).
void Dispatcher::check_liveness() {
  auto now = clock_.now();
  const Nanos limit = this->limit();
  bool recheck = false;  // a Down to judge again soon (a failed write, a grace held by a key)
  if (now - last_keepalive_ >= std::min<Nanos>(period(), presence_ttl_ / 3)) {
    last_keepalive_ = now;
    if (Status st = presence_.keepalive(); !st.ok()) LOG_WARN("dispatcher", "session presence: " << st.message());
  }
  std::vector<std::string> dead;
  // Under mu_: does the node hold a session (it registered again)?
  auto has_session = [&](const std::string& node) {
    return std::any_of(sessions_.begin(), sessions_.end(), [&](const auto& kv) { return kv.second.node_id == node; });
  };
  {
    std::lock_guard lk(mu_);
    if (stopping_) return;
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if (now - it->second.last_heartbeat > limit) {
        LOG_WARN("dispatcher", "node " << it->second.node_id << " missed " << options_.missed_heartbeats
                                       << " heartbeats: marking it down");
        dead.push_back(it->second.node_id);
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
    // Nodes whose node-down write failed at an earlier check (their session
    // is gone, so nothing else would ever mark them down).
    for (const auto& node : down_pending_)
      if (!has_session(node) && std::find(dead.begin(), dead.end(), node) == dead.end()) dead.push_back(node);
    down_pending_.clear();
  }
  // A session that went silent here because its node moved: its agent
  // registered with another manager (a heartbeat here timed out, or this
  // manager was paused or cut off), whose dispatcher owns the node's session
  // key now. Alive there, so not Down: marking it would reschedule every task
  // of a live node (each running twice until it notices). Judged again at
  // each check (down_pending_): Down once no session holds it anywhere.
  if (!dead.empty()) {
    if (auto elsewhere = presence_.held_elsewhere(); elsewhere.ok() && !elsewhere->empty()) {
      std::vector<std::string> moved;
      std::erase_if(dead, [&](const std::string& id) {
        if (!elsewhere->count(id)) return false;
        moved.push_back(id);
        return true;
      });
      for (const auto& id : moved) (void)presence_.withdraw(id);  // forgotten here; the other's key stays
      std::lock_guard lk(mu_);
      for (const auto& id : moved)
        if (!has_session(id)) down_pending_.insert(id);
    }
  }
  std::set<std::string> graceless;
  for (auto& id : graceless_nodes(now)) {
    if (std::find(dead.begin(), dead.end(), id) != dead.end()) continue;
    graceless.insert(id);
    LOG_WARN("dispatcher", "node " << id << " opened no session within " << options_.missed_heartbeats
                                   << " heartbeat periods of this manager's election: marking it down");
    dead.push_back(std::move(id));
  }
  if (!dead.empty()) {
    Batch b;
    for (const auto& id : dead) {
      b.update_node(id, [&](Node& n) {
        // Registered again after this check began (its register wrote Ready
        // at or after `now`): it is alive, so leave it. A register that began
        // before `now` is not told apart here: its session sees this Down
        // (drop_if_down_after) and ends, and the agent registers again.
        if (n.state == NodeState::kReady && n.updated_at >= now) return false;
        if (n.state == NodeState::kDown) return false;
        if (graceless.count(n.id)) {
          std::lock_guard g(grace_mu_);
          if (registered_since_grace_.count(n.id)) return false;
        }
        n.state = NodeState::kDown;
        n.status_message = "heartbeat failure";
        n.updated_at = now;
        return true;
      });
    }
    Status st = store_.commit(b);
    if (!st.ok()) {
      LOG_WARN("dispatcher", "marking nodes down: " << st.message() << "; retried at the next check");
      recheck = true;
      std::lock_guard lk(mu_);
      for (const auto& id : dead)
        if (!has_session(id)) down_pending_.insert(id);
    }
  }
  // After the node-down write: the sessions that ended here leave the view
  // other managers read (a key another manager owns now stays).
  for (const auto& id : dead) {
    if (Status st = presence_.withdraw(id); !st.ok()) LOG_WARN("dispatcher", st.message());
  }
  arm_liveness(next_check_in(clock_.now(), recheck));
}

// On the status writer's thread (check_liveness).
std::vector<std::string> Dispatcher::graceless_nodes(SysTime now) {
  std::vector<std::string> due;
  {
    std::lock_guard lk(mu_);
    for (auto it = grace_.begin(); it != grace_.end();) {
      if (it->second > now) {
        ++it;
        continue;
      }
      const std::string& node = it->first;
      bool here = std::any_of(sessions_.begin(), sessions_.end(), [&](const auto& kv) { return kv.second.node_id == node; });
      if (!here) due.push_back(node);
      it = grace_.erase(it);
    }
  }
  // Down already (its session ended here), or gone: nothing left to judge.
  std::erase_if(due, [&](const std::string& node) {
    auto n = store_.node(node);
    return !n || n->state != NodeState::kReady;
  });
  if (due.empty()) return due;
  auto holders = presence_.holders();
  if (!holders.ok()) {  // cannot tell: keep them in grace, checked again next time
    LOG_WARN("dispatcher", holders.status().message() << "; checked again at the next liveness check");
    std::lock_guard lk(mu_);
    for (const auto& node : due) grace_[node] = now;
    return {};
  }
  std::set<std::string> registering;
  {
    std::lock_guard g(grace_mu_);
    for (const auto& node : due)
      if (registered_since_grace_.count(node)) registering.insert(node);
  }
  // A key may be a dead manager's (or this manager's previous run's) whose
  // lease has not expired yet, and a register here may still fail: checked
  // again next time (a session here then ends the grace), so either delays
  // the Down but never prevents it.
  std::lock_guard lk(mu_);
  std::erase_if(due, [&](const std::string& node) {
    if (!holders->count(node) && !registering.count(node)) return false;
    grace_.emplace(node, now);
    return true;
  });
  return due;
}

}  // namespace shoal::dispatcher
