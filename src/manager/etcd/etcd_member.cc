#include "manager/etcd/etcd_member.h"

#include <signal.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "common/log.h"
#include "os/process.h"
#include "store/etcd_grpc_backend.h"

namespace shoal::etcd {

namespace {
bool port_in_use(const std::string& host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  bool used = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return used;
}
}  // namespace

EtcdMember::EtcdMember(EtcdMemberOptions options) : options_(std::move(options)) {
  if (options_.log_file.empty()) options_.log_file = options_.data_dir + ".log";
}

EtcdMember::~EtcdMember() { stop(); }

std::string EtcdMember::client_url() const {
  return "https://" + options_.host + ":" + std::to_string(options_.client_port);
}

std::string EtcdMember::peer_url() const {
  const std::string& h = options_.peer_host.empty() ? options_.host : options_.peer_host;
  return "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + std::to_string(options_.peer_port);
}

http::TlsOptions EtcdMember::client_tls() const {
  return {options_.tls.ca_file, options_.tls.client_cert_file, options_.tls.client_key_file};
}

std::vector<std::string> EtcdMember::command_line() const {
  const EtcdTlsFiles& t = options_.tls;
  std::string peer = peer_url();
  const bool joining = !options_.initial_cluster.empty();
  std::vector<std::string> argv = {options_.binary,
          "--name", options_.name,
          "--data-dir", options_.data_dir,
          "--listen-client-urls", client_url(),
          "--advertise-client-urls", client_url(),
          "--listen-peer-urls", peer,
          "--initial-advertise-peer-urls", peer,
          "--initial-cluster", joining ? options_.initial_cluster : options_.name + "=" + peer,
          "--initial-cluster-state", joining ? "existing" : "new",
          "--cert-file", t.member_cert_file,
          "--key-file", t.member_key_file,
          "--trusted-ca-file", t.ca_file,
          "--client-cert-auth",
          "--peer-cert-file", t.member_cert_file,
          "--peer-key-file", t.member_key_file,
          "--peer-trusted-ca-file", t.ca_file,
          "--peer-client-cert-auth",
          "--peer-cert-allowed-hostname", t.member_hostname,
          // shoal adds members only as learners and promotes them only when
          // etcd finds them in sync (checked whatever this flag says); the
          // strict check's 5 s of full connectivity after each change would
          // hold every further manager join 5 s (docs/architecture.md).
          "--strict-reconfig-check=false",
          // Raft timing (docs/architecture.md "Leader failover"): a follower
          // calls an election after 500-1000 ms without a heartbeat (etcd's
          // default 1000-2000 ms), so a dead raft leader is replaced about
          // 0.5 s sooner; heartbeats stay at etcd's 100 ms (5 per timeout).
          "--heartbeat-interval", std::to_string(kHeartbeatMs),
          "--election-timeout", std::to_string(kElectionTimeoutMs),
          // Pre-vote (etcd 3.4 defaults it off): a follower that missed
          // heartbeats (CPU-starved, a short partition) first asks whether a
          // majority would elect it and bumps its term only then, so with the
          // short election timeout above it cannot depose a healthy leader.
          "--pre-vote=true",
          "--max-txn-ops", std::to_string(options_.max_txn_ops),
          "--max-request-bytes", std::to_string(options_.max_request_bytes),
          "--auto-compaction-mode", "revision",
          "--auto-compaction-retention", "10000",
          "--quota-backend-bytes", "4294967296",
          "--snapshot-count", "10000"};
  if (options_.force_new_cluster) argv.push_back("--force-new-cluster");
  return argv;
}

std::string EtcdMember::log_tail() const {
  std::ifstream in(options_.log_file);
  std::deque<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
    if (lines.size() > 8) lines.pop_front();
  }
  std::string out;
  for (const auto& l : lines) out += "\n  " + l;
  return out;
}

Status EtcdMember::launch() {
  os::SpawnOptions so;
  so.argv = command_line();
  so.stdout_path = options_.log_file;
  so.pdeathsig = SIGTERM;
  auto pid = os::spawn(so);
  if (!pid.ok()) return pid.status().with_context("starting etcd (is Debian's etcd-server installed?)");
  pid_ = *pid;
  options_.force_new_cluster = false;  // once: a restart keeps the recovered one-member cluster
  return ok_status();
}

