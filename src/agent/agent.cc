#include "agent/agent.h"

#include <map>

#include "common/log.h"

namespace shoal::agent {

namespace {
const std::string kPrefix = session::kPrefix;

// "5s", "1s", "500ms": a period for the log.
std::string period_text(std::chrono::nanoseconds p) {
  if (p % std::chrono::seconds(1) == std::chrono::nanoseconds(0)) return std::to_string(p / std::chrono::seconds(1)) + "s";
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(p).count()) + "ms";
}
}  // namespace

Agent::Agent(Executor& executor, Clock& clock, AgentOptions options)
    : executor_(executor),
      clock_(clock),
      options_(std::move(options)),
      worker_(executor, clock,
              [this](const std::string& id, const TaskStatus& st) { report(id, st); },
              options_.worker),
      client_(std::make_shared<http::Client>(options_.dispatcher, options_.tls)),
      managers_(options_.managers) {}

Agent::~Agent() { stop(); }

void Agent::start() {
  stopping_ = false;
  worker_.start();
  assignments_thread_ = std::thread([this] { assignments_loop(); });
  heartbeat_thread_ = std::thread([this] { heartbeat_loop(); });
  status_thread_ = std::thread([this] { status_loop(); });
}

void Agent::stop() {
  {
    // Under the lock, so a loop between checking its predicate and blocking
    // cannot miss the wake-up.
    std::lock_guard lk(mu_);
    if (stopping_.exchange(true)) return;
  }
  cv_.notify_all();
  status_cv_.notify_all();
  // Ends the long poll, a registration or a status report in flight at once
  // (they would otherwise run to their timeouts, up to 40 s).
  client()->cancel();
  if (assignments_thread_.joinable()) assignments_thread_.join();
  if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  if (status_thread_.joinable()) status_thread_.join();
  worker_.stop();
}

std::shared_ptr<http::Client> Agent::client() const {
  std::lock_guard lk(mu_);
  return client_;
}

std::string Agent::scheme() const {
  auto p = options_.dispatcher.find("://");
  return p == std::string::npos ? "https://" : options_.dispatcher.substr(0, p + 3);
}

void Agent::next_manager() {
  std::lock_guard lk(mu_);
  if (managers_.size() < 2 || stopping_) return;
  manager_index_ = (manager_index_ + 1) % managers_.size();
  client_->cancel();  // nothing of the failed manager's session is worth waiting for
  client_ = std::make_shared<http::Client>(scheme() + managers_[manager_index_], options_.tls);
  LOG_INFO("agent", "trying manager " << managers_[manager_index_]);
}

void Agent::lose_manager(const std::shared_ptr<http::Client>& failed) {
  {
    std::lock_guard lk(mu_);
    if (client_ != failed || stopping_) return;
    LOG_INFO("agent", "lost manager " << client_->endpoint() << "; session " << session_id_ << " dropped");
    session_id_.clear();
  }
  next_manager();
}

void Agent::heartbeat_managers(const std::string& body) {
  std::vector<std::string> managers;
  std::string role;
  int64_t period_ns = 0;
  try {
    auto j = json::parse(body);
    role = j.value("Role", "");
    period_ns = j.value("HeartbeatPeriod", int64_t{0});
    if (j.contains("Managers")) managers = j.at("Managers").get<std::vector<std::string>>();
  } catch (const std::exception& e) {
    LOG_WARN("agent", "bad heartbeat answer: " << e.what());
    return;
  }
  if (!managers.empty() && update_managers(managers)) tell_managers(managers);
  // A `swarm update --dispatcher-heartbeat` reaches open sessions here: the
  // next beats come at the new period (the dispatcher allows 3 of them).
  if (period_ns > 0) {
    std::lock_guard lk(mu_);
    if (heartbeat_period_.count() != period_ns) {
      heartbeat_period_ = std::chrono::nanoseconds(period_ns);
      LOG_INFO("agent", "heartbeat period now " << period_text(heartbeat_period_));
    }
  }
  if ((role == "manager" || role == "worker") && !options_.role.empty() && role != options_.role && options_.on_role) {
    options_.on_role(role);
  }
}

void Agent::tell_managers(const std::vector<std::string>& managers) {
  if (!options_.on_managers) return;
  std::lock_guard lk(on_managers_mu_);
  options_.on_managers(managers);
}

bool Agent::update_managers(const std::vector<std::string>& managers) {
  std::lock_guard lk(mu_);
  if (managers.empty() || managers_.empty() || managers == managers_) return false;  // unix-socket agents keep none
  managers_ = managers;
  manager_index_ = 0;
  std::string current = client_->endpoint();
  for (size_t i = 0; i < managers_.size(); ++i) {
    if (scheme() + managers_[i] == current) manager_index_ = i;
  }
  return true;
}

std::string Agent::session_id() const {
  std::lock_guard lk(mu_);
  return session_id_;
}

void Agent::invalidate_session(const std::string& sid) {
  std::lock_guard lk(mu_);
  if (session_id_ == sid) session_id_.clear();
}

