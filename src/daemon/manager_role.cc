#include "daemon/manager_role.h"

#include <algorithm>
#include <ctime>
#include <filesystem>

#include "common/log.h"
#include "manager/ca/etcd_certs.h"
#include "manager/ca/sealed.h"
#include "daemon/sealed_tokens.h"
#include "manager/etcd/etcd_member.h"
#include "manager/etcd/etcd_membership.h"
#include "manager/etcd/learner_janitor.h"
#include "common/files.h"
#include "manager/ca/key_files.h"
#include "store/etcd_grpc_backend.h"

namespace shoal::daemon {

namespace {

constexpr char kSealContext[] = "root-ca-key";
constexpr char kTokensContext[] = "join-tokens";
constexpr char kEtcdCaContext[] = "etcd-ca-key";
std::string certs_dir(const ManagerOptions& o) { return o.data_root + "/certs"; }
std::string seal_key_path(const ManagerOptions& o) { return o.data_root + "/manager/seal.key"; }

bool loopback_url(const std::string& url) {
  return url.find("://127.") != std::string::npos || url.find("://localhost") != std::string::npos ||
         url.find("://[::1]") != std::string::npos;
}

// The --initial-cluster a joined manager's first start uses, or "".
std::string joined_initial_cluster(const ManagerOptions& o) {
  if (std::filesystem::exists(o.data_root + "/etcd")) return "";  // a restart: etcd has its data
  auto text = ca::read_private_file(o.data_root + kEtcdJoinFile, /*secret=*/false);
  if (!text.ok()) return "";
  auto j = nlohmann::json::parse(*text, nullptr, false);
  return j.is_object() ? j.value("InitialCluster", "") : "";
}

// A joined member is a learner until the admitting manager promotes it:
// the manager role starts on it (and the join returns) once it votes.
Status wait_promoted(const std::string& url, const http::TlsOptions& tls, const std::string& name) {
  etcd::MembershipClient mc(url, tls);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::string last = "no answer yet";
  while (std::chrono::steady_clock::now() < deadline) {
    auto members = mc.list();
    if (members.ok()) {
      for (const auto& m : *members) {
        if (m.name == name && !m.learner) return ok_status();
      }
      last = "still a learner";
    } else {
      last = members.status().message();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return unavailable("this manager's etcd member was not promoted to a voting member within 30 s (" + last +
                     "): the manager that admitted it promotes it once it has caught up; see its log");
}

}  // namespace

Status install_joined_manager(const std::string& data_root, const node::ManagerGrant& g) {
  std::error_code ec;
  for (const char* d : {"/etcd", "/certs", "/manager"}) std::filesystem::remove_all(data_root + d, ec);
  ca::JoinedEtcdCerts c{g.etcd_ca_pem, g.member_cert_pem, g.member_key_pem, g.client_cert_pem, g.client_key_pem};
  SHOAL_RETURN_IF_ERROR(ca::write_joined_etcd_certs(data_root + "/certs", c));
  SHOAL_RETURN_IF_ERROR(ca::write_seal_key(data_root + "/manager/seal.key", g.seal_key));
  nlohmann::json j = {{"InitialCluster", g.initial_cluster}};
  return write_file_atomic(data_root + kEtcdJoinFile, j.dump(), 0600);
}

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
  eo.peer_host = options_.advertise_ip.empty() ? "127.0.0.1" : options_.advertise_ip;
  eo.initial_cluster = joined_initial_cluster(options_);
  eo.peer_port = options_.etcd_peer_port;
  eo.force_new_cluster = options_.force_new_cluster;
  eo.log_file = options_.data_root + "/etcd.log";
  etcd_ = std::make_unique<etcd::EtcdMember>(eo);
  SHOAL_RETURN_IF_ERROR(etcd_->start().with_context(eo.initial_cluster.empty()
                                                         ? "starting this manager's etcd member"
                                                         : "starting this manager's etcd member, joining " +
                                                               eo.initial_cluster));
  if (!eo.initial_cluster.empty()) {
    std::error_code ec;
    std::filesystem::remove(options_.data_root + kEtcdJoinFile, ec);  // etcd has its data dir now
    SHOAL_RETURN_IF_ERROR(wait_promoted(etcd_->client_url(), etcd_->client_tls(), options_.node_id));
  }
  {
    std::lock_guard lk(admit_mu_);
    stopping_ = false;
  }
  etcd_url_ = etcd_->client_url();
  etcd_tls_ = etcd_->client_tls();
  // Short deadlines (docs/architecture.md "Leader failover"): a lease call
  // (the elector's and the dispatcher's keepalives) or a write stuck on a
  // dead raft leader (a proposal forwarded to it is never answered) fails
  // within 1 s, about when etcd has elected the next, and is retried (a
  // write of unknown outcome re-read first, store.h) with 2 s, then 4 s (a
  // slow commit is not cut off every time; a resend follows only a re-read
  // that a raft leader answered, so a lost quorum still fails fast); a read
  // within 2 s, so the API answers 503 under 2 s on a lost quorum;
  // require-leader fails calls at once on a member that knows it has no leader.
  EtcdGrpcTimeouts timeouts;
  timeouts.read = std::chrono::seconds(2);
  timeouts.write = std::chrono::seconds(1);
  timeouts.write_max = std::chrono::seconds(4);
  timeouts.lease = std::chrono::seconds(1);
  timeouts.require_leader = true;
  backend_ = std::make_unique<EtcdGrpcBackend>(etcd_->client_url(), 1024, etcd_->client_tls(), timeouts);
  if (new_ca) {
    SHOAL_ASSIGN_OR_RETURN(std::string sealed, ca::seal(seal_key, new_ca->key_pem, kSealContext));
    SHOAL_ASSIGN_OR_RETURN(ca::RootCA etcd_ca, ca::read_etcd_ca(certs));
    SHOAL_ASSIGN_OR_RETURN(std::string sealed_etcd, ca::seal(seal_key, etcd_ca.key_pem, kEtcdCaContext));
    auto put = backend_->txn({{kSealedRootCAKey, Compare::Target::kCreateRevision, 0}},
                             {{TxnOp::Type::kPut, kSealedRootCAKey, sealed, 0},
                              {TxnOp::Type::kPut, kSealedEtcdCAKey, sealed_etcd, 0}},
                             {});
    if (!put.ok()) return put.status().with_context("storing the root CA's sealed key");
    if (!put->succeeded) {
      return failed_precondition("etcd already holds a root CA key; use `swarm leave --force` to erase the old swarm");
    }
  }
  drop_clear_etcd_ca_key(certs);
  options_.new_swarm_ca = nullptr;  // not kept past start()
  start_janitor();
  return ok_status();
}

Result<std::string> ManagerRole::data_key() { return ca::read_seal_key(seal_key_path(options_)); }

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

void ManagerRole::drop_clear_etcd_ca_key(const ca::EtcdCertFiles& files) {
  std::error_code ec;
  if (!std::filesystem::exists(files.ca_key, ec)) return;
  auto r = backend_->range(kSealedEtcdCAKey, false);
  if (!r.ok() || r->kvs.empty()) return;  // no sealed copy (yet): the file is the only one
  if (!std::filesystem::remove(files.ca_key, ec) && ec) {
    LOG_WARN("etcd", "could not remove " << files.ca_key << " (a sealed copy is in etcd): " << ec.message());
  }
}

Result<ca::RootCA> ManagerRole::etcd_ca() {
  ca::EtcdCertFiles files = ca::etcd_cert_files(certs_dir(options_));
  ca::RootCA out;
  SHOAL_ASSIGN_OR_RETURN(out.cert_pem, ca::read_private_file(files.ca_cert, /*secret=*/false));
  SHOAL_ASSIGN_OR_RETURN(std::string key, ca::read_seal_key(seal_key_path(options_)));
  SHOAL_ASSIGN_OR_RETURN(RangeResult r, backend_->range(kSealedEtcdCAKey, false));
  if (r.kvs.empty()) {
    // A swarm made by a shoald that kept only the file, on the manager that ran init.
    if (std::filesystem::exists(files.ca_key)) return ca::read_etcd_ca(files);
    return failed_precondition("etcd holds no etcd CA key (" + std::string(kSealedEtcdCAKey) +
                               "): this swarm was made by an older shoald; admit managers through the manager "
                               "that ran `swarm init`");
  }
  SHOAL_ASSIGN_OR_RETURN(out.key_pem, ca::unseal(key, r.kvs[0].value, kEtcdCaContext));
  return out;
}

Result<node::ManagerGrant> ManagerRole::admit_manager(const node::ManagerAdmission& a) {
  std::lock_guard lk(admit_mu_);
  if (etcd_url_.empty() || !backend_) return unavailable("this manager's etcd member is not started");
  if (promoting_) {
    return unavailable("another manager is joining through this one (its etcd member is still a learner); "
                       "retry when that join has finished");
  }
  etcd::MembershipClient mc(etcd_url_, etcd_tls_);
  SHOAL_ASSIGN_OR_RETURN(std::vector<etcd::Member> members, mc.list());
  if (etcd::has_learner(members)) {
    return unavailable("another manager is joining (an etcd member is still a learner): shoal changes the "
                       "membership one manager at a time; retry in a few seconds");
  }
  const std::string peer_url = "https://" + (a.ip.find(':') != std::string::npos ? "[" + a.ip + "]" : a.ip) + ":" +
                               std::to_string(options_.etcd_peer_port);
  for (const auto& m : members) {
    for (const auto& u : m.peer_urls) {
      if (u == peer_url) return already_exists("an etcd member already has the peer URL " + u + " (member " + m.name +
                                               "): remove that node first (`node rm`)");
      if (loopback_url(u) && !loopback_url(peer_url)) {
        return failed_precondition("etcd member " + m.name + " advertises the loopback peer URL " + u +
                                   ", which another manager cannot reach: this swarm was initialized with a "
                                   "loopback advertise address; init it with --advertise-addr set to an address "
                                   "the other managers reach");
      }
    }
  }
  SHOAL_ASSIGN_OR_RETURN(ca::RootCA eca, etcd_ca());
  auto member_cert = ca::sign_etcd_csr(eca, a.member_csr, ca::EtcdCertKind::kMember, "", a.ip);
  if (!member_cert.ok()) return member_cert.status().with_context("the etcd member CSR");
  auto client_cert = ca::sign_etcd_csr(eca, a.client_csr, ca::EtcdCertKind::kClient, "", a.ip);
  if (!client_cert.ok()) return client_cert.status().with_context("the etcd client CSR");
  SHOAL_ASSIGN_OR_RETURN(std::string seal_key, ca::read_seal_key(seal_key_path(options_)));
  SHOAL_ASSIGN_OR_RETURN(etcd::MembershipClient::Added added, mc.add_learner(peer_url));
  node::ManagerGrant g;
  g.etcd_ca_pem = eca.cert_pem;
  g.member_cert_pem = std::move(*member_cert);
  g.client_cert_pem = std::move(*client_cert);
  g.seal_key = std::move(seal_key);
  g.initial_cluster = etcd::initial_cluster(added.members, added.member.id, a.node_id);
  if (promoter_.joinable()) promoter_.join();  // the previous one has finished (promoting_ is false)
  promoting_ = true;
  promoting_name_ = a.node_id;
  abandoned_ = false;
  promoter_client_ = std::make_shared<etcd::MembershipClient>(etcd_url_, etcd_tls_);
  promoting_id_ = added.member.id;
  promoter_ = std::thread([this, id = added.member.id, name = a.node_id, pc = promoter_client_] { promote(id, name, pc); });
  LOG_INFO("etcd", "added " << a.node_id << " (" << peer_url << ") as a learner; promoting it once it has caught up");
  return g;
}

Result<std::set<std::string>> ManagerRole::voting_members() {
  if (etcd_url_.empty()) return unavailable("this manager's etcd member is not started");
  etcd::MembershipClient mc(etcd_url_, etcd_tls_);
  SHOAL_ASSIGN_OR_RETURN(std::vector<etcd::Member> members, mc.list());
  std::set<std::string> out;
  for (const auto& m : members) {
    if (!m.learner && !m.name.empty()) out.insert(m.name);
  }
  return out;
}

Result<bool> ManagerRole::has_learner() {
  if (etcd_url_.empty()) return unavailable("this manager's etcd member is not started");
  etcd::MembershipClient mc(etcd_url_, etcd_tls_);
  SHOAL_ASSIGN_OR_RETURN(std::vector<etcd::Member> members, mc.list());
  return etcd::has_learner(members);
}

Status ManagerRole::remove_member(const std::string& node_id) {
  if (etcd_url_.empty()) return unavailable("this manager's etcd member is not started");
  etcd::MembershipClient mc(etcd_url_, etcd_tls_);
  auto members = mc.list();
  // This manager's own member removed already (another manager took it for
  // dead): its local etcd exited as a removed member does, so no list.
  if (!members.ok()) {
    return own_member_gone(node_id) ? ok_status() : members.status().with_context("listing the etcd members");
  }
  const etcd::Member* m = etcd::find_member(*members, node_id);
  if (!m) return ok_status();
  Status st = mc.remove(m->id);
  if (st.ok()) {
    LOG_INFO("etcd", "removed the etcd member of " << node_id);
    return st;
  }
  // Removing this manager's own member: etcd may stop it before it answers.
  // Decide by what another look shows, when there is one.
  auto again = mc.list();
  if (again.ok() && !etcd::find_member(*again, node_id)) return ok_status();
  if (own_member_gone(node_id)) return ok_status();  // no other look: the local etcd is gone
  return st.with_context("removing the etcd member of " + node_id);
}

bool ManagerRole::own_member_gone(const std::string& node_id) {
  if (node_id != options_.node_id || !etcd_) return false;
  // etcd exits with status 0 on its own only when its member was removed
  // from the cluster (it may take a moment to learn that).
  for (int i = 0; i < 30 && etcd_->clean_exits() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (etcd_->clean_exits() == 0) return false;
  LOG_INFO("etcd", "removed the etcd member of " << node_id << " (its etcd exited, as a removed member does)");
  return true;
}

void ManagerRole::abandon_manager(const std::string& node_id) {
  {
    std::lock_guard lk(admit_mu_);
    if (!promoting_ || promoting_name_ != node_id) return;
    abandoned_ = true;
  }
  promoter_cv_.notify_all();
}

void ManagerRole::promote(uint64_t id, std::string name, std::shared_ptr<etcd::MembershipClient> client) {
  etcd::MembershipClient& mc = *client;
  // Whether the member votes already: a promote that etcd applied but whose
  // answer was lost (a timeout, a leader change) is refused when retried
  // ("can only promote a learner member"); without this look the loop would
  // end by removing a healthy voter as a learner that never caught up.
  auto voting = [&] {
    auto ms = mc.list();
    if (!ms.ok()) return false;
    for (const auto& m : *ms) {
      if (m.id == id) return !m.learner;
    }
    return false;
  };
  auto deadline = std::chrono::steady_clock::now() + kPromoteDeadline;
  Status last = ok_status();
  std::unique_lock lk(admit_mu_);
  while (!stopping_ && !abandoned_ && std::chrono::steady_clock::now() < deadline) {
    lk.unlock();
    last = mc.promote(id);
    if (!last.ok() && voting()) last = ok_status();
    lk.lock();
    if (last.ok()) {
      LOG_INFO("etcd", "promoted " << name << " to a voting member");
      promoting_ = false;
      promoting_id_ = 0;
      return;
    }
    promoter_cv_.wait_for(lk, std::chrono::milliseconds(100), [&] { return stopping_ || abandoned_; });
  }
  if (!stopping_) {
    if (abandoned_) {
      LOG_WARN("etcd", "the admission of " << name << " failed after its learner was added; removing it");
    } else {
      LOG_WARN("etcd", "learner " << name << " did not catch up within " << kPromoteDeadline.count()
                                  << " s (" << last.message() << "); removing it");
    }
    const bool abandoned = abandoned_;
    lk.unlock();
    Status st = abandoned || !voting() ? mc.remove(id) : ok_status();  // never a voter as a stale learner
    lk.lock();
    if (!st.ok()) LOG_WARN("etcd", "removing learner " << name << ": " << st.message());
  }
  promoting_ = false;
  promoting_id_ = 0;
}

void ManagerRole::start_janitor() {
  if (janitor_.joinable()) stop_janitor();  // start() again without a stop(): one janitor
  auto client = std::make_shared<etcd::MembershipClient>(etcd_url_, etcd_tls_);
  {
    std::lock_guard lk(janitor_mu_);
    janitor_stopping_ = false;
    janitor_client_ = client;
  }
  janitor_ = std::thread([this, client] { janitor_loop(client); });
}

void ManagerRole::stop_janitor() {
  std::shared_ptr<etcd::MembershipClient> client;
  {
    std::lock_guard lk(janitor_mu_);
    janitor_stopping_ = true;
    client = std::move(janitor_client_);
  }
  janitor_cv_.notify_all();
  if (client) client->cancel();  // a list, promote or remove in flight returns at once
  if (janitor_.joinable()) janitor_.join();
}

void ManagerRole::janitor_loop(std::shared_ptr<etcd::MembershipClient> client) {
  // Monotonic: a wall-clock step must not make a learner look older than it is.
  auto now = [] { return SysTime(std::chrono::duration_cast<SysTime::duration>(
                      std::chrono::steady_clock::now().time_since_epoch())); };
  const Duration remove_after = kPromoteDeadline + options_.learner_janitor_margin;
  std::map<uint64_t, SysTime> first_seen, stale_since;
  std::unique_lock lk(janitor_mu_);
  for (;;) {
    janitor_cv_.wait_for(lk, options_.learner_janitor_tick, [&] { return janitor_stopping_; });
    if (janitor_stopping_) return;
    lk.unlock();
    auto members = client->list();
    if (members.ok()) {
      uint64_t owned = promoting_id_;  // read after the list: a learner added since is not in it
      auto actions = etcd::plan_learner_cleanup(*members, owned ? std::optional(owned) : std::nullopt, now(),
                                                remove_after, first_seen);
      for (const auto& a : actions) janitor_act(*client, a);
      janitor_stale_voters(*client, *members, stale_since, now());
    }
    lk.lock();
  }
}

void ManagerRole::janitor_act(etcd::MembershipClient& mc, const etcd::LearnerAction& a) {
  const std::string who = (a.name.empty() ? "never started" : a.name) + ", " + a.peer_url;
  if (a.seen_for == Duration(0)) {
    LOG_INFO("etcd", "etcd member " << a.id << " (" << who << ") is a learner that no promoter of this manager "
                                    << "owns: promoting it once it has caught up, removing it if it has not within "
                                    << std::chrono::duration_cast<std::chrono::seconds>(kPromoteDeadline +
                                                                                       options_.learner_janitor_margin)
                                           .count()
                                    << " s");
  }
  if (a.kind == etcd::LearnerAction::Kind::kPromote) {
    if (mc.promote(a.id).ok()) LOG_INFO("etcd", "promoted learner " << a.id << " (" << who << ") to a voting member");
    return;  // refused while it lags: tried again at the next tick
  }
  // Looked at again just before: another manager's janitor, or the owner's
  // promoter, may have promoted it since the list this plan came from, and a
  // voter must never be removed as a stale learner. A last promote first: one
  // that caught up at the deadline stays.
  auto fresh = mc.list();
  if (!fresh.ok()) return;
  const auto it = std::find_if(fresh->begin(), fresh->end(), [&](const etcd::Member& m) { return m.id == a.id; });
  if (it == fresh->end() || !it->learner) return;
  if (mc.promote(a.id).ok()) {
    LOG_INFO("etcd", "promoted learner " << a.id << " (" << who << ") to a voting member at its deadline");
    return;
  }
  Status st = mc.remove(a.id);
  if (st.ok()) {
    LOG_WARN("etcd", "removed learner " << a.id << " (" << who << "): it did not catch up within "
                                        << std::chrono::duration_cast<std::chrono::seconds>(a.seen_for).count()
                                        << " s (the manager that admitted it is gone)");
  } else {
    LOG_INFO("etcd", "removing learner " << a.id << " (" << who << "): " << st.message());
  }
}

void ManagerRole::janitor_stale_voters(etcd::MembershipClient& mc, const std::vector<etcd::Member>& members,
                                       std::map<uint64_t, SysTime>& stale_since, SysTime now) {
  auto view = options_.voter_view ? options_.voter_view() : std::nullopt;
  if (!view) return stale_since.clear();
  auto stale = etcd::plan_stale_voter_removal(members, view->wants_manager, view->answering, view->down);
  for (auto it = stale_since.begin(); it != stale_since.end();)  // only what is still stale counts on
    it = !stale.empty() && stale[0].id == it->first ? std::next(it) : stale_since.erase(it);
  if (stale.empty()) return;
  // Stale for a while, not one look: a demoting manager clears its status
  // just before it removes its own member.
  // An up one (its Node not Down) may still be removing its own member: it
  // gets much longer, and goes only if it never finishes (a stuck or
  // hostile node must not keep a voting seat by staying connected).
  const auto margin = stale[0].up ? std::max<std::chrono::seconds>(options_.stale_up_voter_margin,
                                                                   options_.learner_janitor_margin)
                                  : options_.learner_janitor_margin;
  if (now - stale_since.try_emplace(stale[0].id, now).first->second < margin) return;
  Status st = mc.remove(stale[0].id);
  if (!st.ok()) {
    LOG_INFO("etcd", "removing stale voter " << stale[0].name << ": " << st.message());
    return;
  }
  LOG_WARN("etcd", "removed etcd member " << stale[0].id << " (" << stale[0].name << "): its node is a worker (or "
                                          << "gone) and it has not answered for " << margin.count()
                                          << " s (a demote cut short)");
  stale_since.erase(stale[0].id);
  if (options_.voter_removed) options_.voter_removed(stale[0].name);
}

void ManagerRole::stop_promoter() {
  std::shared_ptr<etcd::MembershipClient> client;
  {
    std::lock_guard lk(admit_mu_);
    stopping_ = true;
    client = promoter_client_;
  }
  promoter_cv_.notify_all();
  // A promote or remove call in flight returns at once: the join is bounded.
  if (client) client->cancel();
  if (promoter_.joinable()) promoter_.join();
}

void ManagerRole::stop() {
  stop_janitor();
  stop_promoter();
  if (etcd_) etcd_->stop();
  etcd_.reset();
}

void ManagerRole::destroy() {
  // Its data is erased next: no graceful etcd stop (it waited ~1 s for the
  // store's gRPC channel, making every swarm leave take over 1 s).
  stop_janitor();
  stop_promoter();
  if (etcd_) etcd_->stop(/*graceful=*/false);
  etcd_.reset();
  std::error_code ec;
  std::filesystem::remove_all(options_.data_root + "/etcd", ec);
  std::filesystem::remove(options_.data_root + "/etcd.log", ec);
  std::filesystem::remove_all(certs_dir(options_), ec);
  std::filesystem::remove_all(options_.data_root + "/manager", ec);
}

}  // namespace shoal::daemon
