// Joining a swarm over TLS (docs/cluster.md): both ends of it, and the
// node's TLS files.
//
// The protocol, on a manager's swarm listener (TLS, --listen-addr, 2377 by
// default), under kCaPrefix:
//   GET  root-ca  -> {"Certificate": PEM}              (no client certificate needed)
//   POST join     {"Token", "CSR", "AdvertiseAddr"}
//                 -> {"NodeID", "Role", "Certificate", "Managers": ["ip:port"...]}
// The joining node fetches the root CA without verifying the server (it has
// no trust anchor yet) and accepts it only if its digest is the one the
// token pins; every later connection verifies the manager against that CA
// and the name "swarm-manager". The manager checks the token in constant
// time against the current ones (a rotated-away token is refused), assigns a
// new node id (so a node that leaves and joins again is a new node) and
// signs the node's CSR with the root CA, whose key stays on the manager. The
// node's private key never leaves the node.
//
// A node joining with the manager token gets a swarm-manager certificate and
// then, over mutual TLS with that certificate (no other way in), makes
//   POST manager-join {"MemberCSR", "ClientCSR"}
//        -> {"EtcdCA", "MemberCertificate", "ClientCertificate",
//            "SealKey" (hex), "InitialCluster"}
// The serving manager signs both CSRs with the etcd CA (the joiner's etcd
// keys never leave it), adds the joiner's etcd member as a learner (peer URL
// on its advertise address), and promotes it once it has caught up; the
// joiner starts its etcd with --initial-cluster-state existing. The swarm's
// data key (SealKey) travels only in this mTLS answer.
//
// Files (certs dir, 0700, each file 0600, read without following symlinks):
// ca.crt, node.crt, node.key. Functions are thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "http/client.h"
#include "http/message.h"
#include "manager/ca/root_ca.h"
#include "model/objects.h"

namespace shoal::node {

constexpr char kCaPrefix[] = "/_shoal/ca/v1/";
constexpr int kDefaultSwarmPort = 2377;

struct NodeTls {
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
};

// Writes the three files into `dir` (created 0700, files 0600, atomically).
Status write_node_tls(const std::string& dir, const NodeTls& tls);
// Reads them back; errors name the file and the fix.
Result<NodeTls> read_node_tls(const std::string& dir);
// A new key and a certificate for this manager (role swarm-manager, CN
// node_id) signed by `ca` directly: swarm init, where the CA key is at hand.
Result<NodeTls> issue_manager_tls(const ca::RootCA& ca, const std::string& node_id, const std::string& cluster_id);
// Client options for talking to a manager with this node's certificate.
http::TlsOptions manager_client_tls(const NodeTls& tls);
// "ip" -> "ip:2377"; "ip:port" as it is.
std::string with_swarm_port(const std::string& addr);
// The swarm listener's connection cap (verified sessions and anonymous joins
// together) for a process whose open-file limit is `nofile`: what is left
// after a headroom of a quarter of the limit, and at least 1024 descriptors,
// for the API's clients, etcd, containers' pipes and image files; at least 16,
// at most http::kSessionMaxConnections. Pure; thread-safe.
size_t swarm_connection_cap(uint64_t nofile);

// What a manager serving a manager join is given (after the mTLS checks)...
struct ManagerAdmission {
  std::string node_id;  // the joiner's certificate CN
  std::string ip;       // its advertise IP: its etcd peer URL and member certificate SAN
  std::string member_csr;
  std::string client_csr;
};
// ...and what the joining manager ends up with (keys: its own).
struct ManagerGrant {
  std::string etcd_ca_pem;
  std::string member_cert_pem, member_key_pem;
  std::string client_cert_pem, client_key_pem;
  std::string seal_key;         // the swarm's data key (raw bytes)
  std::string initial_cluster;  // etcd's --initial-cluster
};

// A promoted worker's new identity: its swarm-manager certificate (same node
// id) and its etcd material.
struct Promotion {
  std::string certificate;  // PEM, signed by the root CA
  ManagerGrant grant;
};

// The manager side: what answering a join needs. Every function is called
// per request, from the listener's worker threads; all must be thread-safe.
struct CaServiceParts {
  std::function<Result<ca::RootCA>()> root_ca;  // certificate and private key
  std::function<std::string()> root_ca_cert;    // the certificate only
  std::function<Result<JoinTokens>()> join_tokens;
  std::function<std::string()> cluster_id;
  std::function<std::vector<std::string>()> managers;  // "ip:port" of every manager
  // Admits a manager (etcd certificates, learner member, data key) and
  // records its Node; the answer has no keys. Null: manager joins refused
  // (501).
  std::function<Result<ManagerGrant>(const ManagerAdmission&)> admit_manager;
  // Promotes a worker whose Node's role was set to manager (`node promote`):
  // signs its new node CSR as a swarm-manager certificate and admits it as
  // admit_manager does. Null: promotions refused (501).
  std::function<Result<Promotion>(const ManagerAdmission&, const std::string& node_csr)> promote_manager;
};
// The unsealed join tokens, kept in memory for the join path: without it
// every anonymous join request cost an etcd read and an AES-GCM open, which a
// flood of them could make the manager do at will. An entry is valid for one
// store revision: a rotation (on any manager) writes a marker under the
// store's watched prefix in the same txn as the sealed tokens, so the
// revision moves when this manager's store sees it; invalidate() drops the
// entry at once after a rotation through this manager. An entry is also
// bound to its swarm (`swarm`: the cluster id): after leave and a new init,
// the new store's revisions start again from 1, and the old swarm's tokens
// cached at a revision the new one reaches must not admit a join. A failed
// load is kept kFailureTtl (1 s) for its swarm and revision, so a slow or
// down etcd costs one load a second, not one per anonymous request.
// Thread-safe, single-flight: one load at a time, run without the lock held;
// callers that find a load running wait for its result (a burst after a
// change makes one load, not one per request, and a cached entry is served
// while nothing needs loading).
class JoinTokenCache {
 public:
  static constexpr std::chrono::seconds kFailureTtl{1};
  // `clock` (nullptr: a RealClock) times the failure entries; it must
  // outlive the cache.
  explicit JoinTokenCache(const Clock* clock = nullptr);
  Result<JoinTokens> get(const std::string& swarm, int64_t store_revision,
                         const std::function<Result<JoinTokens>()>& load);
  void invalidate();