// Registers if there is no session. Returns false (after a short wait) on failure.
bool Agent::ensure_session() {
  if (!session_id().empty()) return true;
  session::RegisterRequest req{options_.node_id, options_.addr, options_.description};
  auto r = client()->request("POST", kPrefix + "session", json(req).dump(), {},
                             std::chrono::seconds(10));
  if (r.ok() && r->status == 200) {
    try {
      auto resp = json::parse(r->body).get<session::RegisterResponse>();
      bool changed = update_managers(resp.managers);
      {
        std::lock_guard lk(mu_);
        session_id_ = resp.session_id;
        heartbeat_period_ = resp.heartbeat_period;
        LOG_INFO("agent", "session " << session_id_ << " opened with " << client_->endpoint());
      }
      // Reports that waited for a session (its predicate reads session_id_):
      // without this a report put back after a 404 waits for the next one.
      status_cv_.notify_one();
      if (changed) tell_managers(resp.managers);
      return true;
    } catch (const std::exception& e) {
      LOG_WARN("agent", "bad register answer: " << e.what());
    }
  } else {
    LOG_DEBUG("agent", "register failed: " << (r.ok() ? r->body : r.status().message()));
    if (!r.ok() || r->status == 503) next_manager();  // unreachable or not a manager (any more)
  }
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, std::chrono::milliseconds(500), [&] { return stopping_.load(); });
  return false;
}

void Agent::assignments_loop() {
  uint64_t generation = 0;
  std::string last_sid;
  std::map<std::string, Task> assigned;  // the set as of `generation`
  while (!stopping_) {
    if (!ensure_session()) continue;
    std::string sid = session_id();
    if (sid != last_sid) generation = 0;  // new session: ask for the whole set
    last_sid = sid;
    auto c = client();
    auto r = c->request("GET",
                             kPrefix + "assignments?session=" + sid + "&since=" + std::to_string(generation),
                             "", {}, std::chrono::seconds(40));
    if (stopping_) break;
    if (!r.ok() || r->status != 200) {
      if (r.ok() && r->status == 404) invalidate_session(sid);
      if (!r.ok() || r->status == 503) lose_manager(c);
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, std::chrono::milliseconds(200), [&] { return stopping_.load(); });
      continue;
    }
    try {
      auto set = json::parse(r->body).get<session::AssignmentSet>();
      if (set.generation == generation && !set.full) continue;  // the long poll timed out
      if (set.full) assigned.clear();
      for (const auto& id : set.removed) assigned.erase(id);
      for (auto& t : set.tasks) {
        std::string id = t.id;
        assigned.insert_or_assign(std::move(id), std::move(t));
      }
      generation = set.generation;
      // The view first: a task's prepare waits for its networks in it.
      if (set.network_view) executor_.set_network_view(*set.network_view);
      std::vector<Task> all;
      all.reserve(assigned.size());
      for (const auto& [_, t] : assigned) all.push_back(t);
      worker_.assign(std::move(all));
    } catch (const std::exception& e) {
      LOG_WARN("agent", "bad assignment set: " << e.what());
    }
  }
}

void Agent::heartbeat_loop() {
  while (!stopping_) {
    std::string sid = session_id();
    std::chrono::nanoseconds period;
    {
      std::lock_guard lk(mu_);
      period = heartbeat_period_;
    }
    if (!sid.empty()) {
      auto c = client();
      auto r = c->request("POST", kPrefix + "heartbeat", json{{"SessionID", sid}}.dump(), {},
                          std::chrono::seconds(5));
      if (r.ok() && r->status == 404) invalidate_session(sid);
      if (!r.ok() || r->status == 503) lose_manager(c);
      if (r.ok() && r->status == 200) heartbeat_managers(r->body);
    }
    std::unique_lock lk(mu_);
    // Beat twice per period: a node is marked down only after 3 periods
    // without one, so several lost beats in a row are still not fatal.
    cv_.wait_for(lk, sid.empty() ? std::chrono::nanoseconds(std::chrono::milliseconds(200)) : period / 2,
                 [&] { return stopping_.load(); });
  }
}

void Agent::report(const std::string& task_id, const TaskStatus& status) {
  std::lock_guard lk(mu_);
  auto it = pending_.find(task_id);
  if (it == pending_.end() || status.state >= it->second.state) pending_[task_id] = status;
  status_cv_.notify_one();
}

void Agent::status_loop() {
  while (!stopping_) {
    session::StatusBatch batch;
    {
      std::unique_lock lk(mu_);
      status_cv_.wait(lk, [&] { return stopping_ || (!pending_.empty() && !session_id_.empty()); });
      if (stopping_) break;
      // Let the states a task passes through in quick succession (accepted,
      // preparing, starting, running) collapse into one report.
      cv_.wait_for(lk, options_.status_coalesce, [&] { return stopping_.load(); });
      if (stopping_) break;
      batch.session_id = session_id_;
      for (auto& [id, st] : pending_) batch.updates.push_back({id, st});
      pending_.clear();
    }
    auto r = client()->request("POST", kPrefix + "status", json(batch).dump(), {}, std::chrono::seconds(30));
    if (r.ok() && r->status == 200) continue;
    if (r.ok() && r->status == 404) invalidate_session(batch.session_id);
    LOG_DEBUG("agent", "status report failed; will resend");
    std::unique_lock lk(mu_);
    // Put back what was not stored, unless something newer arrived meanwhile.
    for (auto& u : batch.updates) {
      auto it = pending_.find(u.task_id);
      if (it == pending_.end() || it->second.state < u.status.state) pending_[u.task_id] = u.status;
    }
    cv_.wait_for(lk, std::chrono::milliseconds(300), [&] { return stopping_.load(); });
  }
}

}  // namespace shoal::agent
