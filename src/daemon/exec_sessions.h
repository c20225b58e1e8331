// ExecSessions: this node's `docker exec` instances (Docker's exec ids),
// from POST /containers/{id}/exec to their exit, over RuncRuntime::exec.
//
// An instance is created (its options kept), started once (the helper
// process runs; its pipes become the hijacked connection), and finished
// when the helper reports the exit status. One watcher thread per started
// instance reads the helper's control socket ("pid N", "exit N") and reaps
// it. At most kMaxSessions are kept: finished ones are dropped oldest first
// to make room, then ones created but never started for kUnstartedTtl (as
// Docker's exec GC drops them); a node with that many running refuses new
// ones (503).
// stop() ends the watchers (the exec processes themselves run on, as a
// container's do when shoald stops). Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent/runtime/runc_runtime.h"
#include "manager/api/local_containers.h"

namespace shoal::daemon {

class ExecSessions {
 public:
  static constexpr size_t kMaxSessions = 256;
  static constexpr std::chrono::minutes kUnstartedTtl{5};

  explicit ExecSessions(runtime::RuncRuntime& runtime) : runtime_(runtime) {}
  ~ExecSessions() { stop(); }

  // `container_id` is resolved already (a full id).
  Result<std::string> create(const std::string& container_id, const api::ExecOptions& options);
  // Starts the instance; its input/output descriptors for the hijacked
  // stream. A second start: kConflict (Docker's 409).
  Result<std::shared_ptr<http::Hijack>> start(const std::string& exec_id, int rows = 0, int cols = 0);
  Status resize(const std::string& exec_id, int height, int width);
  Result<api::ExecInfo> inspect(const std::string& exec_id) const;
  void stop();

 private:
  struct Session {
    api::ExecInfo info;
    bool started = false;
    std::chrono::steady_clock::time_point created_at = std::chrono::steady_clock::now();
    bool done = false;  // ended and its watcher about to return (or none): may be dropped
    std::chrono::steady_clock::time_point finished_at{};
    runtime::ExecChild child;  // control stays here (resize); pipes go to the stream
    std::thread watcher;
  };
  void watch(std::shared_ptr<Session> s);
  // Makes room for one more; mu_ held.
  bool make_room_locked();

  runtime::RuncRuntime& runtime_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Session>> sessions_;  // under mu_
  bool stopping_ = false;                                     // under mu_
};

}  // namespace shoal::daemon
