#include "node/manager.h"

#include "common/log.h"
#include "manager/orchestrator/pipeline.h"
#include "store/stop_bound.h"

namespace shoal::node {

Manager::Manager(Backend& backend, Clock& clock, ManagerConfig config)
    : backend_(backend), clock_(clock), config_(std::move(config)) {
  config_.elector.candidate_id = config_.node_id;
  store_ = std::make_unique<Store>(backend_);
}

Manager::~Manager() { stop(); }

Status Manager::start(const std::optional<SwarmBootstrap>& bootstrap) {
  SHOAL_RETURN_IF_ERROR(store_->start().with_context("loading the cluster state"));
  if (bootstrap) {
    Status st = create_swarm(*store_, clock_, *bootstrap);
    if (!st.ok()) {
      store_->stop();
      return st;
    }
  }
  dispatcher::DispatcherOptions dopts = config_.dispatcher;
  if (auto c = store_->cluster()) dopts.heartbeat_period = c->spec.heartbeat_period;
  dispatcher_ = std::make_unique<dispatcher::Dispatcher>(*store_, clock_, dopts);
  dispatcher_->start();
  leader::ElectorOptions eo = config_.elector;
  if (config_.peer_tls) {  // fast failover: the followers probe the leader
    probe_ = std::make_unique<leader::LeaderProbe>(*store_, config_.peer_tls);
    eo.probe_leader = [p = probe_.get()](const std::string& id) { return p->alive(id); };
    eo.managers = [p = probe_.get()] { return p->managers(); };
  }
  elector_ = std::make_unique<leader::Elector>(
      backend_, eo, [this](const Fence& f) { on_elected(f); }, [this] { on_deposed(); });
  elector_->start();
  return ok_status();
}

void Manager::on_elected(const Fence& fence) {
  std::lock_guard lk(loops_mu_);
  loops_ = std::make_unique<orchestrator::ControlLoops>(*store_, clock_, fence);
  loops_->start();
  dispatcher_->begin_grace();  // Ready nodes without a session anywhere go Down after the grace
}

void Manager::on_deposed() {
  // Taken out under the lock, stopped outside it: stop() joins the loops'
  // thread, which may be waiting out a store write.
  std::unique_ptr<orchestrator::ControlLoops> loops;
  {
    std::lock_guard lk(loops_mu_);
    loops = std::move(loops_);
  }
  if (loops) loops->stop();
  if (dispatcher_) dispatcher_->end_grace();  // a deposed manager marks no node Down for its lost term
}

void Manager::stop_sessions() {
  StopBound bound(backend_, clock_, config_.stop_grace);  // its status writer may wait on a hung etcd
  if (dispatcher_) dispatcher_->stop();
}

bool Manager::is_leader() const { return elector_ && elector_->is_leader(); }

bool Manager::manager_answers(const std::string& node_id) { return !probe_ || probe_->alive(node_id); }

void Manager::stop() {
  if (stopped_) return;  // a stopped manager's destructor touches neither backend nor clock
  stopped_ = true;
  StopBound bound(backend_, clock_, config_.stop_grace);  // a hung etcd is cancelled after the grace
  if (elector_) elector_->resign();  // first: the lease revoke gets the whole grace
  if (store_) store_->stop();      // the loops' writes and waits on it return
  if (elector_) elector_->stop();  // stops the control loops through on_deposed
  on_deposed();                    // in case the elector never ran
  if (dispatcher_) dispatcher_->stop();
}

}  // namespace shoal::node
