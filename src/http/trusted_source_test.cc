// ServerOptions::trusted_source: strangers holding every unverified TLS slot
// of a listener (stalled handshakes from several addresses) cannot keep a
// trusted peer (a swarm manager: its leader probe) from connecting.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "http/client.h"
#include "http/server.h"
#include "manager/ca/node_certs.h"
#include "manager/ca/root_ca.h"

namespace shoal::http {
namespace {

using namespace std::chrono_literals;

// A TCP connection to 127.0.0.1:port from the address `from`, or -1.
int connect_from(int port, uint32_t from) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in src{};
  src.sin_family = AF_INET;
  src.sin_addr.s_addr = htonl(from);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) return ::close(fd), -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return ::close(fd), -1;
  return fd;
}

class TrustedSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = *ca::create_root_ca();
    ca::CertRequest sr;
    sr.common_name = "manager1";
    sr.dns_names = {"swarm-manager"};
    sr.ip_addresses = {"127.0.0.1"};
    sr.server_auth = sr.client_auth = true;
    server_cert_ = *ca::issue_certificate(ca_, sr);
    auto kc = *ca::new_node_key_and_csr();
    client_.ca_pem = ca_.cert_pem;
    client_.cert_pem = *ca::sign_node_csr(ca_, kc.csr_pem, "manager2", ca::kManagerRole, "cluster1");
    client_.key_pem = kc.key_pem;
  }
  // A listener of 16 (as a swarm listener at 1024 descriptors): 8
  // unverified slots in all, 4 per address, all held by two strangers.
  void start(std::function<bool(const std::string&)> trusted) {
    ServerOptions o;
    o.listen = {"tls://127.0.0.1:0"};
    o.io_threads = 1;
    o.worker_threads = 2;
    o.max_connections = 16;
    o.trusted_source = std::move(trusted);
    o.tls = {server_cert_.cert_pem, server_cert_.key_pem, ca_.cert_pem};
    server_ = std::make_unique<Server>(o, [](Exchange ex) { ex.respond({200, {}, ex.request.peer_cert.common_name}); });
    ASSERT_TRUE(server_->start().ok());
    port_ = server_->bound_ports().at(0);
    ASSERT_EQ(unverified_tls_caps(16).total, 8u);
    for (uint32_t stranger : {INADDR_LOOPBACK + 2, INADDR_LOOPBACK + 3}) {
      for (int i = 0; i < 4; ++i) {
        int fd = connect_from(port_, stranger);
        ASSERT_GE(fd, 0);
        fds_.push_back(fd);
      }
    }
    for (int i = 0; i < 500 && server_->connections() < 8; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(server_->connections(), 8u) << "the strangers' connections were not all accepted";
  }
  void TearDown() override {
    for (int fd : fds_) ::close(fd);
    if (server_) server_->stop();
  }
  Result<Response> probe() {
    return Client("https://127.0.0.1:" + std::to_string(port_), client_).request("GET", "/who", "", {}, 2s);
  }
  ca::RootCA ca_;
  ca::IssuedCert server_cert_;
  TlsOptions client_;
  std::unique_ptr<Server> server_;
  int port_ = 0;
  std::vector<int> fds_;
};

TEST_F(TrustedSourceTest, ATrustedPeerConnectsWhileStrangersHoldEveryUnverifiedSlot) {
  start([](const std::string& ip) { return ip == "127.0.0.1"; });
  auto r = probe();
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->body, "manager2");
  // Strangers still get no more than their caps.
  int fd = connect_from(port_, INADDR_LOOPBACK + 4);
  ASSERT_GE(fd, 0);
  fds_.push_back(fd);
  char b;
  EXPECT_EQ(::recv(fd, &b, 1, 0), 0) << "a ninth stranger's connection was kept";
}

// What the test above guards against: without trusted_source the same peer
// is refused before its handshake.
TEST_F(TrustedSourceTest, WithoutItTheSamePeerIsRefused) {
  start(nullptr);
  auto r = probe();
  EXPECT_FALSE(r.ok() && r->status == 200) << "served with every unverified slot held";
}

}  // namespace
}  // namespace shoal::http
