#include "manager/ca/etcd_certs.h"

#include <arpa/inet.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "common/files.h"
#include "manager/ca/key_files.h"
#include "manager/ca/x509_util.h"

namespace shoal::ca {

namespace {

constexpr auto kValidity = std::chrono::hours(24 * 365 * 2);

using Cert = std::unique_ptr<X509, decltype(&X509_free)>;

Result<Cert> load_cert(const std::string& path) {
  SHOAL_ASSIGN_OR_RETURN(std::string pem, read_private_file(path, /*secret=*/false));
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  Cert cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr), X509_free);
  BIO_free(bio);
  if (!cert) return invalid_argument(path + " is not a PEM certificate");
  return cert;
}

std::string common_name(X509* cert) {
  char cn[256] = {0};
  int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  return n > 0 ? std::string(cn, static_cast<size_t>(n)) : std::string();
}

}  // namespace

EtcdCertFiles etcd_cert_files(const std::string& dir) {
  return {dir + "/ca.crt", dir + "/etcd-ca.key", dir + "/member.crt", dir + "/member.key", dir + "/client.crt", dir + "/client.key"};
}

Status write_etcd_certs(const std::string& dir, const std::string& cluster_id,
                        const std::vector<std::string>& member_ips) {
  SHOAL_ASSIGN_OR_RETURN(RootCA ca, create_root_ca(kEtcdCaName));
  CertRequest member;
  member.common_name = kEtcdMemberName;
  member.organization = cluster_id;
  member.organizational_unit = "etcd-member";
  member.dns_names = {kEtcdMemberName, "localhost"};
  member.ip_addresses = {"127.0.0.1"};
  for (const auto& ip : member_ips) {
    if (ip != "127.0.0.1" && !ip.empty()) member.ip_addresses.push_back(ip);
  }
  member.server_auth = member.client_auth = true;  // peers are each other's clients
  member.validity = kValidity;
  CertRequest client;
  client.common_name = kEtcdClientName;
  client.organization = cluster_id;
  client.organizational_unit = "etcd-client";
  client.dns_names = {kEtcdClientName};
  client.client_auth = true;
  client.validity = kValidity;
  SHOAL_ASSIGN_OR_RETURN(IssuedCert m, issue_certificate(ca, member));
  SHOAL_ASSIGN_OR_RETURN(IssuedCert c, issue_certificate(ca, client));

  SHOAL_RETURN_IF_ERROR(ensure_private_dir(dir));  // not through a symlink
  EtcdCertFiles f = etcd_cert_files(dir);
  // Keys first: a certificate on disk always has its key beside it.
  SHOAL_RETURN_IF_ERROR(write_file_atomic(f.ca_key, ca.key_pem, 0600));
  SHOAL_RETURN_IF_ERROR(write_file_atomic(f.member_key, m.key_pem, 0600));
  SHOAL_RETURN_IF_ERROR(write_file_atomic(f.client_key, c.key_pem, 0600));
  SHOAL_RETURN_IF_ERROR(write_file_atomic(f.member_cert, m.cert_pem, 0644));
  SHOAL_RETURN_IF_ERROR(write_file_atomic(f.client_cert, c.cert_pem, 0644));
  return write_file_atomic(f.ca_cert, ca.cert_pem, 0644);
}

Status check_etcd_certs(const EtcdCertFiles& f) {
  const std::string fix =
      ": this manager cannot reach its etcd member without it. If the swarm was created by a shoald "
      "without TLS for etcd, leave it (shoal swarm leave --force) and init it again";
  for (const std::string* key : {&f.ca_key, &f.member_key, &f.client_key}) {
    auto k = read_private_file(*key, /*secret=*/true);  // no symlink, ours, 0600
    if (key == &f.ca_key && k.status().code() == Code::kNotFound) continue;  // a joined manager's
    if (k.status().code() == Code::kNotFound) return failed_precondition(*key + " is missing" + fix);
    if (!k.ok()) return failed_precondition(k.status().message());
  }
  auto ca = load_cert(f.ca_cert);
  if (!ca.ok()) return failed_precondition(ca.status().message() + fix);
  if (common_name(ca->get()) != kEtcdCaName) {
    return failed_precondition(f.ca_cert + " is not an etcd-only CA (it is the swarm's root CA, which every node's "
                               "certificate chains to: etcd would accept any node)" + fix);
  }
  EVP_PKEY* ca_key = X509_get0_pubkey(ca->get());
  for (const std::string* path : {&f.member_cert, &f.client_cert}) {
    auto cert = load_cert(*path);
    if (!cert.ok()) return failed_precondition(cert.status().message() + fix);
    if (!ca_key || X509_verify(cert->get(), ca_key) != 1) {
      return failed_precondition(*path + " was not issued by the CA in " + f.ca_cert + fix);
    }
    if (X509_cmp_current_time(X509_get0_notAfter(cert->get())) < 0) {
      return failed_precondition(*path + " has expired; renewal is not implemented yet: leave the swarm "
                                 "(shoal swarm leave --force) and init it again");
    }
  }
  return ok_status();
}

