#include "manager/ca/etcd_certs.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "common/files.h"
#include "manager/ca/key_files.h"

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

}  // namespace shoal::ca
