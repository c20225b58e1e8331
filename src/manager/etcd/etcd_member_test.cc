#include "manager/etcd/etcd_member.h"

#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <filesystem>
#include <fstream>
#include <thread>

#include "manager/ca/etcd_certs.h"
#include "store/etcd_grpc_backend.h"
#include "store/store.h"

namespace shoal::etcd {
namespace {

// Below the kernel's ephemeral range (32768-60999 by default): a port there
// can be taken at any moment as the local port of some outgoing connection
// (CI saw etcd's bind fail so). Each process takes its own block of 8.
int free_port() {
  static int next = 20000 + (getpid() % 1500) * 8;
  return next++;
}

class EtcdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("shoal-etcd-test-" + std::to_string(getpid()));
    opts_.data_dir = dir_ + "/etcd";
    opts_.log_file = dir_ + "/etcd.log";
    opts_.client_port = free_port();
    opts_.peer_port = free_port();
    root_ = *ca::create_root_ca();  // the swarm's CA, which also signs node certificates
    ASSERT_TRUE(ca::write_etcd_certs(dir_ + "/certs", "test-cluster", {}).ok());
    ca::EtcdCertFiles f = ca::etcd_cert_files(dir_ + "/certs");
    opts_.tls = {f.ca_cert, f.member_cert, f.member_key, f.client_cert, f.client_key};
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
  EtcdMemberOptions opts_;
  ca::RootCA root_;
};

// The store's etcd backend (EtcdGrpcBackend) against a real member.
class EtcdBackendTest : public EtcdTest {
 protected:
  // deadline: the call deadline (calls wait for a connection until then, so
  // a refused one fails only at the deadline).
  std::unique_ptr<Backend> backend(const std::string& url, size_t max_txn_ops, http::TlsOptions tls = {},
                                   std::chrono::milliseconds deadline = std::chrono::seconds(15)) {
    EtcdGrpcTimeouts t;
    t.read = t.write = t.lease = deadline;
    return std::make_unique<EtcdGrpcBackend>(url, max_txn_ops, std::move(tls), t);
  }
};

TEST_F(EtcdBackendTest, BackendOperationsAgainstRealEtcd) {
  EtcdMember m(opts_);
  { Status s = m.start(); ASSERT_TRUE(s.ok()) << s.message(); }
  auto bp = backend(m.client_url(), 1024, m.client_tls());
  Backend& b = *bp;
  auto put = b.txn({{"/t/a", Compare::Target::kCreateRevision, 0}}, {{TxnOp::Type::kPut, "/t/a", "1", 0}}, {});
  ASSERT_TRUE(put.ok()) << put.status().message();
  EXPECT_TRUE(put->succeeded);
  auto again = b.txn({{"/t/a", Compare::Target::kCreateRevision, 0}}, {{TxnOp::Type::kPut, "/t/a", "2", 0}},
                     {{TxnOp::Type::kGet, "/t/a", "", 0}});
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->succeeded);
  ASSERT_EQ(again->get_results.size(), 1u);
  EXPECT_EQ(again->get_results[0].value, "1");
  auto r = b.range("/t/", true);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->kvs.size(), 1u);
  // Leases: a key bound to a revoked lease disappears.
  auto lease = b.lease_grant(10);
  ASSERT_TRUE(lease.ok());
  EXPECT_TRUE(b.lease_keepalive(*lease).ok());
  ASSERT_TRUE(b.txn({}, {{TxnOp::Type::kPut, "/t/l", "x", *lease}}, {}).ok());
  ASSERT_TRUE(b.lease_revoke(*lease).ok());
  EXPECT_TRUE(b.range("/t/l", false)->kvs.empty());
  // The typed store over real etcd: watch-fed cache, read-your-writes.
  Store store(b);
  ASSERT_TRUE(store.start().ok());
  Batch batch;
  for (int i = 0; i < 1000; ++i) {
    Task t;
    t.id = "task" + std::to_string(i);
    t.service_id = "svc";
    batch.create(t);
  }
  ASSERT_TRUE(store.commit(batch).ok());
  EXPECT_EQ(store.tasks_of_service("svc").size(), 1000u);
  m.stop();
  // Restart keeps the data.
  EtcdMember again_member(opts_);
  { Status s = again_member.start(); ASSERT_TRUE(s.ok()) << s.message(); }
  auto b2 = backend(again_member.client_url(), 1024, again_member.client_tls());
  EXPECT_EQ(b2->range("/shoal/tasks/", true)->kvs.size(), 1000u);
  auto old = b.range("/shoal/tasks/", true);  // the first backend reconnects to the restarted member
  ASSERT_TRUE(old.ok()) << old.status().message();
  EXPECT_EQ(old->kvs.size(), 1000u);
}

