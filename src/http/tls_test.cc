// TLS listeners (tls://) and the client's TLS options: mutual TLS with the
// swarm CA's certificates, the verified peer certificate handed to the
// handler, clients without a certificate, a client of another CA, the
// server name check, and the pinning fetch (insecure_skip_verify).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

#include "http/client.h"
#include "http/server.h"
#include "manager/ca/node_certs.h"
#include "manager/ca/root_ca.h"

namespace shoal::http {
namespace {

struct Pki {
  ca::RootCA ca;
  ca::IssuedCert server;
  std::string client_cert, client_key;
};

Pki make_pki() {
  Pki p;
  p.ca = *ca::create_root_ca();
  ca::CertRequest sr;
  sr.common_name = "manager1";
  sr.dns_names = {"swarm-manager"};
  sr.ip_addresses = {"127.0.0.1"};
  sr.server_auth = sr.client_auth = true;
  p.server = *ca::issue_certificate(p.ca, sr);
  auto kc = *ca::new_node_key_and_csr();
  p.client_cert = *ca::sign_node_csr(p.ca, kc.csr_pem, "worker7", ca::kWorkerRole, "cluster1");
  p.client_key = kc.key_pem;
  return p;
}

// A TCP connection to 127.0.0.1:port (from the address `from` when it is
// not 0, e.g. INADDR_LOOPBACK + 1), or -1.
int connect_loopback(int port, uint32_t from = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  if (from != 0) {
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(from);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) return ::close(fd), -1;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return ::close(fd), -1;
  return fd;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = make_pki();
    ServerOptions o;
    o.listen = {"tls://127.0.0.1:0"};
    o.io_threads = 1;
    o.worker_threads = 2;
    o.tls = {pki_.server.cert_pem, pki_.server.key_pem, pki_.ca.cert_pem};
    server_ = std::make_unique<Server>(o, [](Exchange ex) {
      const PeerCertificate& pc = ex.request.peer_cert;
      ex.respond({200, {}, pc.verified ? pc.common_name + "/" + pc.organizational_unit : "anonymous"});
    });
    ASSERT_TRUE(server_->start().ok());
    endpoint_ = "https://127.0.0.1:" + std::to_string(server_->bound_ports().at(0));
  }
  TlsOptions client_tls() const {
    TlsOptions t;
    t.ca_pem = pki_.ca.cert_pem;
    t.cert_pem = pki_.client_cert;
    t.key_pem = pki_.client_key;
    return t;
  }
  Pki pki_;
  std::unique_ptr<Server> server_;
  std::string endpoint_;
};

TEST_F(TlsTest, HandlerSeesTheVerifiedClientCertificate) {
  Client c(endpoint_, client_tls());
  auto r = c.request("GET", "/who");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->body, "worker7/swarm-worker");
  auto again = c.request("GET", "/who");  // kept alive
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->body, "worker7/swarm-worker");
}

TEST_F(TlsTest, ClientWithoutCertificateIsAnonymous) {
  TlsOptions t;
  t.ca_pem = pki_.ca.cert_pem;
  Client c(endpoint_, t);
  auto r = c.request("GET", "/who");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->body, "anonymous");
}

TEST_F(TlsTest, ClientCertificateOfAnotherCAIsRefused) {
  Pki other = make_pki();
  TlsOptions t = client_tls();
  t.cert_pem = other.client_cert;
  t.key_pem = other.client_key;
  Client c(endpoint_, t);
  EXPECT_FALSE(c.request("GET", "/who").ok());
}

TEST_F(TlsTest, ServerMustCarryTheExpectedName) {
  TlsOptions t = client_tls();
  t.server_name = "swarm-manager";
  EXPECT_TRUE(Client(endpoint_, t).request("GET", "/who").ok());
  t.server_name = "swarm-worker";
  auto r = Client(endpoint_, t).request("GET", "/who");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("TLS handshake"), std::string::npos) << r.status().message();
}