Status EtcdMember::start() {
  const EtcdTlsFiles& t = options_.tls;
  for (const std::string* f : {&t.ca_file, &t.member_cert_file, &t.member_key_file, &t.client_cert_file,
                               &t.client_key_file}) {
    if (f->empty() || !std::filesystem::exists(*f)) {
      return failed_precondition("etcd member " + options_.name + " needs its TLS files (CA, member and client "
                                 "certificates and keys); missing: " + (f->empty() ? std::string("(not given)") : *f));
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(options_.data_dir).parent_path(), ec);
  // A restart right after shoald was killed: its old member may still hold
  // the ports for a moment (it got SIGTERM when shoald died). Wait for them.
  auto deadline = std::chrono::steady_clock::now() + options_.port_wait;
  const std::string& peer_host = options_.peer_host.empty() ? options_.host : options_.peer_host;
  while ((port_in_use(options_.host, options_.client_port) || port_in_use(peer_host, options_.peer_port)) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (port_in_use(options_.host, options_.client_port)) {
    return unavailable("port " + std::to_string(options_.client_port) +
                       " is already in use, so this manager cannot start its etcd member there; stop whatever "
                       "listens on it or choose another port with --etcd-client-port");
  }
  if (port_in_use(peer_host, options_.peer_port)) {
    return unavailable("port " + std::to_string(options_.peer_port) +
                       " is already in use; choose another with --etcd-peer-port");
  }
  {
    std::lock_guard lk(mu_);
    stopping_ = false;
    SHOAL_RETURN_IF_ERROR(launch());
  }
  EtcdGrpcBackend probe(client_url(), 128, client_tls());
  // A joining member is a learner until the admitting manager promotes it;
  // etcd refuses a learner's reads, so this also waits for the promotion.
  Status st = probe.wait_healthy(std::chrono::seconds(20));
  if (!st.ok()) {
    stop();
    std::string tail = log_tail();
    std::ifstream in(options_.log_file);
    std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (log.find("permanently removed from the cluster") != std::string::npos) {
      return failed_precondition("this manager's etcd member was removed from the swarm's etcd cluster (the node "
                                 "was demoted, or the swarm was recovered with `swarm init --force-new-cluster` "
                                 "on another manager), so it may not come back: run `swarm leave --force` on this "
                                 "node and join the swarm again; etcd's log " + options_.log_file + " ends with:" + tail);
    }
    return unavailable("etcd did not become healthy within 20 s; its log " + options_.log_file + " ends with:" +
                       tail);
  }
  supervisor_ = std::thread([this] { supervise(); });
  LOG_INFO("etcd", "member " << options_.name << " serving " << client_url());
  return ok_status();
}

void EtcdMember::supervise() {
  std::unique_lock lk(mu_);
  auto backoff = std::chrono::milliseconds(500);
  while (!stopping_) {
    int pid = pid_;
    lk.unlock();
    auto r = os::wait_pid(pid, std::chrono::milliseconds(200));
    lk.lock();
    if (stopping_) break;
    if (r.status().code() == Code::kDeadlineExceeded) continue;
    if (r.ok() && *r == 0) ++clean_exits_;
    LOG_WARN("etcd", "member exited unexpectedly (" << (r.ok() ? std::to_string(*r) : r.status().message())
                                                     << "); restarting in " << backoff.count() << " ms");
    cv_.wait_for(lk, backoff, [&] { return stopping_; });
    if (stopping_) break;
    backoff = std::min(backoff * 2, std::chrono::milliseconds(10000));
    if (!launch().ok()) continue;
  }
}

void EtcdMember::stop(bool graceful) {
  int pid;
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    pid = pid_;
    pid_ = -1;
  }
  cv_.notify_all();
  if (supervisor_.joinable()) supervisor_.join();
  if (pid > 0) {
    kill(pid, graceful ? SIGTERM : SIGKILL);
    if (!os::wait_pid(pid, std::chrono::seconds(10)).ok()) {
      kill(pid, SIGKILL);
      (void)os::wait_pid(pid, std::chrono::seconds(5));
    }
  }
}

}  // namespace shoal::etcd
