#include "daemon/manager_role.h"

#include <filesystem>

#include "common/log.h"
#include "manager/etcd/etcd_member.h"
#include "manager/orchestrator/pipeline.h"
#include "store/etcd_backend.h"

namespace shoal::daemon {

ManagerRole::ManagerRole(Clock& clock, ManagerOptions options)
    : clock_(clock), options_(std::move(options)) {}

ManagerRole::~ManagerRole() { stop(); }

Status ManagerRole::start() {
  etcd::EtcdMemberOptions eo;
  eo.data_dir = options_.data_root + "/etcd";
  eo.name = options_.node_id;
  eo.client_port = options_.etcd_client_port;
  eo.peer_port = options_.etcd_peer_port;
  eo.log_file = options_.data_root + "/etcd.log";
  etcd_ = std::make_unique<etcd::EtcdMember>(eo);
  SHOAL_RETURN_IF_ERROR(etcd_->start().with_context("starting this manager's etcd member"));
  backend_ = std::make_unique<EtcdBackend>(
      "http://127.0.0.1:" + std::to_string(options_.etcd_client_port), 1024);
  store_ = std::make_unique<Store>(*backend_);
  SHOAL_RETURN_IF_ERROR(store_->start());
  dispatcher::DispatcherOptions dopts;
  if (auto c = store_->cluster()) dopts.heartbeat_period = c->spec.heartbeat_period;
  dispatcher_ = std::make_unique<dispatcher::Dispatcher>(*store_, clock_, dopts);
  dispatcher_->start();
  leader::ElectorOptions lo;
  lo.candidate_id = options_.node_id;
  elector_ = std::make_unique<leader::Elector>(
      *backend_, lo,
      [this](const Fence& fence) {
        std::lock_guard lk(loops_mu_);
        loops_ = std::make_unique<orchestrator::ControlLoops>(*store_, clock_, fence);
        loops_->start();
      },
      [this] {
        std::lock_guard lk(loops_mu_);
        if (loops_) loops_->stop();
        loops_.reset();
      });
  elector_->start();
  return ok_status();
}

bool ManagerRole::is_leader() const { return elector_ && elector_->is_leader(); }

void ManagerRole::stop() {
  if (elector_) elector_->stop();  // stops the control loops through on_deposed
  elector_.reset();
  if (dispatcher_) dispatcher_->stop();
  dispatcher_.reset();
  if (store_) store_->stop();
  store_.reset();
  backend_.reset();
  if (etcd_) etcd_->stop();
  etcd_.reset();
}

void ManagerRole::destroy() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(options_.data_root + "/etcd", ec);
  std::filesystem::remove(options_.data_root + "/etcd.log", ec);
}

}  // namespace shoal::daemon
