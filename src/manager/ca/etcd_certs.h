// The certificates of a manager's etcd member, issued by an etcd-only CA.
//
// Layout of `dir` (<data-root>/certs, 0700): ca.crt (the etcd CA's
// certificate: the only trust anchor etcd and shoald's etcd client use),
// etcd-ca.key (its key, 0600; removed by ManagerRole once sealed in etcd), member.crt +
// member.key (the member's serving and peer certificate: serverAuth and
// clientAuth, SANs localhost, 127.0.0.1, the advertise address and the DNS
// name kEtcdMemberName) and client.crt + client.key (shoald's client
// certificate: clientAuth only, DNS SAN kEtcdClientName). Keys are 0600.
//
// Why not the swarm's root CA: every node, workers included, holds a
// certificate of that CA, and etcd 3.4 cannot require a name of its clients
// while its JSON gateway is used (--client-cert-allowed-hostname also rejects
// the gateway's own connection; see src/manager/etcd/etcd_member.h). So etcd
// trusts only the etcd CA, which signs nothing but these certificates: a node
// certificate opens neither the client nor the peer port. etcd is also started
// with --peer-cert-allowed-hostname kEtcdMemberName.
//
// Managers that join later get their member and client certificates from the
// same etcd CA, signed from their own CSRs (their keys never leave them) by
// the manager serving the join, which reads the CA key sealed in etcd
// (src/daemon/manager_role.h); a joined manager's dir has no etcd-ca.key.
// Functions are thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "manager/ca/root_ca.h"

namespace shoal::ca {

constexpr char kEtcdMemberName[] = "shoal-etcd-member";
constexpr char kEtcdClientName[] = "shoal-etcd-client";
constexpr char kEtcdCaName[] = "shoal-etcd-ca";

struct EtcdCertFiles {
  std::string ca_cert;
  std::string ca_key;
  std::string member_cert;
  std::string member_key;
  std::string client_cert;
  std::string client_key;
};

// The file names inside `dir` (nothing is checked).
EtcdCertFiles etcd_cert_files(const std::string& dir);

// Creates a new etcd CA, issues a member and a client certificate from it and
// writes all six files into `dir` (created 0700). `member_ips`: addresses
// peers and clients reach the member at (127.0.0.1 is always included).
// `cluster_id` goes into the subjects' O. Validity: 2 years (renewal comes
// with node-certificate rotation).
Status write_etcd_certs(const std::string& dir, const std::string& cluster_id,
                        const std::vector<std::string>& member_ips);

// Checks that every file exists, keys are not readable by other users, ca.crt
// is an etcd CA (CN kEtcdCaName: certificates from before the etcd CA, when
// ca.crt was the swarm's root CA, are refused) and the certificates chain to
// it; the error names the file and the fix.
// etcd-ca.key is optional (removed once sealed; a joined manager never has it).
Status check_etcd_certs(const EtcdCertFiles& files);

// The etcd CA (certificate and key) from the files: at swarm init, before
// the key is sealed and its file removed.
Result<RootCA> read_etcd_ca(const EtcdCertFiles& files);

enum class EtcdCertKind { kMember, kClient };
// Signs the public key of `csr_pem` (an ECDSA key whose self-signature
// verifies) with the etcd CA, choosing the whole subject: a member
// certificate (CN and DNS SAN kEtcdMemberName, localhost, IPs 127.0.0.1 and
// `member_ip`, serverAuth + clientAuth) or a client certificate (DNS SAN
// kEtcdClientName, clientAuth). 2 years. kInvalidArgument for a malformed
// CSR or a `member_ip` that is not an IP address.
Result<std::string> sign_etcd_csr(const RootCA& etcd_ca, const std::string& csr_pem, EtcdCertKind kind,
                                  const std::string& cluster_id, const std::string& member_ip);

// A joined manager's files, as it received them (certificates) and made
// them (keys): ca.crt, member.crt/.key, client.crt/.key in `dir` (0700).
struct JoinedEtcdCerts {
  std::string ca_cert, member_cert, member_key, client_cert, client_key;
};
Status write_joined_etcd_certs(const std::string& dir, const JoinedEtcdCerts& certs);

}  // namespace shoal::ca