 private:
  bool fresh(const std::string& swarm, int64_t revision) const;  // under mu_

  RealClock real_clock_;
  const Clock& clock_;
  std::mutex mu_;
  std::condition_variable loaded_cv_;  // a load ended
  bool loading_ = false;               // guarded by mu_
  uint64_t generation_ = 0;            // guarded by mu_: bumped by invalidate()
  std::optional<Result<JoinTokens>> entry_;  // guarded by mu_: tokens, or a failure until failed_until_
  SysTime failed_until_{};                   // guarded by mu_
  std::string swarm_;                  // guarded by mu_: the cluster id entry_ belongs to
  int64_t revision_ = 0;               // guarded by mu_: the revision entry_ was loaded at
};

// A promoted worker's side (`node promote`, docs/cluster.md "Managers"):
//   POST manager-promote {"CSR", "MemberCSR", "ClientCSR", "AdvertiseAddr"}
//        over mTLS with its worker certificate
//        -> {"Certificate"} plus manager-join's answer
// The manager checks that the certificate's node is one whose role was set
// to manager and is not one yet. Tries `managers` in order (an unreachable
// one: the next); the keys in the answer are this node's own (new ones).
// Errors as join_swarm's.
struct Promoted {
  NodeTls tls;  // the new certificate and key (the CA: the old tls's)
  ManagerGrant grant;
};
Result<Promoted> fetch_promotion(const std::vector<std::string>& managers, const NodeTls& worker_tls,
                                 const std::string& advertise_addr);

// Answers a request under kCaPrefix.
void serve_ca(const CaServiceParts& parts, http::Exchange ex);

// The joining side.
struct JoinParams {
  std::vector<std::string> remote_addrs;  // managers, "ip[:port]"
  std::string token;
  std::string advertise_addr;  // "ip:port" of this node
};
struct Joined {
  std::string node_id;
  std::string role;  // "worker" | "manager"
  std::vector<std::string> managers;
  NodeTls tls;
  std::optional<ManagerGrant> manager;  // role "manager": its etcd material
};
// Tries the remote addresses in order. Errors: a malformed token or a
// refused one (kInvalidArgument), a CA that is not the pinned one
// (kInvalidArgument), a manager that cannot admit managers
// (kUnimplemented), another manager change in progress (kUnavailable, retry),
// no manager reachable (kUnavailable).
Result<Joined> join_swarm(const JoinParams& params);

}  // namespace shoal::node