// Backend::cancel is scoped (StopBound): calls fail unsent until resume(),
// then go to etcd again, so a later stop's lease revoke is not lost.
TEST_F(EtcdBackendTest, ACancelledBackendSendsAgainAfterResume) {
  EtcdMember m(opts_);
  { Status s = m.start(); ASSERT_TRUE(s.ok()) << s.message(); }
  auto bp = backend(m.client_url(), 1024, m.client_tls());
  Backend& b = *bp;
  auto lease = b.lease_grant(10);
  ASSERT_TRUE(lease.ok()) << lease.status().message();
  b.cancel();
  EXPECT_FALSE(b.range("/x", false).ok());
  EXPECT_FALSE(b.lease_revoke(*lease).ok());
  b.resume();
  EXPECT_TRUE(b.range("/x", false).ok());
  Status revoked = b.lease_revoke(*lease);
  EXPECT_TRUE(revoked.ok()) << revoked.message();
  b.resume();  // none in effect: a no-op
  EXPECT_TRUE(b.range("/x", false).ok());
}

// Runs etcdctl against the member with shoald's client certificate; true if it succeeded.
bool etcdctl(const EtcdMember& m, const EtcdTlsFiles& t, const std::string& args) {
  std::string cmd = "ETCDCTL_API=3 etcdctl --endpoints=" + m.client_url() + " --cacert=" + t.ca_file +
                    " --cert=" + t.client_cert_file + " --key=" + t.client_key_file + " " + args + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// Collects a watch's callbacks for a test's thread to wait on.
struct WatchLog {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<WatchEvent> events;
  std::vector<Status> errors;
  bool wait(const std::function<bool()>& done) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, std::chrono::seconds(10), done);
  }
  std::function<void(const std::vector<WatchEvent>&)> on_events() {
    return [this](const std::vector<WatchEvent>& evs) {
      std::lock_guard lk(mu);
      events.insert(events.end(), evs.begin(), evs.end());
      cv.notify_all();
    };
  }
  std::function<void(const Status&)> on_error() {
    return [this](const Status& st) {
      std::lock_guard lk(mu);
      errors.push_back(st);
      cv.notify_all();
    };
  }
};

// A watch delivers puts and deletes under its prefix in revision order from
// its start revision; one from a compacted revision fails once, with no events.
TEST_F(EtcdBackendTest, WatchDeliversChangesInOrderAndACompactionOnce) {
  EtcdMember m(opts_);
  { Status s = m.start(); ASSERT_TRUE(s.ok()) << s.message(); }
  auto b = backend(m.client_url(), 128, m.client_tls());
  auto first = b->txn({}, {{TxnOp::Type::kPut, "/w/a", "1", 0}}, {});
  ASSERT_TRUE(first.ok()) << first.status().message();
  ASSERT_TRUE(b->txn({}, {{TxnOp::Type::kPut, "/other", "x", 0}, {TxnOp::Type::kPut, "/w/b", "2", 0}}, {}).ok());
  auto del = b->txn({}, {{TxnOp::Type::kDelete, "/w/a", "", 0}}, {});
  ASSERT_TRUE(del.ok());
  {
    WatchLog log;
    auto w = b->watch("/w/", first->revision, log.on_events(), log.on_error());
    ASSERT_TRUE(log.wait([&] { return log.events.size() >= 3 || !log.errors.empty(); }));
    std::lock_guard lk(log.mu);
    ASSERT_TRUE(log.errors.empty()) << log.errors[0].message();
    ASSERT_EQ(log.events.size(), 3u);
    EXPECT_EQ(log.events[0].kv.key, "/w/a");
    EXPECT_EQ(log.events[0].kv.value, "1");
    EXPECT_EQ(log.events[0].kv.mod_revision, first->revision);
    EXPECT_EQ(log.events[1].kv.key, "/w/b");
    EXPECT_EQ(log.events[2].type, WatchEvent::Type::kDelete);
    EXPECT_EQ(log.events[2].kv.key, "/w/a");
    EXPECT_EQ(log.events[2].kv.mod_revision, del->revision);
  }
  ASSERT_TRUE(etcdctl(m, opts_.tls, "compact " + std::to_string(del->revision)));
  WatchLog log;
  {
    auto w = b->watch("/w/", first->revision, log.on_events(), log.on_error());
    ASSERT_TRUE(log.wait([&] { return !log.errors.empty(); })) << "no error for a compacted start revision";
  }
  std::lock_guard lk(log.mu);  // the handle is gone: nothing more comes
  EXPECT_EQ(log.errors.size(), 1u);
  EXPECT_EQ(log.errors[0].code(), Code::kUnavailable);
  EXPECT_NE(log.errors[0].message().find("compacted"), std::string::npos) << log.errors[0].message();
  EXPECT_TRUE(log.events.empty());
}

