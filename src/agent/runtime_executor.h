// RuntimeExecutor: the real Executor, over the node's OCI runtime. Maps a task
// to a container the way Docker does: name "<service>.<slot>.<task id>",
// labels com.docker.swarm.{service.id,service.name,task.id,task.name,node.id},
// entrypoint/command/env/dir/user/hostname/stop settings from the task's
// ContainerSpec.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "agent/executor.h"
#include "agent/image_puller.h"
#include "agent/network/node/node_network.h"
#include "agent/runtime/runtime.h"

namespace shoal::agent {

class RuntimeExecutor : public Executor {
 public:
  // `puller` (optional, must outlive the executor): prepare() pulls a task's
  // image that the node does not have. `network` (optional): the node's
  // overlay networks; a task attached to a network gets its namespace from
  // it. Without one, `network_error` says why (a task with networks is then
  // rejected with it).
  RuntimeExecutor(runtime::Runtime& runtime, std::string node_id, ImagePuller* puller = nullptr,
                  std::unique_ptr<netnode::NodeNetwork> network = nullptr, std::string network_error = "");
  ~RuntimeExecutor() override;
  Status prepare(const Task& task) override;
  Status start(const Task& task) override;
  Observation observe(const std::string& task_id) override;
  Status stop(const Task& task) override;
  Status remove(const std::string& task_id) override;
  std::vector<std::string> known_tasks() override;
  // Ends image pulls of prepare() in flight (kUnavailable) and fails later ones.
  void cancel() override;
  void set_network_view(const session::NetworkView& view) override;
  void erase_node_state() override;

  static runtime::ContainerConfig container_config(const Task& task, const std::string& node_id,
                                                   const std::string& container_id);

 private:
  std::string container_of(const std::string& task_id);
  // A task's container has ended: its network attachments go now (the
  // control plane frees its addresses at once, so its veths must not keep
  // answering for them until the task is removed). observe() runs under the
  // worker's lock, so the kernel work is done by detacher_.
  void detach_soon(const std::string& task_id);
  void detacher_loop();

  runtime::Runtime& runtime_;
  std::string node_id_;
  ImagePuller* puller_;
  std::unique_ptr<netnode::NodeNetwork> network_;
  std::string network_error_;
  std::mutex detach_mu_;
  std::condition_variable detach_cv_;
  std::deque<std::string> detach_queue_;
  std::unordered_set<std::string> detached_;  // tasks whose attachments were dropped (or queued)
  bool detach_stop_ = false;
  std::thread detacher_;
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::unordered_map<std::string, std::string> containers_;  // task id -> container id
  bool loaded_ = false;
};

}  // namespace shoal::agent
