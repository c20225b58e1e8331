#include "daemon/manager_role.h"

#include <ctime>
#include <filesystem>

#include "common/log.h"
#include "manager/ca/etcd_certs.h"
#include "manager/ca/sealed.h"
#include "daemon/sealed_tokens.h"
#include "manager/etcd/etcd_member.h"
#include "store/etcd_backend.h"

namespace shoal::daemon {

namespace {

constexpr char kSealContext[] = "root-ca-key";
constexpr char kTokensContext[] = "join-tokens";
std::string certs_dir(const ManagerOptions& o) { return o.data_root + "/certs"; }
std::string seal_key_path(const ManagerOptions& o) { return o.data_root + "/manager/seal.key"; }

}  // namespace

ManagerRole::ManagerRole(ManagerOptions options) : options_(std::move(options)) {}

ManagerRole::~ManagerRole() { stop(); }

Status ManagerRole::start() {
  const ca::RootCA* new_ca = options_.new_swarm_ca;
  std::string seal_key;
  if (new_ca) {
    SHOAL_RETURN_IF_ERROR(ca::write_etcd_certs(certs_dir(options_), options_.node_id,
                                               {options_.advertise_ip})
                              .with_context("issuing this manager's etcd certificates"));
    SHOAL_ASSIGN_OR_RETURN(seal_key, ca::create_seal_key(seal_key_path(options_)));
  }
  ca::EtcdCertFiles certs = ca::etcd_cert_files(certs_dir(options_));
  SHOAL_RETURN_IF_ERROR(ca::check_etcd_certs(certs));
  etcd::EtcdMemberOptions eo;
  eo.tls.ca_file = certs.ca_cert;
  eo.tls.member_cert_file = certs.member_cert;
  eo.tls.member_key_file = certs.member_key;
  eo.tls.client_cert_file = certs.client_cert;
  eo.tls.client_key_file = certs.client_key;
  eo.data_dir = options_.data_root + "/etcd";
  eo.name = options_.node_id;
  eo.client_port = options_.etcd_client_port;
  eo.peer_port = options_.etcd_peer_port;
  eo.log_file = options_.data_root + "/etcd.log";
  etcd_ = std::make_unique<etcd::EtcdMember>(eo);
  SHOAL_RETURN_IF_ERROR(etcd_->start().with_context("starting this manager's etcd member"));
  backend_ = std::make_unique<EtcdBackend>(etcd_->client_url(), 1024, etcd_->client_tls());
  if (new_ca) {
    SHOAL_ASSIGN_OR_RETURN(std::string sealed, ca::seal(seal_key, new_ca->key_pem, kSealContext));
    auto put = backend_->txn({{kSealedRootCAKey, Compare::Target::kCreateRevision, 0}},
                             {{TxnOp::Type::kPut, kSealedRootCAKey, sealed, 0}}, {});
    if (!put.ok()) return put.status().with_context("storing the root CA's sealed key");
    if (!put->succeeded) {
      return failed_precondition("etcd already holds a root CA key; use `swarm leave --force` to erase the old swarm");
    }
  }
  options_.new_swarm_ca = nullptr;  // not kept past start()
  return ok_status();
}

Result<std::string> ManagerRole::root_ca_key() {
  SHOAL_ASSIGN_OR_RETURN(std::string key, ca::read_seal_key(seal_key_path(options_)));
  SHOAL_ASSIGN_OR_RETURN(RangeResult r, backend_->range(kSealedRootCAKey, false));
  if (r.kvs.empty()) return not_found("etcd holds no root CA key (" + std::string(kSealedRootCAKey) + ")");
  return ca::unseal(key, r.kvs[0].value, kSealContext);
}

Result<JoinTokens> ManagerRole::join_tokens() {
  if (!backend_) return unavailable("this manager's etcd member is not started");
  SHOAL_ASSIGN_OR_RETURN(std::string key, ca::read_seal_key(seal_key_path(options_)));
  auto blob = read_sealed_tokens(*backend_, kSealedJoinTokens);
  if (!blob.ok() && blob.status().code() == Code::kNotFound) {
    return not_found("etcd holds no join tokens (" + std::string(kSealedJoinTokens) +
                     "): this swarm was made by an older shoald; leave it (`swarm leave --force`) and init again");
  }
  if (!blob.ok()) return blob.status();
  SHOAL_ASSIGN_OR_RETURN(std::string plain, ca::unseal(key, blob->sealed, kTokensContext));
  auto j = nlohmann::json::parse(plain, nullptr, false);
  if (!j.is_object() || !j.value("Worker", nlohmann::json()).is_string() ||
      !j.value("Manager", nlohmann::json()).is_string()) {
    return internal_error("the sealed join tokens at " + std::string(kSealedJoinTokens) + " are not {Worker, Manager}");
  }
  return JoinTokens{j["Worker"].get<std::string>(), j["Manager"].get<std::string>(), blob->version};
}

Status ManagerRole::set_join_tokens(const JoinTokens& tokens) {
  if (!backend_) return unavailable("this manager's etcd member is not started");
  SHOAL_ASSIGN_OR_RETURN(std::string key, ca::read_seal_key(seal_key_path(options_)));
  nlohmann::json j = {{"Worker", tokens.worker}, {"Manager", tokens.manager}};
  SHOAL_ASSIGN_OR_RETURN(std::string sealed, ca::seal(key, j.dump(), kTokensContext));
  // The marker under the watched /shoal/ prefix moves the store's watch to
  // this write's revision (the cache ignores the key): a write outside the
  // prefix alone would leave Store::sync waiting for a revision the watch
  // never delivers, stalling the control loops' next synced pass.
  // With a compare on the version read (tokens.version): a concurrent
  // rotation's write is never overwritten unseen.
  return write_sealed_tokens(*backend_, kSealedJoinTokens, sealed, tokens.version, "/shoal/sealed-version",
                             std::to_string(::time(nullptr)));
}

Backend& ManagerRole::backend() { return *backend_; }

void ManagerRole::stop() {
  if (etcd_) etcd_->stop();
  etcd_.reset();
}

void ManagerRole::destroy() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(options_.data_root + "/etcd", ec);
  std::filesystem::remove(options_.data_root + "/etcd.log", ec);
  std::filesystem::remove_all(certs_dir(options_), ec);
  std::filesystem::remove_all(options_.data_root + "/manager", ec);
}

}  // namespace shoal::daemon
