#include "cli/progress.h"

#include <algorithm>
#include <csignal>
#include <thread>

#include "cli/api_client.h"

namespace shoal::cli {

using nlohmann::json;

namespace {

constexpr size_t kMaxProgressBars = 20;
constexpr int kLongestState = 9;  // "preparing"/"allocated"

int numbered_state(const std::string& s) {
  static const std::map<std::string, int> kStates = {
      {"new", 1},       {"allocated", 2}, {"pending", 3},   {"assigned", 4}, {"accepted", 5},
      {"preparing", 6}, {"ready", 7},     {"starting", 8},  {"running", 9},  {"complete", 10},
      {"shutdown", 10}, {"failed", 10},   {"rejected", 10}, {"remove", 10},  {"orphaned", 10}};
  auto it = kStates.find(s);
  return it == kStates.end() ? 0 : it->second;
}

bool terminal_state(const std::string& s) { return numbered_state(s) > 9; }

std::string state_of(const json& task) {
  const json& st = task.contains("Status") ? task["Status"] : json();
  return st.is_object() ? st.value("State", "") : "";
}
std::string err_of(const json& task) {
  const json& st = task.contains("Status") ? task["Status"] : json();
  return st.is_object() ? st.value("Err", "") : "";
}

std::string trunc_error(std::string e) {
  // docker: first line only, at most 50 characters with an ellipsis.
  if (auto nl = e.find('\n'); nl != std::string::npos) e = e.substr(0, nl);
  if (e.size() > 50) e = e.substr(0, 49) + "…";
  return e;
}

volatile std::sig_atomic_t g_interrupted = 0;  // set by SIGINT while waiting
extern "C" void on_sigint(int) { g_interrupted = 1; }

}  // namespace

std::string progress_bar(const std::string& state) {
  int cur = numbered_state(state);
  if (cur > 9) cur = 9;
  int pct = static_cast<int>(static_cast<double>(cur) / 9 * 100) / 2;
  if (pct > 50) pct = 50;
  return "[" + std::string(pct, '=') + ">" + std::string(50 - pct, ' ') + "]";
}

std::string slot_line_text(const json& task) {
  std::string err = err_of(task);
  if (!err.empty()) return trunc_error(err);
  std::string s = state_of(task);
  std::string padded = s + std::string(s.size() < kLongestState ? kLongestState - s.size() : 0, ' ');
  return padded + " " + progress_bar(s);
}

void ProgressTracker::set(const std::string& id, const std::string& text) {
  for (auto& l : lines_)
    if (l.id == id) {
      l.text = text;
      return;
    }
  lines_.push_back({id, text});
}

static std::string overall(int n, int d, bool rollback) {
  return (rollback ? "rolling back update: " : "") + std::to_string(n) + " out of " + std::to_string(d) + " tasks";
}

bool ProgressTracker::update_replicated(const json& service, const json& tasks,
                                        const std::map<std::string, bool>& active, bool rollback) {
  const json& rep = service["Spec"]["Mode"]["Replicated"];
  uint64_t replicas = rep.is_object() && rep.contains("Replicas") ? rep["Replicas"].get<uint64_t>() : 1;
  if (!initialized_) {
    set("overall progress", overall(0, static_cast<int>(replicas), rollback));
    if (replicas <= kMaxProgressBars)
      for (uint64_t i = 1; i <= replicas; ++i) set(std::to_string(i) + "/" + std::to_string(replicas), "");
    initialized_ = true;
  }
  // One task per slot: the lowest desired state, then the lowest actual state.
  std::map<int64_t, json> by_slot;
  for (const auto& t : tasks) {
    std::string desired = t.value("DesiredState", "");
    if (numbered_state(desired) == 0 || numbered_state(state_of(t)) == 0) continue;
    int64_t slot = t.value("Slot", 0);
    if (auto it = by_slot.find(slot); it != by_slot.end()) {
      int ed = numbered_state(it->second.value("DesiredState", "")), nd = numbered_state(desired);
      if (ed < nd) continue;
      if (ed == nd && numbered_state(state_of(it->second)) <= numbered_state(state_of(t))) continue;
    }
    std::string node = t.value("NodeID", "");
    if (!node.empty() && !active.count(node)) continue;
    by_slot[slot] = t;
  }
  if (tasks_done_)
    for (const auto& [_, t] : by_slot)
      if (state_of(t) != "running") tasks_done_ = false;
  uint64_t running = 0;
  for (const auto& [slot, t] : by_slot) {
    int& mapped = slot_map_[slot];
    if (mapped == 0) mapped = static_cast<int>(slot_map_.size());
    if (!terminal_state(t.value("DesiredState", "")) && state_of(t) == "running") ++running;
    if (!tasks_done_ && replicas <= kMaxProgressBars && static_cast<uint64_t>(mapped) <= replicas) {
      std::string id = std::to_string(mapped) + "/" + std::to_string(replicas);
      if (!err_of(t).empty() || !terminal_state(state_of(t))) set(id, slot_line_text(t));
    }
  }
  if (!tasks_done_) {
    set("overall progress", overall(static_cast<int>(running), static_cast<int>(replicas), rollback));
    if (running == replicas) tasks_done_ = true;
  }
  return running == replicas;
}

bool ProgressTracker::update_global(const json& tasks, const std::map<std::string, bool>& active, bool rollback) {
  std::map<std::string, json> by_node;
  for (const auto& t : tasks) {
    std::string desired = t.value("DesiredState", "");
    if (numbered_state(desired) == 0 || numbered_state(state_of(t)) == 0) continue;
    std::string node = t.value("NodeID", "");
    if (auto it = by_node.find(node); it != by_node.end()) {
      int ed = numbered_state(it->second.value("DesiredState", "")), nd = numbered_state(desired);
      if (ed < nd) continue;
      if (ed == nd && numbered_state(state_of(it->second)) <= numbered_state(state_of(t))) continue;
    }
    by_node[node] = t;
  }
  size_t node_count = by_node.size();
  if (!initialized_) {
    if (node_count == 0) {
      set("overall progress", "waiting for new tasks");
      return false;
    }
    set("overall progress", overall(0, static_cast<int>(node_count), rollback));
    initialized_ = true;
  }
  if (tasks_done_)
    for (const auto& [_, t] : by_node)
      if (state_of(t) != "running") tasks_done_ = false;
  size_t running = 0;
  for (const auto& [node, t] : by_node) {
    if (!active.count(node)) continue;
    if (!tasks_done_ && node_count <= kMaxProgressBars) set(node.substr(0, 12), slot_line_text(t));
    if (!terminal_state(t.value("DesiredState", "")) && state_of(t) == "running") ++running;
  }
  if (!tasks_done_) {
    set("overall progress", overall(static_cast<int>(running), static_cast<int>(node_count), rollback));
    if (running == node_count) tasks_done_ = true;
  }
  return running == node_count;
}

ProgressTracker::Step ProgressTracker::update(const json& service, const json& tasks, const json& nodes,
                                              TimePoint now) {
  Step step;
  std::map<std::string, bool> active;
  for (const auto& n : nodes) {
    const json& st = n.contains("Status") ? n["Status"] : json();
    if (!st.is_object() || st.value("State", "") != "down") active[n.value("ID", "")] = true;
  }
  std::chrono::nanoseconds monitor = std::chrono::seconds(5);
  const json& spec = service.contains("Spec") ? service["Spec"] : json();
  if (spec.is_object() && spec.contains("UpdateConfig") && spec["UpdateConfig"].is_object()) {
    int64_t m = spec["UpdateConfig"].value("Monitor", int64_t{0});
    if (m > 0) monitor = std::chrono::nanoseconds(m);
  }
  bool updating = false;
  if (service.contains("UpdateStatus") && service["UpdateStatus"].is_object()) {
    const json& us = service["UpdateStatus"];
    std::string state = us.value("State", ""), msg = us.value("Message", "");
    if (state == "updating") {
      rollback_ = false;
      updating = true;
    } else if (state == "paused") {
      step.error = failed_precondition("service update paused: " + msg);
      return step;
    } else if (state == "rollback_started") {
      if (!rollback_ && !msg.empty()) set("rollback", msg);
      rollback_ = true;
      updating = true;
    } else if (state == "rollback_paused") {
      step.error = failed_precondition("service rollback paused: " + msg);
      return step;
    } else if (state == "rollback_completed") {
      if (!converged_ && !msg.empty()) set("rollback", msg);
      rollback_ = true;
    }
  }
  if (converged_ && now - converged_at_ >= monitor) {
    set("verify", "Service converged");
    step.done = true;
    return step;
  }
  // Docker asks the daemon for "_up-to-date" tasks; shoal compares each
  // task's Spec with the service's TaskTemplate (and falls back to every task
  // when none matches, so a representation difference cannot hang the wait).
  json current = json::array();
  if (spec.is_object() && spec.contains("TaskTemplate"))
    for (const auto& t : tasks)
      if (t.contains("Spec") && t["Spec"] == spec["TaskTemplate"]) current.push_back(t);
  const json& use = current.empty() ? tasks : current;
  bool converged;
  if (spec.is_object() && spec.contains("Mode") && spec["Mode"].contains("Global")) {
    converged = update_global(use, active, rollback_);
  } else if (spec.is_object() && spec.contains("Mode") && spec["Mode"].contains("Replicated")) {
    converged = update_replicated(service, use, active, rollback_);
  } else {
    step.error = invalid_argument("unrecognized service mode");
    return step;
  }
  converged = converged && !updating;
  if (converged) {
    if (!converged_) converged_at_ = now;
    converged_ = true;
    auto wait = monitor - (now - converged_at_);
    if (wait >= std::chrono::nanoseconds(0)) {
      // docker prints wait/time.Second+1 a moment after convergence: a ceiling.
      int64_t secs = std::max<int64_t>(1, (wait.count() + 999999999) / 1000000000);
      set("verify", "Waiting " + std::to_string(secs) + " seconds to verify that tasks are stable...");
    }
  } else {
    if (converged_) set("verify", "Detected task failure");
    converged_ = false;
  }
  return step;
}

void ProgressPrinter::render(const std::vector<ProgressLine>& lines) {
  std::vector<std::string> texts;
  for (const auto& l : lines) texts.push_back(l.id + ": " + l.text);
  if (!tty_) {
    for (const auto& l : lines) {
      if (l.text.empty()) continue;
      auto it = printed_.find(l.id);
      if (it != printed_.end() && it->second == l.text) continue;
      printed_[l.id] = l.text;
      out_ << l.id << ": " << l.text << "\n";
    }
    out_.flush();
    return;
  }
  if (texts == last_) return;
  if (drawn_ > 0) out_ << "\033[" << drawn_ << "A";
  for (const auto& t : texts) out_ << "\033[2K\r" << t << " \n";
  drawn_ = texts.size();
  last_ = texts;
  out_.flush();
}

void ProgressPrinter::message(const std::string& text) {
  out_ << text << "\n";
  drawn_ = 0;
  last_.clear();
  out_.flush();
}

Status wait_for_convergence(ApiClient& api, const std::string& service_id, std::ostream& out, bool tty,
                            bool quiet) {
  g_interrupted = 0;
  struct sigaction sa {}, old {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old);
  ProgressTracker tracker;
  ProgressPrinter printer(out, tty);
  std::string filters = query_escape(json{{"service", {{service_id, true}}}, {"desired-state", {{"running", true}}}}.dump());
  Status result;
  bool done = false;
  while (!g_interrupted) {
    auto svc = api.get("/services/" + query_escape(service_id));
    if (!svc.ok()) {
      result = svc.status();
      break;
    }
    auto tasks = api.get("/tasks?filters=" + filters);
    if (!tasks.ok()) {
      result = tasks.status();
      break;
    }
    auto nodes = api.get("/nodes");
    json node_list = nodes.ok() ? *nodes : json::array();
    auto step = tracker.update(*svc, *tasks, node_list, std::chrono::steady_clock::now());
    if (!quiet) printer.render(tracker.lines());
    if (!step.error.ok()) {
      result = step.error;
      break;
    }
    if (step.done) {
      done = true;
      break;
    }
    for (int i = 0; i < 4 && !g_interrupted; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (g_interrupted && !done && result.ok() && !quiet) {
    printer.message("Operation continuing in background.");
    printer.message("Use `shoal service ps --no-trunc " + service_id + "` to check progress.");
  }
  sigaction(SIGINT, &old, nullptr);
  return result;
}

}  // namespace shoal::cli