// A range bigger than gRPC's default 4 MiB receive limit is read whole.
TEST_F(EtcdBackendTest, ARangeOfMoreThanFourMegabytesIsRead) {
  EtcdMember m(opts_);
  { Status s = m.start(); ASSERT_TRUE(s.ok()) << s.message(); }
  auto b = backend(m.client_url(), 128, m.client_tls());
  std::string value(512 * 1024, 'v');
  for (int i = 0; i < 12; ++i) {
    auto put = b->txn({}, {{TxnOp::Type::kPut, "/big/" + std::to_string(i), value, 0}}, {});
    ASSERT_TRUE(put.ok()) << put.status().message();
  }
  auto r = b->range("/big/", true);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->kvs.size(), 12u);
  EXPECT_EQ(r->kvs[11].value, value);
}

// A member that lost its raft leader fails gRPC calls at once ("etcdserver:
// no leader", from the require-leader metadata) instead of after etcd's
// request timeout (~7 s). The leader is lost by adding a second voting
// member that never starts: quorum is then 2 of 2.
TEST_F(EtcdTest, GrpcCallsWithoutARaftLeaderFailAtOnce) {
  EtcdMember m(opts_);
  { Status s = m.start(); ASSERT_TRUE(s.ok()) << s.message(); }
  EtcdGrpcBackend b(m.client_url(), 128, m.client_tls());
  ASSERT_TRUE(etcdctl(m, opts_.tls, "member add phantom --peer-urls=https://127.0.0.1:1"));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  Status last;
  while (std::chrono::steady_clock::now() < deadline) {  // the leader steps down after an election timeout
    last = b.range("/x", false).status();
    if (last.message().find("no leader") != std::string::npos) break;
  }
  ASSERT_NE(last.message().find("no leader"), std::string::npos) << last.message();
  auto start = std::chrono::steady_clock::now();
  auto put = b.txn({}, {{TxnOp::Type::kPut, "/x", "1", 0}}, {});
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.status().code(), Code::kUnavailable);
  EXPECT_NE(put.status().message().find("no leader"), std::string::npos) << put.status().message();
  EXPECT_LT(took, std::chrono::seconds(1));
  EXPECT_EQ(b.lease_grant(5).status().code(), Code::kUnavailable);
}

