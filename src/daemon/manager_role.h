// ManagerRole: the backing store of this node's manager in shoald: its local
// etcd member and a client of it (node::ManagerStorage). The store, election,
// control loops and dispatcher over it are built by the composition root
// (src/node/manager.h).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "common/result.h"
#include "manager/ca/root_ca.h"
#include "node/swarm_node.h"

namespace shoal::ca {
struct EtcdCertFiles;
}
namespace shoal::etcd {
class EtcdMember;
class MembershipClient;
struct LearnerAction;
struct Member;
}
namespace shoal {
class EtcdGrpcBackend;
}

namespace shoal::daemon {

struct ManagerOptions {
  std::string data_root;
  std::string node_id;
  int etcd_client_port = 2379;
  int etcd_peer_port = 2380;
  // swarm init only: the new swarm's root CA. start() then issues the etcd
  // certificates (<data-root>/certs), creates the sealing key
  // (<data-root>/manager/seal.key, 0600) and stores the CA's private key
  // sealed under it at kSealedRootCAKey. Null on restart: the files are there.
  const ca::RootCA* new_swarm_ca = nullptr;
  // This manager's advertise IP: its etcd member's peer URL (other
  // managers' members reach it there) and, at init, a SAN of the member
  // certificate. Empty: 127.0.0.1 (a one-manager swarm only).
  std::string advertise_ip;
  // Quorum-loss recovery: start() runs etcd with --force-new-cluster on the
  // existing data (this member the only one, every object kept).
  bool force_new_cluster = false;
  // The learner janitor (manager/etcd/learner_janitor.h): how often it looks
  // at etcd's members, and how long past kPromoteDeadline it waits before it
  // removes a learner that this manager's promoter does not own.
  std::chrono::milliseconds learner_janitor_tick{2000};
  std::chrono::seconds learner_janitor_margin{10};
  // The stale-voter cleanup (learner_janitor.h plan_stale_voter_removal), at
  // each janitor tick: the Nodes' wanted roles, the managers that answer and
  // the Nodes that are Down, or nullopt to skip (this manager does not lead).
  // A voter found stale for learner_janitor_margin is removed and
  // voter_removed called with its name. Unset: no cleanup.
  std::function<std::optional<node::VoterView>()> voter_view;
  // How long a stale voter whose Node is up (a worker not Down) must stay
  // stale before it is removed: its own demote gets this long to finish.
  std::chrono::seconds stale_up_voter_margin{120};
  std::function<void(const std::string& node_id)> voter_removed;
};

// A joined manager's etcd start, written by install_joined_manager and read
// by the first start() (the etcd data dir does not exist yet): the
// --initial-cluster the admitting manager answered. Removed once etcd runs.
constexpr char kEtcdJoinFile[] = "/manager/etcd-join.json";

// Stores a joining manager's etcd material under `data_root` (etcd
// certificates and its own keys in certs/, the data key in
// manager/seal.key, kEtcdJoinFile), after erasing any etcd data, certs and
// key a failed earlier join left.
Status install_joined_manager(const std::string& data_root, const node::ManagerGrant& grant);

// Where the root CA's private key lives, sealed (AES-256-GCM): outside the
// /shoal/ prefix the store lists and watches, so it is never decoded, cached
// or served as an object. Replicated with the rest of etcd; a manager that
// joins later gets the sealing key over its join session.
constexpr char kSealedRootCAKey[] = "/shoal-sealed/root-ca-key";
// The swarm's join tokens ({"Worker": ..., "Manager": ...}), sealed the same
// way: `GET /swarm` shows them to the API's clients (root's, as in Docker),
// `swarm join-token` prints them again, and they are never in the clear at
// rest or in the store's cache.
constexpr char kSealedJoinTokens[] = "/shoal-sealed/join-tokens";
// The etcd CA's private key, sealed the same way at swarm init: any manager
// can then sign a joining manager's etcd certificates.
constexpr char kSealedEtcdCAKey[] = "/shoal-sealed/etcd-ca-key";

class ManagerRole : public node::ManagerStorage {
 public:
  explicit ManagerRole(ManagerOptions options);
  ~ManagerRole() override;
  // Starts etcd (creating its data dir on first start) and its client.
  Status start();
  // Stops etcd; the client stays valid (its requests then fail).
  void stop() override;
  // Stops, then deletes the etcd data (leaving the swarm).
  void destroy() override;
  Backend& backend() override;

  // The root CA's private key (PEM), read from etcd and unsealed with this
  // manager's key. kPermissionDenied if the blob does not verify.
  Result<std::string> root_ca_key();

