#include "agent/runtime_executor.h"

#include <csignal>

#include "agent/registry_client.h"
#include "common/ids.h"
#include "common/image_reference.h"
#include "common/log.h"
#include "common/seccomp_profile.h"

namespace shoal::agent {

namespace {
constexpr char kTaskLabel[] = "com.docker.swarm.task.id";
}

RuntimeExecutor::RuntimeExecutor(runtime::Runtime& runtime, std::string node_id, ImagePuller* puller,
                                 std::unique_ptr<netnode::NodeNetwork> network, std::string network_error)
    : runtime_(runtime),
      node_id_(std::move(node_id)),
      puller_(puller),
      network_(std::move(network)),
      network_error_(std::move(network_error)) {}

RuntimeExecutor::~RuntimeExecutor() {
  {
    std::lock_guard lk(detach_mu_);
    detach_stop_ = true;
  }
  detach_cv_.notify_all();
  if (detacher_.joinable()) detacher_.join();
  if (network_) network_->stop();
}

void RuntimeExecutor::detach_soon(const std::string& task_id) {
  if (!network_) return;
  std::lock_guard lk(detach_mu_);
  if (detach_stop_ || !detached_.insert(task_id).second) return;
  detach_queue_.push_back(task_id);
  if (!detacher_.joinable()) detacher_ = std::thread([this] { detacher_loop(); });
  detach_cv_.notify_all();
}

void RuntimeExecutor::detacher_loop() {
  std::unique_lock lk(detach_mu_);
  while (true) {
    detach_cv_.wait(lk, [&] { return detach_stop_ || !detach_queue_.empty(); });
    if (detach_stop_) return;  // what is left is detached by remove() (or after a restart)
    std::string id = std::move(detach_queue_.front());
    detach_queue_.pop_front();
    lk.unlock();
    Status st = network_->detach_task(id);
    if (!st.ok()) LOG_WARN("agent", "task " << id << ": detaching its networks after it ended: " << st.message());
    lk.lock();
  }
}

void RuntimeExecutor::cancel() {
  cancelled_ = true;
  if (network_) network_->stop();  // a prepare() waiting for the network view returns
}

void RuntimeExecutor::set_network_view(const session::NetworkView& view) {
  if (network_) network_->set_view(view);
}

void RuntimeExecutor::erase_node_state() {
  if (!network_) return;
  Status st = network_->remove_all();
  if (!st.ok()) LOG_WARN("agent", "removing the node's networks: " << st.message());
}

runtime::ContainerConfig RuntimeExecutor::container_config(const Task& task, const std::string& node_id,
                                                           const std::string& container_id) {
  const ContainerSpec& cs = task.spec.container_spec;
  runtime::ContainerConfig c;
  c.id = container_id;
  std::string slot = task.slot ? std::to_string(task.slot) : node_id;
  std::string task_name = task.service_name + "." + slot;
  c.name = task_name + "." + task.id;
  c.image = cs.image;
  c.command = cs.command;
  c.args = cs.args;
  c.env = cs.env;
  c.dir = cs.dir;
  c.user = cs.user;
  c.hostname = cs.hostname;
  for (const auto& p : task.host_ports)
    c.ports.push_back(std::to_string(p.published_port) + ":" + std::to_string(p.target_port) + "/" + p.protocol);
  c.labels = cs.labels;
  c.labels["com.docker.swarm.service.id"] = task.service_id;
  c.labels["com.docker.swarm.service.name"] = task.service_name;
  c.labels[kTaskLabel] = task.id;
  c.labels["com.docker.swarm.task.name"] = c.name;
  c.labels["com.docker.swarm.node.id"] = node_id;
  c.stop_signal = cs.stop_signal;
  c.stop_grace = cs.stop_grace_period.value_or(std::chrono::seconds(10));
  c.read_only = cs.read_only;
  c.memory_bytes = task.spec.resources.limits.memory_bytes;
  c.nano_cpus = task.spec.resources.limits.nano_cpus;
  c.pids_limit = task.spec.resources.limits.pids;
  using Seccomp = runtime::ContainerConfig::Seccomp;
  c.seccomp = cs.seccomp_mode == "unconfined" ? Seccomp::kUnconfined
              : cs.seccomp_mode == "custom"   ? Seccomp::kCustom
                                              : Seccomp::kDefault;
  if (c.seccomp == Seccomp::kCustom) {
    // Undecodable text stays as is: the runtime then rejects it as a profile.
    auto text = seccomp_profile_text(cs.seccomp_profile);
    c.seccomp_profile = text.ok() ? *text : cs.seccomp_profile;
  }
  c.no_new_privileges = cs.no_new_privileges;
  return c;
}

std::string RuntimeExecutor::container_of(const std::string& task_id) {
  std::lock_guard lk(mu_);
  if (!loaded_) {
    loaded_ = true;
    auto all = runtime_.list();
    if (all.ok()) {
      for (const auto& c : *all) {
        auto it = c.labels.find(kTaskLabel);
        if (it != c.labels.end()) containers_[it->second] = c.id;
      }
    }
  }
  auto it = containers_.find(task_id);
  return it == containers_.end() ? "" : it->second;
}

Status RuntimeExecutor::prepare(const Task& task) {
  std::string id = container_of(task.id);
  if (!id.empty()) return ok_status();
  if (puller_) {
    // The service's --with-registry-auth credentials, from the assignment
    // (Task::registry_auth; the dispatcher checked them when stored).
    auto creds = parse_registry_auth(task.registry_auth);
    if (!creds.ok()) return creds.status().with_context("the service's registry credentials");
    // Only for the registry they were given for: after `service update
    // --image other.example/x` the stored ones would go to other.example.
    auto ref = parse_reference(task.spec.container_spec.image);
    if (!creds->empty() && (!ref.ok() || !credentials_are_for(creds->server_address, ref->domain))) {
      LOG_WARN("agent", "service " << task.service_id
                                   << ": its registry credentials are not for its image's registry: pulling anonymously");
      *creds = RegistryCredentials{};
    }
    SHOAL_RETURN_IF_ERROR(puller_->ensure(task.spec.container_spec.image, *creds, &cancelled_));
  }
  id = new_container_id();
  runtime::ContainerConfig config = container_config(task, node_id_, id);
  if (!task.networks.empty() || !task.host_ports.empty()) {
    if (!network_) return failed_precondition("this node cannot attach tasks to networks: " + network_error_);
    SHOAL_ASSIGN_OR_RETURN(config.netns_path, network_->attach_task(task, &cancelled_));
  }
  Status st = runtime_.create(config);
  if (!st.ok()) {
    if (network_) (void)network_->detach_task(task.id);
    return st;
  }
  std::lock_guard lk(mu_);
  containers_[task.id] = id;
  return ok_status();
}

Status RuntimeExecutor::start(const Task& task) {
  std::string id = container_of(task.id);
  if (id.empty()) return not_found("task " + task.id + " has no container to start");
  return runtime_.start(id);
}

Observation RuntimeExecutor::observe(const std::string& task_id) {
  Observation o;
  std::string id = container_of(task_id);
  if (id.empty()) return o;
  auto st = runtime_.state(id);
  if (!st.ok()) return o;
  o.container.container_id = id;
  o.container.pid = st->pid;
  o.container.exit_code = st->exit_code;
  o.error = st->error;
  switch (st->status) {
    case runtime::ContainerStatus::kCreated: o.kind = Observation::Kind::kCreated; break;
    case runtime::ContainerStatus::kRunning: o.kind = Observation::Kind::kRunning; break;
    case runtime::ContainerStatus::kExited:
      o.kind = Observation::Kind::kExited;
      detach_soon(task_id);
      break;
    case runtime::ContainerStatus::kUnknown: o.kind = Observation::Kind::kMissing; break;
  }
  return o;
}

Status RuntimeExecutor::stop(const Task& task) {
  std::string id = container_of(task.id);
  if (id.empty()) return ok_status();
  auto grace = task.spec.container_spec.stop_grace_period.value_or(std::chrono::seconds(10));
  SHOAL_RETURN_IF_ERROR(runtime_.stop(id, grace));
  // Stopped for good (a task never starts again): its addresses are free.
  return network_ ? network_->detach_task(task.id) : ok_status();
}

Status RuntimeExecutor::remove(const std::string& task_id) {
  {
    std::lock_guard lk(detach_mu_);
    detached_.erase(task_id);
  }
  std::string id = container_of(task_id);
  if (id.empty()) return network_ ? network_->detach_task(task_id) : ok_status();
  auto st = runtime_.state(id);
  if (st.ok() && st->status == runtime::ContainerStatus::kRunning) {
    SHOAL_RETURN_IF_ERROR(runtime_.stop(id, std::chrono::seconds(10)));
  }
  SHOAL_RETURN_IF_ERROR(runtime_.remove(id));
  {
    std::lock_guard lk(mu_);
    containers_.erase(task_id);
  }
  // After the container: its namespace is the container's until then.
  return network_ ? network_->detach_task(task_id) : ok_status();
}

std::vector<std::string> RuntimeExecutor::known_tasks() {
  container_of("");  // loads the map
  // Copied before mu_: NodeNetwork's lock may be held across kernel work.
  std::vector<std::string> attached = network_ ? network_->tasks() : std::vector<std::string>{};
  std::lock_guard lk(mu_);
  std::vector<std::string> out;
  for (const auto& [task, _] : containers_) out.push_back(task);
  for (auto& t : attached)  // a namespace whose container is gone (a crash between the two)
    if (!containers_.count(t)) out.push_back(std::move(t));
  return out;
}

}  // namespace shoal::agent