TEST_F(TlsTest, ServerOfAnotherCAIsRefusedUnlessSkippingVerification) {
  Pki other = make_pki();
  TlsOptions t;
  t.ca_pem = other.ca.cert_pem;
  EXPECT_FALSE(Client(endpoint_, t).request("GET", "/who").ok());
  TlsOptions skip;
  skip.insecure_skip_verify = true;
  auto r = Client(endpoint_, skip).request("GET", "/who");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->body, "anonymous");
}

TEST(TlsListener, NeedsCertificates) {
  ServerOptions o;
  o.listen = {"tls://127.0.0.1:0"};
  Server s(o, [](Exchange ex) { ex.respond({200, {}, ""}); });
  Status st = s.start();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("tls://127.0.0.1:0"), std::string::npos) << st.message();
}

TEST_F(TlsTest, ClientsWithoutCertificateGetSmallBodyLimits) {
  const std::string body(100 * 1024, 'x');  // over 64 KiB: a join request is a few KiB
  TlsOptions anon;
  anon.ca_pem = pki_.ca.cert_pem;
  auto r = Client(endpoint_, anon).request("POST", "/join", body);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->status, 413);
  auto verified = Client(endpoint_, client_tls()).request("POST", "/session", body);
  ASSERT_TRUE(verified.ok()) << verified.status().message();
  EXPECT_EQ(verified->status, 200);
}

TEST_F(TlsTest, ConnectionsWithoutCertificatePerAddressAreCapped) {
  // 32 connections that never start their handshake hold 127.0.0.1's share.
  const int port = server_->bound_ports().at(0);
  std::vector<int> fds;
  for (int i = 0; i < 32; ++i) {
    int fd = connect_loopback(port);
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  TlsOptions anon;
  anon.ca_pem = pki_.ca.cert_pem;
  auto r = Client(endpoint_, anon).request("GET", "/who", "", {}, std::chrono::seconds(5));
  EXPECT_FALSE(r.ok() && r->status == 200) << "a 33rd unverified connection from one address was served";
  for (int fd : fds) ::close(fd);
  bool served = false;  // the slots come back as the server sees the closes
  for (int i = 0; i < 200 && !served; ++i) {
    auto again = Client(endpoint_, anon).request("GET", "/who", "", {}, std::chrono::seconds(5));
    served = again.ok() && again->status == 200;
  }
  EXPECT_TRUE(served);
}

// A small listener (a swarm listener's cap follows RLIMIT_NOFILE: 16 at
// 1024 descriptors): one stranger's stalled handshakes do not take every
// slot, a node with its certificate still gets in.
TEST_F(TlsTest, StrangersCannotFillASmallListener) {
  ServerOptions o;
  o.listen = {"tls://127.0.0.1:0"};
  o.io_threads = 1;
  o.worker_threads = 2;
  o.max_connections = 16;
  o.tls = {pki_.server.cert_pem, pki_.server.key_pem, pki_.ca.cert_pem};
  Server small(o, [](Exchange ex) { ex.respond({200, {}, ex.request.peer_cert.common_name}); });
  ASSERT_TRUE(small.start().ok());
  const int port = small.bound_ports().at(0);
  std::vector<int> fds;
  for (int i = 0; i < 32; ++i) {  // the old per-address cap: more than the whole listener
    int fd = connect_loopback(port, INADDR_LOOPBACK + 1);  // the stranger is another address than the node below
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  usleep(200 * 1000);  // the server has accepted (and refused) them
  auto r = Client("https://127.0.0.1:" + std::to_string(port), client_tls()).request("GET", "/who", "", {},
                                                                                   std::chrono::seconds(5));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->body, "worker7");
  for (int fd : fds) ::close(fd);
}

// One node certificate cannot hold the listener: past
// verified_per_node_cap() connections under its common name the next is
// closed, while another node still gets in.
TEST_F(TlsTest, VerifiedConnectionsPerNodeAreCapped) {
  const size_t cap = verified_per_node_cap(ServerOptions{}.max_connections);
  ASSERT_EQ(cap, 16u);
  std::vector<std::unique_ptr<Client>> held;  // each keeps its connection in its pool
  for (size_t i = 0; i < cap; ++i) {
    held.push_back(std::make_unique<Client>(endpoint_, client_tls()));
    auto r = held.back()->request("GET", "/who", "", {}, std::chrono::seconds(5));
    ASSERT_TRUE(r.ok()) << r.status().message();
    ASSERT_EQ(r->status, 200);
  }
  auto over = Client(endpoint_, client_tls()).request("GET", "/who", "", {}, std::chrono::seconds(5));
  EXPECT_FALSE(over.ok() && over->status == 200) << "connection " << cap + 1 << " of one node was served";
  auto kc = *ca::new_node_key_and_csr();
  TlsOptions other = client_tls();
  other.cert_pem = *ca::sign_node_csr(pki_.ca, kc.csr_pem, "worker8", ca::kWorkerRole, "cluster1");
  other.key_pem = kc.key_pem;
  auto r = Client(endpoint_, other).request("GET", "/who", "", {}, std::chrono::seconds(5));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->body, "worker8/swarm-worker");
  held.pop_back();  // a slot comes back once the server sees the close
  bool served = false;
  for (int i = 0; i < 200 && !served; ++i) {
    auto again = Client(endpoint_, client_tls()).request("GET", "/who", "", {}, std::chrono::seconds(5));
    served = again.ok() && again->status == 200;
  }
  EXPECT_TRUE(served);
}

