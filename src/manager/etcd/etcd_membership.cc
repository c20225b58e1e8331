#include "manager/etcd/etcd_membership.h"

#include <nlohmann/json.hpp>

namespace shoal::etcd {

using nlohmann::json;

namespace {

uint64_t id_of(const json& v) {
  if (v.is_string()) return std::stoull(v.get<std::string>());
  return v.get<uint64_t>();
}

Member member_of(const json& m) {
  Member out;
  out.id = id_of(m.at("ID"));
  out.name = m.value("name", "");
  out.peer_urls = m.value("peerURLs", std::vector<std::string>{});
  out.client_urls = m.value("clientURLs", std::vector<std::string>{});
  out.learner = m.value("isLearner", false);
  return out;
}

}  // namespace

std::string member_add_request(const std::string& peer_url, bool learner) {
  return json{{"peerURLs", {peer_url}}, {"isLearner", learner}}.dump();
}

std::string member_promote_request(uint64_t id) { return json{{"ID", std::to_string(id)}}.dump(); }

Result<std::vector<Member>> parse_members(const std::string& body) {
  try {
    std::vector<Member> out;
    const json j = json::parse(body);  // named: a range-for over a temporary's member would dangle
    for (const auto& m : j.at("members")) out.push_back(member_of(m));
    return out;
  } catch (const std::exception& e) {
    return internal_error(std::string("etcd answered a malformed member list: ") + e.what());
  }
}

Result<Member> parse_added_member(const std::string& body) {
  try {
    return member_of(json::parse(body).at("member"));
  } catch (const std::exception& e) {
    return internal_error(std::string("etcd answered a malformed member add: ") + e.what());
  }
}

std::string initial_cluster(const std::vector<Member>& members, uint64_t new_id, const std::string& name) {
  std::string out;
  for (const auto& m : members) {
    std::string n = m.id == new_id ? name : m.name;
    if (n.empty() || m.peer_urls.empty()) continue;
    for (const auto& u : m.peer_urls) out += (out.empty() ? "" : ",") + n + "=" + u;
  }
  return out;
}

bool has_learner(const std::vector<Member>& members) {
  for (const auto& m : members) {
    if (m.learner) return true;
  }
  return false;
}

const Member* find_member(const std::vector<Member>& members, const std::string& name) {
  for (const auto& m : members) {
    if (!name.empty() && m.name == name) return &m;
  }
  return nullptr;
}

MembershipClient::MembershipClient(std::string url, http::TlsOptions tls) : url_(url), client_(std::move(url), std::move(tls)) {}

Result<std::string> MembershipClient::call(const std::string& path, const std::string& body, bool idempotent) {
  auto r = client_.request("POST", path, body, {}, std::chrono::seconds(10),
                           idempotent ? http::Idempotent::kYes : http::Idempotent::kByMethod);
  if (!r.ok()) return r.status().with_context("etcd at " + url_);
  if (r->status != 200) {
    std::string msg = r->body;
    try {
      json j = json::parse(r->body);
      msg = j.value("error", j.value("message", r->body));
    } catch (...) {
    }
    return unavailable("etcd at " + url_ + " refused " + path + ": " + msg);
  }
  return std::move(r->body);
}

Result<std::vector<Member>> MembershipClient::list() {
  SHOAL_ASSIGN_OR_RETURN(std::string body, call("/v3/cluster/member/list", "{}", true));
  return parse_members(body);
}

Result<MembershipClient::Added> MembershipClient::add_learner(const std::string& peer_url) {
  SHOAL_ASSIGN_OR_RETURN(std::string body, call("/v3/cluster/member/add", member_add_request(peer_url, true)));
  Added a;
  SHOAL_ASSIGN_OR_RETURN(a.member, parse_added_member(body));
  SHOAL_ASSIGN_OR_RETURN(a.members, parse_members(body));
  return a;
}

Status MembershipClient::promote(uint64_t id) {
  return call("/v3/cluster/member/promote", member_promote_request(id)).status();
}

Status MembershipClient::remove(uint64_t id) {
  return call("/v3/cluster/member/remove", member_promote_request(id)).status();
}

void MembershipClient::cancel() { client_.cancel(); }

}  // namespace shoal::etcd
