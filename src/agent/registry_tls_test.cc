// https registries with their own CA (agent/registry_tls.h): a fake registry
// on our http::Server behind tls:// on 127.0.0.1 with a certificate from a
// test CA; the CA in certs.d/127.0.0.1:PORT/ca.crt makes the pull work,
// without it the pull fails on the certificate; a bad ca.crt; a client
// certificate, presented to its own registry only (never to one another
// registry redirects to); certs.d names from image references.
#include "agent/registry_tls.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent/image_puller.h"
#include "agent/registry_client.h"
#include "agent/runtime/image_store.h"
#include "agent/runtime/layer.h"
#include "agent/runtime/test_tar.h"
#include "http/server.h"
#include "manager/ca/root_ca.h"

namespace shoal::agent {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string digest_of(const std::string& s) { return "sha256:" + runtime::sha256_hex(s); }

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// A registry serving one image (team/app:1) over TLS; with
// require_client_cert, only to clients with a certificate of the test CA.
class TlsRegistry {
 public:
  TlsRegistry(const ca::RootCA& root, const ca::IssuedCert& cert) {
    http::ServerOptions o;
    o.listen = {"tls://127.0.0.1:0"};
    o.io_threads = 1;
    o.worker_threads = 2;
    o.tls = {cert.cert_pem, cert.key_pem, root.cert_pem};
    server_ = std::make_unique<http::Server>(o, [this](http::Exchange ex) { serve(std::move(ex)); });
    EXPECT_TRUE(server_->start().ok());
    domain_ = "127.0.0.1:" + std::to_string(server_->bound_ports().at(0));
    json m = {{"schemaVersion", 2},
              {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
              {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                          {"digest", digest_of(config_)}, {"size", config_.size()}}},
              {"layers", json::array({{{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                                       {"digest", digest_of(layer_)}, {"size", layer_.size()}}})}};
    manifest_ = m.dump();
  }
  const std::string& domain() const { return domain_; }
  const std::string& layer() const { return layer_; }
  void require_client_cert() {
    std::lock_guard lk(mu_);
    client_cert_ = true;
  }
  // Every request answered 307 to the same path on `base` ("https://host:port").
  void redirect_to(const std::string& base) {
    std::lock_guard lk(mu_);
    redirect_ = base;
  }
  int verified_clients() {
    std::lock_guard lk(mu_);
    return verified_;
  }

 private:
  void serve(http::Exchange ex) {
    std::lock_guard lk(mu_);
    const std::string& p = ex.request.path;
    if (ex.request.peer_cert.verified) ++verified_;
    if (!redirect_.empty()) return ex.respond({307, {{"Location", redirect_ + p}}, ""});
    if (client_cert_ && !ex.request.peer_cert.verified) {
      return ex.respond({403, {}, R"({"errors":[{"code":"DENIED","message":"client certificate required"}]})"});
    }
    if (p == "/v2/team/app/manifests/1") {
      return ex.respond({200, {{"Content-Type", "application/vnd.oci.image.manifest.v1+json"}}, manifest_});
    }
    if (p == "/v2/team/app/blobs/" + digest_of(config_)) return ex.respond({200, {}, config_});
    if (p == "/v2/team/app/blobs/" + digest_of(layer_)) return ex.respond({200, {}, layer_});
    ex.respond({404, {}, R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})"});
  }

  std::unique_ptr<http::Server> server_;
  std::string domain_;
  std::mutex mu_;
  bool client_cert_ = false;
  std::string redirect_;
  int verified_ = 0;
  const std::string config_ = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}})";
  const std::string layer_ = "layer bytes over https";
  std::string manifest_;
};

class RegistryTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("shoal-registry-tls-test-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "certs.d");
    root_ = *ca::create_root_ca("test-registry-ca");
    ca::CertRequest r;
    r.common_name = "registry";
    r.ip_addresses = {"127.0.0.1"};
    r.server_auth = true;
    server_cert_ = *ca::issue_certificate(root_, r);
    reg_ = std::make_unique<TlsRegistry>(root_, server_cert_);
    options_.certs_dir = (dir_ / "certs.d").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path registry_dir() const { return dir_ / "certs.d" / reg_->domain(); }
  // Fetches the manifest and the layer of team/app:1 into dir_/layer.
  Status pull(RegistryClient& client) {
    SHOAL_ASSIGN_OR_RETURN(Reference ref, parse_reference(reg_->domain() + "/team/app:1"));
    SHOAL_ASSIGN_OR_RETURN(ImageManifest m, client.manifest(ref, {}));
    fs::remove(dir_ / "layer");
    return client.fetch_blob(ref, {}, m.layers.at(0), (dir_ / "layer").string(), nullptr, never_);
  }

  fs::path dir_;
  ca::RootCA root_;
  ca::IssuedCert server_cert_;
  std::unique_ptr<TlsRegistry> reg_;
  RegistryOptions options_;
  std::atomic<bool> never_{false};
};

TEST_F(RegistryTlsTest, TheRegistrysCaInCertsDMakesTheHttpsPullWork) {
  write_file(registry_dir() / "ca.crt", root_.cert_pem);
  RegistryClient client(options_);
  EXPECT_FALSE(client.plain_http(reg_->domain()));  // loopback, but it has a certs.d directory
  Status st = pull(client);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(*runtime::read_whole_file((dir_ / "layer").string()), reg_->layer());
}

TEST_F(RegistryTlsTest, WithoutTheCaThePullFailsOnTheCertificate) {
  fs::create_directories(registry_dir());  // https, but only the system CAs
  RegistryClient client(options_);
  Status st = pull(client);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("certificate"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(reg_->domain()), std::string::npos) << st.message();
  // The CA of another registry is no better.
  write_file(registry_dir() / "ca.crt", ca::create_root_ca("other-ca")->cert_pem);
  st = pull(client);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("certificate"), std::string::npos) << st.message();
  // Put right, it works at once (the file is read again when it changes).
  write_file(registry_dir() / "ca.crt", root_.cert_pem + "\n");
  st = pull(client);
  EXPECT_TRUE(st.ok()) << st.message();
}

TEST_F(RegistryTlsTest, ABadCaFileIsAClearErrorNamingIt) {
  const std::string ca = (registry_dir() / "ca.crt").string();
  write_file(ca, "not a certificate\n");
  RegistryClient client(options_);
  Status st = pull(client);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.message();
  EXPECT_NE(st.message().find(ca + " holds no PEM certificate"), std::string::npos) << st.message();
}

TEST_F(RegistryTlsTest, AClientCertificateIsPresentedWhenBothFilesAreThere) {
  reg_->require_client_cert();
  write_file(registry_dir() / "ca.crt", root_.cert_pem);
  RegistryClient client(options_);
  Status st = pull(client);
  ASSERT_FALSE(st.ok());  // no client certificate: the registry says no
  ca::CertRequest r;
  r.common_name = "puller";
  r.client_auth = true;
  auto cc = *ca::issue_certificate(root_, r);
  write_file(registry_dir() / "client.cert", cc.cert_pem);
  st = pull(client);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("client.key"), std::string::npos) << st.message();
  write_file(registry_dir() / "client.key", cc.key_pem);
  st = pull(client);
  EXPECT_TRUE(st.ok()) << st.message();
}