TEST_F(EtcdTest, CommandLineRequiresClientAndPeerCertificates) {
  EtcdMember m(opts_);
  std::vector<std::string> argv = m.command_line();
  auto value = [&](const std::string& flag) -> std::string {
    for (size_t i = 0; i + 1 < argv.size(); ++i) {
      if (argv[i] == flag) return argv[i + 1];
    }
    return "<absent>";
  };
  auto has = [&](const std::string& flag) { return std::find(argv.begin(), argv.end(), flag) != argv.end(); };
  std::string port = std::to_string(opts_.client_port), peer = std::to_string(opts_.peer_port);
  EXPECT_EQ(value("--listen-client-urls"), "https://127.0.0.1:" + port);
  EXPECT_EQ(value("--advertise-client-urls"), "https://127.0.0.1:" + port);
  EXPECT_EQ(value("--listen-peer-urls"), "https://127.0.0.1:" + peer);
  EXPECT_EQ(value("--initial-advertise-peer-urls"), "https://127.0.0.1:" + peer);
  EXPECT_EQ(value("--cert-file"), opts_.tls.member_cert_file);
  EXPECT_EQ(value("--key-file"), opts_.tls.member_key_file);
  EXPECT_EQ(value("--trusted-ca-file"), opts_.tls.ca_file);
  EXPECT_TRUE(has("--client-cert-auth"));
  EXPECT_EQ(value("--peer-cert-file"), opts_.tls.member_cert_file);
  EXPECT_EQ(value("--peer-key-file"), opts_.tls.member_key_file);
  EXPECT_EQ(value("--peer-trusted-ca-file"), opts_.tls.ca_file);
  EXPECT_TRUE(has("--peer-client-cert-auth"));
  EXPECT_EQ(value("--peer-cert-allowed-hostname"), ca::kEtcdMemberName);
  for (const auto& a : argv) EXPECT_EQ(a.find("http://"), std::string::npos) << a;
  EXPECT_FALSE(has("--auto-tls"));
  // Raft timing: a dead raft leader replaced within 0.5-1 s (etcd's default: 1-2 s).
  EXPECT_EQ(value("--heartbeat-interval"), "100");
  EXPECT_EQ(value("--election-timeout"), "500");
  // Pre-vote: a follower that missed heartbeats cannot depose a healthy leader.
  EXPECT_TRUE(has("--pre-vote=true"));
  // No TLS files, no member.
  EtcdMemberOptions bare = opts_;
  bare.tls = {};
  Status st = EtcdMember(bare).start();
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("TLS files"), std::string::npos);
}

TEST_F(EtcdBackendTest, OnlyShoaldsClientCertificateGetsIn) {
  EtcdMember m(opts_);
  { Status s = m.start(); ASSERT_TRUE(s.ok()) << s.message(); }
  ASSERT_TRUE(backend(m.client_url(), 128, m.client_tls())->range("/x", false).ok());
  std::string port = std::to_string(opts_.client_port);
  const std::chrono::milliseconds kRefused{2000};  // a refused connection fails at the deadline over gRPC
  // Plain http, TLS without a client certificate, a certificate of another
  // CA: all refused.
  EXPECT_FALSE(backend("http://127.0.0.1:" + port, 128, {}, kRefused)->range("/x", false).ok());
  EXPECT_FALSE(backend(m.client_url(), 128, {opts_.tls.ca_file, "", ""}, kRefused)->range("/x", false).ok());
  auto write_pair = [&](const ca::IssuedCert& c, const std::string& name) {
    std::ofstream(dir_ + "/" + name + ".crt") << c.cert_pem;
    std::ofstream(dir_ + "/" + name + ".key") << c.key_pem;
    return http::TlsOptions{opts_.tls.ca_file, dir_ + "/" + name + ".crt", dir_ + "/" + name + ".key"};
  };
  ca::CertRequest worker;
  worker.common_name = "some-worker-node";
  worker.client_auth = true;
  auto other_root = *ca::create_root_ca();
  auto foreign = write_pair(*ca::issue_certificate(other_root, worker), "foreign");
  EXPECT_FALSE(backend(m.client_url(), 128, foreign, kRefused)->range("/x", false).ok());
  // A node certificate of the swarm's own CA (every worker holds one): refused
  // too, etcd trusts only the etcd CA.
  auto node = write_pair(*ca::issue_certificate(root_, worker), "node");
  EXPECT_FALSE(backend(m.client_url(), 128, node, kRefused)->range("/x", false).ok());
}

TEST_F(EtcdTest, PortInUseIsAClearError) {
  EtcdMember m(opts_);
  { Status s = m.start(); ASSERT_TRUE(s.ok()) << s.message(); }
  EtcdMemberOptions o2 = opts_;
  o2.data_dir = dir_ + "/other";
  o2.port_wait = std::chrono::milliseconds(300);  // a port held for good: waited for, then refused
  EtcdMember m2(o2);
  Status st = m2.start();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("--etcd-client-port"), std::string::npos);
}

// shoald restarted right after a kill -9: its old member (SIGTERM from
// PR_SET_PDEATHSIG) still holds the client port for a moment.
TEST_F(EtcdTest, APortFreedSoonIsWaitedFor) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(opts_.client_port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  std::thread release([fd] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    close(fd);
  });
  EtcdMember m(opts_);
  Status st = m.start();
  release.join();
  EXPECT_TRUE(st.ok()) << st.message();
}

}  // namespace
}  // namespace shoal::etcd
