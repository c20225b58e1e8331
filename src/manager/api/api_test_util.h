// Test helpers for the API: a SwarmControl over a Store on a MemoryBackend
// and canned local containers. Header-only, for *_test.cc files. init writes
// the swarm through the composition root's create_swarm (node/bootstrap.h),
// the one implementation of what `swarm init` stores, with fixed credentials;
// unlike shoald's node it runs no control loops or agent, so API tests see
// exactly the objects they write.
#pragma once

#include <memory>

#include "common/clock.h"
#include "common/json_limits.h"
#include "http/message.h"
#include "manager/api/api.h"
#include "manager/ca/sealed.h"
#include "node/bootstrap.h"
#include "store/memory_backend.h"
#include "store/store.h"

namespace shoal::api::testing {

class FakeControl : public SwarmControl {
 public:
  explicit FakeControl(Clock& clock) : clock_(clock) {}
  ~FakeControl() override {
    if (store_) store_->stop();
  }

  Result<std::string> init(const InitRequest& req) override {
    if (store_) return unavailable(kAlreadyInSwarm);
    last_init = req;
    auto store = std::make_shared<Store>(backend_);
    Status st = store->start();
    if (!st.ok()) return st;
    node::SwarmBootstrap b;
    b.node_id = node_id_;
    b.advertise_addr = node::swarm_address(req, "");
    b.description.hostname = "host1";
    b.request = req;
    b.cluster_id = "cluster1";
    b.credentials = node::SwarmCredentials{
        {"CERT", "SECRET-KEY"}, "SWMTKN-1-digest-workersecret", "SWMTKN-1-digest-managersecret"};
    st = node::create_swarm(*store, clock_, b);
    if (!st.ok()) return st;
    store_ = std::move(store);
    tokens_ = {b.credentials->worker_token, b.credentials->manager_token};
    return node_id_;
  }
  Status leave(bool force) override {
    if (!store_) return unavailable(kNotInSwarm);
    if (!force) {
      return failed_precondition("You are attempting to leave the swarm on a node that is participating as a manager. "
                                 "Use `--force` to ignore this message.");
    }
    store_->stop();
    store_.reset();
    return ok_status();
  }
  bool active() const override { return store_ != nullptr; }
  std::string node_id() const override { return store_ ? node_id_ : ""; }
  std::shared_ptr<Store> store() override { return store_; }
  LocalInfo local_info() const override {
    LocalInfo i;
    i.hostname = "host1";
    i.ncpu = 2;
    i.mem_total = 4LL << 30;
    i.kernel_version = "6.1.0";
    i.operating_system = "Debian GNU/Linux 12 (bookworm)";
    i.addr = "127.0.0.1:2377";
    i.containers = 3;
    i.containers_running = 2;
    return i;
  }

  Result<JoinTokens> join_tokens() override {
    if (!store_) return unavailable(kNotInSwarm);
    return tokens_;
  }
  Status set_join_tokens(const JoinTokens& t) override {
    if (!store_) return unavailable(kNotInSwarm);
    tokens_ = t;
    return ok_status();
  }
  // With the real sealing (manager/ca/sealed.h) under `data_key`.
  Result<std::string> seal_registry_auth(const std::string& plain, const std::string& context) override {
    if (!store_) return unavailable(kNotInSwarm);
    return ca::seal(data_key, plain, context);
  }
  // The backend under the store (tests look at what is stored).
  MemoryBackend& backend() { return backend_; }

  std::string data_key = ca::new_seal_key();

  InitRequest last_init;

 private:
  Clock& clock_;
  std::string node_id_ = "node1aaaaaaaaaaaaaaaaaaaa";
  MemoryBackend backend_;
  std::shared_ptr<Store> store_;
  JoinTokens tokens_;
};

class FakeContainers : public LocalContainers {
 public:
  std::vector<ContainerSummary> list(bool all) override {
    std::vector<ContainerSummary> out;
    for (const auto& c : containers)
      if (all || c.state == "running") out.push_back(c);
    return out;
  }
  Status kill(const std::string& id_or_name, int signal) override {
    for (const auto& c : containers) {
      if (c.id.rfind(id_or_name, 0) == 0 || (!c.names.empty() && c.names[0] == "/" + id_or_name)) {
        killed.emplace_back(c.id, signal);
        return ok_status();
      }
    }
    return not_found("No such container: " + shown_input(id_or_name));
  }
  Result<ContainerDetails> inspect(const std::string& id_or_name) override {
    for (const auto& c : containers) {
      if (c.id.rfind(id_or_name, 0) == 0) {
        ContainerDetails d;
        d.summary = c;
        d.log_path = log_path;
        return d;
      }
    }
    return not_found("No such container: " + shown_input(id_or_name));
  }
  Result<std::string> exec_create(const std::string& id_or_name, const ExecOptions& options) override {
    SHOAL_RETURN_IF_ERROR(inspect(id_or_name).status());
    execs.push_back(options);
    return std::string(64, 'e');
  }
  Result<std::shared_ptr<http::Hijack>> exec_start(const std::string& exec_id, int rows, int cols) override {
    start_size = {rows, cols};
    if (exec_id != std::string(64, 'e')) return not_found("No such exec instance: " + exec_id);
    return std::make_shared<http::Hijack>();
  }
  std::vector<ContainerSummary> containers;
  std::vector<std::pair<std::string, int>> killed;
  std::vector<ExecOptions> execs;
  std::pair<int, int> start_size{-1, -1};
  std::string log_path;
};

inline http::Request make_request(const std::string& method, const std::string& target, const std::string& body = "") {
  http::Request r;
  r.method = method;
  r.target = target;
  auto q = target.find('?');
  r.path = http::url_decode(target.substr(0, q));
  if (q != std::string::npos) r.query = http::parse_query(target.substr(q + 1));
  r.body = body;
  r.peer = "unix";
  return r;
}

}  // namespace shoal::api::testing
