#include "manager/etcd/etcd_member.h"

#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "manager/ca/etcd_certs.h"
#include "store/etcd_backend.h"
#include "store/store.h"

namespace shoal::etcd {
namespace {

int free_port() {
  static int next = 30000 + (getpid() % 5000) * 4;
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

TEST_F(EtcdTest, BackendOperationsAgainstRealEtcd) {
  EtcdMember m(opts_);
  { Status s = m.start(); ASSERT_TRUE(s.ok()) << s.message(); }
  EtcdBackend b(m.client_url(), 1024, m.client_tls());
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
  ASSERT_TRUE(again_member.start().ok());
  EtcdBackend b2(again_member.client_url(), 1024, again_member.client_tls());
  EXPECT_EQ(b2.range("/shoal/tasks/", true)->kvs.size(), 1000u);
}

// Backend::cancel is scoped (StopBound): calls fail unsent until resume(),
// then go to etcd again, so a later stop's lease revoke is not lost.
TEST_F(EtcdTest, ACancelledBackendSendsAgainAfterResume) {
  EtcdMember m(opts_);
  { Status s = m.start(); ASSERT_TRUE(s.ok()) << s.message(); }
  EtcdBackend b(m.client_url(), 1024, m.client_tls());
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
  // No TLS files, no member.
  EtcdMemberOptions bare = opts_;
  bare.tls = {};
  Status st = EtcdMember(bare).start();
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("TLS files"), std::string::npos);
}

TEST_F(EtcdTest, OnlyShoaldsClientCertificateGetsIn) {
  EtcdMember m(opts_);
  { Status s = m.start(); ASSERT_TRUE(s.ok()) << s.message(); }
  ASSERT_TRUE(EtcdBackend(m.client_url(), 128, m.client_tls()).range("/x", false).ok());
  std::string port = std::to_string(opts_.client_port);
  // Plain http, TLS without a client certificate, a certificate of another
  // CA: all refused.
  EXPECT_FALSE(EtcdBackend("http://127.0.0.1:" + port, 128).range("/x", false).ok());
  EXPECT_FALSE(EtcdBackend(m.client_url(), 128, {opts_.tls.ca_file, "", ""}).range("/x", false).ok());
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
  EXPECT_FALSE(EtcdBackend(m.client_url(), 128, foreign).range("/x", false).ok());
  // A node certificate of the swarm's own CA (every worker holds one): refused
  // too, etcd trusts only the etcd CA.
  auto node = write_pair(*ca::issue_certificate(root_, worker), "node");
  EXPECT_FALSE(EtcdBackend(m.client_url(), 128, node).range("/x", false).ok());
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
