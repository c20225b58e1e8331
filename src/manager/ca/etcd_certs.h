// The certificates of a manager's etcd member, issued by the swarm's root CA.
//
// Layout of `dir` (<data-root>/certs, 0700): ca.crt (the root CA's
// certificate: the only trust anchor etcd and shoald use), member.crt +
// member.key (the member's serving and peer certificate: serverAuth and
// clientAuth, SANs localhost, 127.0.0.1, the advertise address and the DNS
// name kEtcdMemberName) and client.crt + client.key (shoald's client
// certificate: clientAuth only, DNS SAN kEtcdClientName). Keys are 0600.
//
// etcd is started with --peer-cert-allowed-hostname kEtcdMemberName, so only
// members' certificates open the peer port. Any client certificate of the CA
// opens the client port (etcd 3.4's gateway defeats a client name check; see
// src/manager/etcd/etcd_member.h): before worker nodes get certificates, etcd
// must trust an etcd-only intermediate CA instead.
//
// Managers joining later get their own member and client certificates from
// the same CA (issued by the leader over the join session, with the joining
// manager's address in the member SANs), plus ca.crt: every member then
// trusts every other, and nothing else. Functions are thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "manager/ca/root_ca.h"

namespace shoal::ca {

constexpr char kEtcdMemberName[] = "shoal-etcd-member";
constexpr char kEtcdClientName[] = "shoal-etcd-client";

struct EtcdCertFiles {
  std::string ca_cert;
  std::string member_cert;
  std::string member_key;
  std::string client_cert;
  std::string client_key;
};

// The file names inside `dir` (nothing is checked).
EtcdCertFiles etcd_cert_files(const std::string& dir);

// Issues a member and a client certificate from `ca` and writes all five
// files into `dir` (created 0700). `member_ips`: addresses peers and clients
// reach the member at (127.0.0.1 is always included). `cluster_id` goes into
// the subjects' O. Validity: 2 years (renewal comes with node-certificate
// rotation).
Status write_etcd_certs(const RootCA& ca, const std::string& dir, const std::string& cluster_id,
                        const std::vector<std::string>& member_ips);

// Checks that every file exists, keys are not readable by other users, and
// the certificates chain to ca.crt; the error names the file and the fix.
Status check_etcd_certs(const EtcdCertFiles& files);

}  // namespace shoal::ca