TEST(VerifiedPerNodeCap, FollowsTheListenerSize) {
  EXPECT_EQ(verified_per_node_cap(65536), 16u);
  EXPECT_EQ(verified_per_node_cap(16), 8u);
  EXPECT_EQ(verified_per_node_cap(6), 4u);
  EXPECT_EQ(verified_per_node_cap(2), 2u);
}

TEST_F(TlsTest, PlainHttpClientGetsNoAnswer) {
  std::string plain = "http://" + endpoint_.substr(8);
  auto r = Client(plain).request("GET", "/who", "", {}, std::chrono::seconds(5));
  EXPECT_FALSE(r.ok() && r->status == 200);
}

// A client's request that reaches the server in one TCP segment with the
// client's last handshake message (a fast client on a busy server, every
// few dozen connections in the lab) lands in the TLS layer during the
// handshake: the server once waited for the TCP socket to turn readable and
// the request hung until the client gave up. The client here runs on memory
// BIOs so both go out in one write, every time.
TEST_F(TlsTest, ARequestSentWithTheLastHandshakeMessageIsAnswered) {
  int fd = connect_loopback(server_->bound_ports().at(0));
  ASSERT_GE(fd, 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);  // ssl owns both
  SSL_set_connect_state(ssl);
  auto send_out = [&] {  // everything the client wrote, in one write()
    std::string bytes;
    char b[16384];
    for (int n; (n = BIO_read(out, b, sizeof b)) > 0;) bytes.append(b, static_cast<size_t>(n));
    return ::send(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size());
  };
  auto receive = [&] {
    char b[16384];
    ssize_t n = ::recv(fd, b, sizeof b, 0);
    if (n > 0) BIO_write(in, b, static_cast<int>(n));
    return n > 0;
  };
  bool handshake = false;
  for (int i = 0; i < 10 && !handshake; ++i) {
    int r = SSL_do_handshake(ssl);
    if (r == 1) {
      handshake = true;
      break;
    }
    ASSERT_EQ(SSL_get_error(ssl, r), SSL_ERROR_WANT_READ);
    ASSERT_TRUE(send_out());
    ASSERT_TRUE(receive()) << "no handshake answer";
  }
  ASSERT_TRUE(handshake);
  // The client's Finished is still in `out`: the request joins it.
  std::string req = "GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(SSL_write(ssl, req.data(), static_cast<int>(req.size())), static_cast<int>(req.size()));
  ASSERT_TRUE(send_out());
  std::string answer;
  for (;;) {
    char b[4096];
    int n = SSL_read(ssl, b, sizeof b);
    if (n > 0) {
      answer.append(b, static_cast<size_t>(n));
      continue;
    }
    if (SSL_get_error(ssl, n) != SSL_ERROR_WANT_READ || !receive()) break;  // closed, or 5 s without an answer
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
  EXPECT_NE(answer.find("anonymous"), std::string::npos) << answer;
}

}  // namespace
}  // namespace shoal::http
