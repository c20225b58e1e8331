// LeaderProbe against a real mutual-TLS listener on loopback that carries a
// node certificate of the probed node: 200 and (an older shoald without the
// route, mid rolling upgrade) 404 are alive; 503, a node without a manager
// address, and a listener that holds another manager's certificate are not.
#include "manager/leader/leader_probe.h"

#include <gtest/gtest.h>

#include <atomic>

#include "http/server.h"
#include "manager/ca/node_certs.h"
#include "manager/ca/root_ca.h"
#include "store/memory_backend.h"

namespace shoal::leader {
namespace {

class LeaderProbeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_.start().ok());
    ca_ = *ca::create_root_ca();
    auto server_kc = *ca::new_node_key_and_csr();
    server_cert_ = *ca::sign_node_csr(ca_, server_kc.csr_pem, "mgr2", ca::kManagerRole, "cluster1");
    server_key_ = server_kc.key_pem;
    auto client_kc = *ca::new_node_key_and_csr();
    client_.ca_pem = ca_.cert_pem;
    client_.cert_pem = *ca::sign_node_csr(ca_, client_kc.csr_pem, "mgr1", ca::kManagerRole, "cluster1");
    client_.key_pem = client_kc.key_pem;
  }
  void TearDown() override {
    if (server_) server_->stop();
    store_.stop();
  }
  // mgr2's swarm listener, answering the probe's route with `status`.
  void serve(int status) {
    serve_as(server_cert_, server_key_, status);
  }
  // A listener at mgr2's stored address that holds (cert, key), answering `status`.
  void serve_as(const std::string& cert, const std::string& key, int status) {
    http::ServerOptions o;
    o.listen = {"tls://127.0.0.1:0"};
    o.io_threads = 1;
    o.worker_threads = 1;
    o.tls = {cert, key, ca_.cert_pem};
    server_ = std::make_unique<http::Server>(o, [this](http::Exchange ex) { ex.respond({status_.load(), {}, ""}); });
    status_ = status;
    ASSERT_TRUE(server_->start().ok());
    add_manager("127.0.0.1:" + std::to_string(server_->bound_ports().at(0)));
  }
  void add_manager(const std::string& addr) {
    Node n;
    n.id = "mgr2";
    n.spec.role = NodeRole::kManager;
    n.manager_status = ManagerStatus{false, "reachable", addr};
    Batch b;
    b.create(n);
    ASSERT_TRUE(store_.commit(b).ok());
  }
  MemoryBackend backend_;
  Store store_{backend_};
  ca::RootCA ca_;
  std::string server_cert_, server_key_;
  http::TlsOptions client_;
  std::atomic<int> status_{200};
  std::unique_ptr<http::Server> server_;
};

TEST_F(LeaderProbeTest, AManagerThatAnswersIsAlive) {
  serve(200);
  LeaderProbe probe(store_, [this] { return std::optional(client_); }, std::chrono::seconds(5));
  EXPECT_TRUE(probe.alive("mgr2"));
  EXPECT_EQ(probe.managers(), 1u);
}

// Review (rolling upgrade): an old shoald answers the new route 404 and was
// counted dead, so upgrading the leader last could depose it needlessly.
TEST_F(LeaderProbeTest, AnOlderShoaldThatAnswers404IsAlive) {
  serve(404);
  LeaderProbe probe(store_, [this] { return std::optional(client_); }, std::chrono::seconds(5));
  EXPECT_TRUE(probe.alive("mgr2"));
}

TEST_F(LeaderProbeTest, AManagerRoleThatStoppedOrAnUnknownNodeIsNotAlive) {
  serve(503);
  LeaderProbe probe(store_, [this] { return std::optional(client_); }, std::chrono::seconds(5));
  EXPECT_FALSE(probe.alive("mgr2"));
  EXPECT_FALSE(probe.alive("nobody"));
}

// leader_probe.cc: the answer must come from that very node. Since 404 counts
// as alive, another manager (mgr3, a valid certificate of the same CA) that
// now listens at mgr2's stored address, say after an address was reused,
// must not keep a dead mgr2 alive, whether it answers 404 or 200.
TEST_F(LeaderProbeTest, AListenerWithAnotherManagersCertificateIsNotAlive) {
  auto kc = *ca::new_node_key_and_csr();
  std::string mgr3_cert = *ca::sign_node_csr(ca_, kc.csr_pem, "mgr3", ca::kManagerRole, "cluster1");
  serve_as(mgr3_cert, kc.key_pem, 404);
  for (int status : {404, 200}) {
    SCOPED_TRACE(status);
    status_ = status;
    LeaderProbe probe(store_, [this] { return std::optional(client_); }, std::chrono::seconds(5));
    EXPECT_FALSE(probe.alive("mgr2"));
  }
}

}  // namespace
}  // namespace shoal::leader
