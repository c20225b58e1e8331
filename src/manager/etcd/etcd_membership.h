// etcd cluster membership through the v3 JSON gateway (etcd 3.4):
// /v3/cluster/member/list, /add (as a learner), /promote. A manager that
// admits another manager adds it as a learner (it replicates but does not
// vote, so quorum is unchanged while it catches up) and promotes it once
// etcd accepts the promotion (etcd refuses while the learner lags).
//
// Request building and answer parsing are pure functions (tested without
// etcd); MembershipClient does the calls. etcd's uint64 ids travel as
// decimal strings in the gateway's JSON. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "http/client.h"

namespace shoal::etcd {

struct Member {
  uint64_t id = 0;
  std::string name;  // empty for a member added but not started yet
  std::vector<std::string> peer_urls;
  std::vector<std::string> client_urls;
  bool learner = false;
};

// {"peerURLs": [peer_url], "isLearner": learner}
std::string member_add_request(const std::string& peer_url, bool learner);
// {"ID": "<id>"}
std::string member_promote_request(uint64_t id);
// The "members" of a list or add answer. kInternal for a malformed answer.
Result<std::vector<Member>> parse_members(const std::string& body);
// The "member" an add answer names.
Result<Member> parse_added_member(const std::string& body);
// etcd's --initial-cluster for a member just added as `new_id`: every
// member's name=peer URL (all of them), the new one under `name` (it has
// none yet). Members without a name or peer URL other than the new one are
// skipped (an added member that never started).
std::string initial_cluster(const std::vector<Member>& members, uint64_t new_id, const std::string& name);
// True when any member is a learner (a change still in progress: shoal
// makes one membership change at a time).
bool has_learner(const std::vector<Member>& members);
// The member named `name` (a manager's node id), or null.
const Member* find_member(const std::vector<Member>& members, const std::string& name);

class MembershipClient {
 public:
  // `url`: a member's client URL; `tls`: the etcd client certificate.
  MembershipClient(std::string url, http::TlsOptions tls);
  Result<std::vector<Member>> list();
  struct Added {
    Member member;
    std::vector<Member> members;  // the cluster after the add
  };
  Result<Added> add_learner(const std::string& peer_url);
  // One attempt; kUnavailable while etcd refuses (the learner lags).
  Status promote(uint64_t id);
  // Removes a member (undoing an add whose joiner never came).
  Status remove(uint64_t id);
  // Makes a call in flight return at once and every later one fail
  // (http::Client::cancel): for an owner that is stopping. Sticky.
  void cancel();

 private:
  Result<std::string> call(const std::string& path, const std::string& body, bool idempotent = false);
  std::string url_;
  http::Client client_;
};

}  // namespace shoal::etcd