  // node::ManagerStorage: the join tokens, sealed at kSealedJoinTokens.
  // kNotFound if none were stored, kPermissionDenied if the blob does not
  // verify under this manager's key.
  Result<JoinTokens> join_tokens() override;
  Status set_join_tokens(const JoinTokens& tokens) override;
  // The seal key in <data-root>/manager/seal.key, every manager's same one.
  Result<std::string> data_key() override;

  // node::ManagerStorage: admits a manager (see there). The learner is
  // promoted by a background thread that retries until etcd accepts (it
  // refuses while the learner lags), and removes the member again if it has
  // not caught up within kPromoteDeadline (its joiner never came). If this
  // manager dies first, the learner janitor of every other manager (and of
  // this one once restarted) promotes it when caught up or removes it after
  // kPromoteDeadline + learner_janitor_margin.
  Result<node::ManagerGrant> admit_manager(const node::ManagerAdmission& a) override;
  // node::ManagerStorage: the learner admit_manager added for `node_id` is
  // removed by the promoter thread at once (not promoted).
  void abandon_manager(const std::string& node_id) override;
  static constexpr std::chrono::seconds kPromoteDeadline{60};
  Result<std::set<std::string>> voting_members() override;
  Result<bool> has_learner() override;
  // Removes the member named `node_id` through this manager's etcd (its own
  // included: etcd then stops that member). Not a member: ok. Its own
  // member already removed by another manager (the local etcd exited as a
  // removed member does, so it cannot even list): ok.
  Status remove_member(const std::string& node_id) override;

 private:
  // `node_id` is this manager's and its local etcd exited cleanly (what a
  // removed member does), waiting up to 3 s for that. Logs when true.
  bool own_member_gone(const std::string& node_id);
  // The etcd CA, its key unsealed from kSealedEtcdCAKey (the clear file only
  // for a swarm whose etcd holds no sealed copy).
  Result<ca::RootCA> etcd_ca();
  // Removes <certs>/etcd-ca.key once etcd holds its sealed copy (at init, and
  // on the restart of a manager inited by a shoald that kept the file).
  void drop_clear_etcd_ca_key(const ca::EtcdCertFiles& files);
  void promote(uint64_t member_id, std::string name, std::shared_ptr<etcd::MembershipClient> mc);
  void stop_promoter();
  // The learner janitor thread: started by start(), stopped and joined by
  // stop()/destroy() (its etcd client cancelled first, as the promoter's).
  // It promotes or removes learners no promoter of this manager owns (their
  // admitting manager died), per etcd::plan_learner_cleanup.
  void start_janitor();
  void stop_janitor();
  void janitor_loop(std::shared_ptr<etcd::MembershipClient> mc);
  void janitor_act(etcd::MembershipClient& mc, const etcd::LearnerAction& a);
  // The stale-voter cleanup's tick; `stale_since`: member id -> first seen stale.
  void janitor_stale_voters(etcd::MembershipClient& mc, const std::vector<etcd::Member>& members,
                            std::map<uint64_t, SysTime>& stale_since, SysTime now);

  ManagerOptions options_;
  std::mutex admit_mu_;  // one admission at a time; guards the promoter fields
  std::condition_variable promoter_cv_;
  bool promoting_ = false;         // a learner added by this manager awaits promotion
  bool stopping_ = false;          // stop(): the promoter gives up at once
  std::string promoting_name_;     // the node id of that learner
  bool abandoned_ = false;         // abandon_manager: remove it instead of promoting
  std::thread promoter_;
  // The promoter's etcd client: stop_promoter cancels it, so a promote or
  // remove call in flight (10 s timeout) does not hold up stop().
  std::shared_ptr<etcd::MembershipClient> promoter_client_;
  // The etcd id of the learner the promoter owns (0: none); read by the
  // janitor without admit_mu_ (an admission holds it across etcd calls).
  std::atomic<uint64_t> promoting_id_{0};
  std::mutex janitor_mu_;  // guards janitor_stopping_ and janitor_client_
  std::condition_variable janitor_cv_;
  bool janitor_stopping_ = false;
  std::shared_ptr<etcd::MembershipClient> janitor_client_;
  std::thread janitor_;  // started and joined only by start() and stop()/destroy()
  // The etcd member's client URL and TLS, set by start() and kept (calls
  // after stop() fail instead of touching a freed member).
  std::string etcd_url_;
  http::TlsOptions etcd_tls_;
  std::unique_ptr<etcd::EtcdMember> etcd_;
  std::unique_ptr<EtcdGrpcBackend> backend_;
};

}  // namespace shoal::daemon