// Security review: an encrypted client.key is a clear error naming it, never
// a passphrase prompt on shoald's terminal (which would block the pull).
TEST_F(RegistryTlsTest, AnEncryptedClientKeyIsAnErrorNotAPrompt) {
  write_file(registry_dir() / "ca.crt", root_.cert_pem);
  ca::CertRequest r;
  r.common_name = "puller";
  r.client_auth = true;
  auto cc = *ca::issue_certificate(root_, r);
  BIO* in = BIO_new_mem_buf(cc.key_pem.data(), static_cast<int>(cc.key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  ASSERT_NE(key, nullptr);
  BIO* out = BIO_new(BIO_s_mem());
  char pass[] = "secret";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(out, key, EVP_aes_256_cbc(), pass, 6, nullptr, nullptr), 1);
  EVP_PKEY_free(key);
  char* data = nullptr;
  long n = BIO_get_mem_data(out, &data);
  std::string encrypted(data, static_cast<size_t>(n));
  BIO_free(out);
  ASSERT_NE(encrypted.find("ENCRYPTED"), std::string::npos);
  write_file(registry_dir() / "client.cert", cc.cert_pem);
  write_file(registry_dir() / "client.key", encrypted);
  RegistryClient client(options_);
  Status st = pull(client);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kInvalidArgument) << st.message();
  EXPECT_NE(st.message().find("loading the client key"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("client.key"), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find("unreachable"), std::string::npos) << "a bad key file is not a network error";
}

// Security review: a registry cannot borrow another's client certificate by
// redirecting to it. `evil` (trusted CA, no client certificate of its own)
// redirects every request to `internal`, which admits only clients with a
// certificate and whose certs.d holds one: pulling evil's image never
// presents internal's certificate (internal says no), while pulling
// internal's own image does.
TEST_F(RegistryTlsTest, AClientCertificateIsNeverPresentedOnAnotherRegistrysBehalf) {
  reg_->require_client_cert();
  write_file(registry_dir() / "ca.crt", root_.cert_pem);
  ca::CertRequest r;
  r.common_name = "puller";
  r.client_auth = true;
  auto cc = *ca::issue_certificate(root_, r);
  write_file(registry_dir() / "client.cert", cc.cert_pem);
  write_file(registry_dir() / "client.key", cc.key_pem);
  TlsRegistry evil(root_, server_cert_);
  evil.redirect_to("https://" + reg_->domain());
  write_file(dir_ / "certs.d" / evil.domain() / "ca.crt", root_.cert_pem);
  RegistryClient client(options_);
  auto ref = parse_reference(evil.domain() + "/team/app:1");
  ASSERT_TRUE(ref.ok());
  auto m = client.manifest(*ref, {});
  EXPECT_FALSE(m.ok()) << "internal's manifest was served under evil's name";
  EXPECT_EQ(reg_->verified_clients(), 0) << "internal's client certificate went out on evil's behalf";
  Status st = pull(client);  // internal's own image: its certificate is presented
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_GT(reg_->verified_clients(), 0);
}

TEST(RegistryTlsNames, ARegistryNameMustBeOnePathComponent) {
  EXPECT_TRUE(check_certs_dir_name("127.0.0.1:5000").ok());
  EXPECT_TRUE(check_certs_dir_name("registry.example.com").ok());
  EXPECT_TRUE(check_certs_dir_name("[::1]:5000").ok());
  for (const std::string& bad : std::vector<std::string>{"", ".", "..", "a/b", "../etc", "a\\b", std::string("a\0b", 3)}) {
    Status st = check_certs_dir_name(bad);
    EXPECT_FALSE(st.ok()) << bad;
    EXPECT_NE(st.message().find("HOST:PORT"), std::string::npos) << st.message();
  }
  RegistryOptions o;
  o.certs_dir = "/etc/shoal-test-nonexistent/certs.d";
  EXPECT_FALSE(has_certs_dir(o, ".."));
  o.certs_dir = "/";
  EXPECT_TRUE(has_certs_dir(o, "etc"));
  EXPECT_FALSE(has_certs_dir(o, ".."));
  EXPECT_FALSE(has_certs_dir(o, "etc/ssl"));
  o.certs_dir = "";
  EXPECT_FALSE(has_certs_dir(o, "etc"));
}

}  // namespace
}  // namespace shoal::agent