Result<RootCA> read_etcd_ca(const EtcdCertFiles& f) {
  RootCA ca;
  SHOAL_ASSIGN_OR_RETURN(ca.cert_pem, read_private_file(f.ca_cert, /*secret=*/false));
  auto key = read_private_file(f.ca_key, /*secret=*/true);
  if (!key.ok()) return key.status().with_context("reading the etcd CA's key " + f.ca_key);
  ca.key_pem = std::move(*key);
  return ca;
}

Result<std::string> sign_etcd_csr(const RootCA& etcd_ca, const std::string& csr_pem, EtcdCertKind kind,
                                  const std::string& cluster_id, const std::string& member_ip) {
  using namespace ssl;  // NOLINT(google-build-using-namespace)
  const bool member = kind == EtcdCertKind::kMember;
  unsigned char buf[16];
  bool v4 = inet_pton(AF_INET, member_ip.c_str(), buf) == 1;
  if (member && !v4 && inet_pton(AF_INET6, member_ip.c_str(), buf) != 1) {
    return invalid_argument("the etcd member address " + member_ip + " is not an IP address");
  }
  if (csr_pem.size() > 16 * 1024) return invalid_argument("the etcd certificate request is larger than 16 KiB");
  Bio rb = mem_bio(csr_pem);
  Req req(PEM_read_bio_X509_REQ(rb.get(), nullptr, nullptr, nullptr));
  if (!req) return invalid_argument("the etcd CSR is not a PEM certificate signing request");
  PKey pub(X509_REQ_get_pubkey(req.get()));
  if (!pub || X509_REQ_verify(req.get(), pub.get()) != 1) {
    return invalid_argument("the etcd CSR's signature does not verify with its own public key");
  }
  if (EVP_PKEY_get_base_id(pub.get()) != EVP_PKEY_EC) return invalid_argument("the etcd CSR's key must be an ECDSA key");
  SHOAL_ASSIGN_OR_RETURN(ssl::Cert ca_cert, parse_cert(etcd_ca.cert_pem));
  Bio kb = mem_bio(etcd_ca.key_pem);
  PKey ca_key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
  if (!ca_key || X509_check_private_key(ca_cert.get(), ca_key.get()) != 1) {
    return internal_error("the etcd CA's private key is missing or does not match its certificate");
  }
  ssl::Cert cert(X509_new());
  X509_set_version(cert.get(), 2);
  set_random_serial(cert.get());
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(kValidity.count() * 3600));
  X509_set_pubkey(cert.get(), pub.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  add_name(name, "O", cluster_id);
  add_name(name, "OU", member ? "etcd-member" : "etcd-client");
  add_name(name, "CN", member ? kEtcdMemberName : kEtcdClientName);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
  add_ext(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature,keyAgreement");
  if (member) {
    std::string san = std::string("DNS:") + kEtcdMemberName + ",DNS:localhost,IP:127.0.0.1";
    if (member_ip != "127.0.0.1") san += ",IP:" + member_ip;
    add_ext(cert.get(), ca_cert.get(), NID_ext_key_usage, "serverAuth,clientAuth");
    add_ext(cert.get(), ca_cert.get(), NID_subject_alt_name, san);
  } else {
    add_ext(cert.get(), ca_cert.get(), NID_ext_key_usage, "clientAuth");
    add_ext(cert.get(), ca_cert.get(), NID_subject_alt_name, std::string("DNS:") + kEtcdClientName);
  }
  add_ext(cert.get(), ca_cert.get(), NID_subject_key_identifier, "hash");
  add_ext(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always");
  if (!X509_sign(cert.get(), ca_key.get(), EVP_sha256())) return internal_error("signing the etcd certificate failed");
  Bio out(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(out.get(), cert.get());
  return bio_string(out.get());
}

Status write_joined_etcd_certs(const std::string& dir, const JoinedEtcdCerts& c) {
  SHOAL_RETURN_IF_ERROR(ensure_private_dir(dir));
  EtcdCertFiles f = etcd_cert_files(dir);
  SHOAL_RETURN_IF_ERROR(write_file_atomic(f.member_key, c.member_key, 0600));
  SHOAL_RETURN_IF_ERROR(write_file_atomic(f.client_key, c.client_key, 0600));
  SHOAL_RETURN_IF_ERROR(write_file_atomic(f.member_cert, c.member_cert, 0644));
  SHOAL_RETURN_IF_ERROR(write_file_atomic(f.client_cert, c.client_cert, 0644));
  return write_file_atomic(f.ca_cert, c.ca_cert, 0644);
}

}  // namespace shoal::ca
