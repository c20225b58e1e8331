// EtcdMember: supervises this manager's etcd member as a child process. The
// child gets PR_SET_PDEATHSIG, so it never outlives shoald; its data dir
// persists, so a restarted shoald restarts it with the same state. If it exits
// unexpectedly it is restarted with backoff.
//
// Only shoald may talk to it: client and peer URLs are https, and etcd
// requires a client certificate issued by the etcd-only CA on both ports
// (--client-cert-auth, --peer-client-cert-auth, --trusted-ca-file and
// --peer-trusted-ca-file are that CA); a peer's certificate must also carry
// the members' DNS name (--peer-cert-allowed-hostname).
// etcd 3.4 cannot require a name of clients while its JSON gateway is used
// (the store speaks gRPC, but membership changes, etcd_membership.h, still
// go through the gateway; --client-cert-allowed-hostname also rejects the
// gateway's own connection, which skips server verification and so has no
// verified chain to check), so
// the trust anchor does the restricting: the etcd CA signs only etcd's and
// shoald's certificates, never a node's (src/manager/ca/etcd_certs.h).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "http/client.h"

namespace shoal::etcd {

// etcd's raft timing for every member shoal starts (--heartbeat-interval,
// --election-timeout; etcd's defaults are 100 / 1000 ms). A shorter election
// timeout replaces a dead raft leader sooner; too short, and a leader whose
// heartbeats are late (a stalled fsync, a starved CPU) is deposed for
// nothing. Why 500 ms: docs/architecture.md "Leader failover".
inline constexpr int kHeartbeatMs = 100;
inline constexpr int kElectionTimeoutMs = 500;

// PEM files (see src/manager/ca/etcd_certs.h). All are required.
struct EtcdTlsFiles {
  std::string ca_file;           // the etcd CA's certificate (not the swarm's root CA)
  std::string member_cert_file;  // serving and peer certificate
  std::string member_key_file;
  std::string client_cert_file;  // shoald's client certificate (for client_tls())
  std::string client_key_file;
  std::string member_hostname = "shoal-etcd-member";  // required in peer certificates
};

struct EtcdMemberOptions {
  EtcdTlsFiles tls;
  std::string data_dir;
  std::string name = "default";
  std::string host = "127.0.0.1";  // client URL (local: only this shoald talks to it)
  // Peer URL host: the manager's advertise address, so other managers'
  // members reach it (mutual TLS, etcd CA). Empty: `host`.
  std::string peer_host;
  // Joining an existing cluster (a manager admitted by another): etcd's
  // --initial-cluster as the admitting manager answered, started with
  // --initial-cluster-state existing. Empty: a new one-member cluster (or a
  // restart, where etcd ignores both and uses its data dir).
  std::string initial_cluster;
  // Quorum-loss recovery (`swarm init --force-new-cluster`): the first
  // launch passes etcd's --force-new-cluster, which makes the data dir's
  // member the only one of its cluster (every other member removed, data
  // kept). Later launches (the supervisor's restarts) do not.
  bool force_new_cluster = false;
  int client_port = 2379;
  int peer_port = 2380;
  int max_txn_ops = 1024;
  int64_t max_request_bytes = 16 * 1024 * 1024;
  std::string log_file;
  std::string binary = "etcd";
  // How long start() waits for a taken port to come free: the member of a
  // shoald killed with -9 got SIGTERM (PR_SET_PDEATHSIG) and is still closing.
  std::chrono::milliseconds port_wait{10000};
};

class EtcdMember {
 public:
  explicit EtcdMember(EtcdMemberOptions options);
  ~EtcdMember();
  // Starts etcd and waits (up to 20 s) until it answers.
  Status start();
  // SIGTERM, then SIGKILL after 10 s. etcd's graceful stop waits (~1 s)
  // for its gRPC clients to go; `graceful` false skips it (SIGKILL at once:
  // for a member whose data is erased next, as on swarm leave and demote;
  // etcd's WAL is crash-safe either way).
  void stop(bool graceful = true);
  std::string client_url() const;  // https://host:client_port
  std::string peer_url() const;    // https://peer_host:peer_port
  // What a client of this member passes to EtcdGrpcBackend (and MembershipClient).
  http::TlsOptions client_tls() const;
  // etcd's argv (flags included), for inspection.
  std::vector<std::string> command_line() const;
  // Times etcd exited with status 0 on its own (not from stop()): what etcd
  // does when its member is removed from the cluster. Thread-safe.
  int clean_exits() const { return clean_exits_.load(); }

 private:
  Status launch();
  void supervise();
  std::string log_tail() const;

  EtcdMemberOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  int pid_ = -1;
  bool stopping_ = false;
  std::atomic<int> clean_exits_{0};
  std::thread supervisor_;
};

}  // namespace shoal::etcd
