#include "node/join.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/ids.h"
#include "common/json_limits.h"
#include "common/log.h"
#include "manager/ca/key_files.h"
#include "manager/ca/node_certs.h"

namespace shoal::node {

using nlohmann::json;

namespace {

constexpr char kCaFile[] = "/ca.crt";
constexpr char kCertFile[] = "/node.crt";
constexpr char kKeyFile[] = "/node.key";
constexpr auto kJoinTimeout = std::chrono::seconds(10);

constexpr char kInvalidToken[] =
    "A valid join token is necessary to join this cluster: the token is wrong or was rotated; print the current one "
    "with `swarm join-token worker` on a manager";
constexpr char kManagerJoin[] =
    "this manager cannot admit managers (its storage keeps no etcd membership): join through another manager, "
    "or with the worker token (`swarm join-token worker`); see docs/cluster.md";
constexpr auto kManagerJoinTimeout = std::chrono::seconds(30);

std::string to_hex(const std::string& in) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : in) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

Result<std::string> from_hex(const std::string& in) {
  auto v = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
  if (in.size() % 2) return invalid_argument("odd-length hex");
  std::string out;
  for (size_t i = 0; i < in.size(); i += 2) {
    int hi = v(in[i]), lo = v(in[i + 1]);
    if (hi < 0 || lo < 0) return invalid_argument("not hex");
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

// The IP of "ip:port" or "[v6]:port".
std::string ip_of(const std::string& addr) {
  if (!addr.empty() && addr.front() == '[') return addr.substr(1, addr.find(']') - 1);
  return addr.substr(0, addr.rfind(':'));
}

http::Response reply(int status, const json& body) {
  http::Response r;
  r.status = status;
  r.headers["Content-Type"] = "application/json";
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}
http::Response error_reply(int status, const std::string& message) { return reply(status, {{"message", message}}); }
Status answer_status(const http::Response& r, const std::string& addr);

void handle_join(const CaServiceParts& parts, http::Exchange& ex) {
  auto body = parse_untrusted_json(ex.request.body, "the join request");
  if (!body.ok() || !body->is_object()) {
    ex.respond(error_reply(400, "malformed join request: " + (body.ok() ? "not a JSON object" : body.status().message())));
    return;
  }
  std::string token, csr;
  try {
    token = body->value("Token", "");
    csr = body->value("CSR", "");
  } catch (const std::exception& e) {
    ex.respond(error_reply(400, "malformed join request: Token and CSR must be strings"));
    return;
  }
  if (auto parsed = ca::parse_join_token(token); !parsed.ok()) {
    ex.respond(error_reply(400, parsed.status().message()));
    return;
  }
  auto tokens = parts.join_tokens();
  if (!tokens.ok()) {
    ex.respond(error_reply(http::status_for(tokens.status().code()), "reading the join tokens: " + tokens.status().message()));
    return;
  }
  auto role = ca::match_join_token(token, tokens->worker, tokens->manager);
  if (!role) {
    LOG_INFO("ca", "refused a join from " << ex.request.peer << ": not a current join token");
    ex.respond(error_reply(400, kInvalidToken));
    return;
  }
  if (*role == ca::TokenRole::kManager && !parts.admit_manager) {
    ex.respond(error_reply(501, kManagerJoin));
    return;
  }
  const bool manager = *role == ca::TokenRole::kManager;
  auto root = parts.root_ca();
  if (!root.ok()) {
    ex.respond(error_reply(500, "this manager cannot sign certificates: " + root.status().message()));
    return;
  }
  std::string node_id = new_object_id();
  auto cert = ca::sign_node_csr(*root, csr, node_id, manager ? ca::kManagerRole : ca::kWorkerRole, parts.cluster_id());
  if (!cert.ok()) {
    ex.respond(error_reply(http::status_for(cert.status().code()), "join: " + cert.status().message()));
    return;
  }
  const char* role_name = manager ? "manager" : "worker";
  LOG_INFO("ca", "issued a " << role_name << " certificate for new node " << node_id << " (" << ex.request.peer << ")");
  ex.respond(reply(200, {{"NodeID", node_id}, {"Role", role_name}, {"Certificate", *cert}, {"Managers", parts.managers()}}));
}

// The second step of a manager's join, over mTLS with its new certificate.
void handle_manager_join(const CaServiceParts& parts, http::Exchange& ex) {
  const http::PeerCertificate& pc = ex.request.peer_cert;
  if (!pc.verified || pc.common_name.empty() || pc.organizational_unit != ca::kManagerRole) {
    ex.respond(error_reply(403, "manager-join needs this swarm's manager certificate (from a join with the manager "
                                "token) as the TLS client certificate"));
    return;
  }
  if (!parts.admit_manager) {
    ex.respond(error_reply(501, kManagerJoin));
    return;
  }
  auto body = parse_untrusted_json(ex.request.body, "the manager-join request");
  ManagerAdmission a;
  a.node_id = pc.common_name;
  try {
    if (!body.ok() || !body->is_object()) throw std::runtime_error("not a JSON object");
    a.member_csr = body->at("MemberCSR").get<std::string>();
    a.client_csr = body->at("ClientCSR").get<std::string>();
    a.ip = ip_of(body->at("AdvertiseAddr").get<std::string>());
  } catch (const std::exception& e) {
    ex.respond(error_reply(400, "malformed manager-join request: MemberCSR, ClientCSR and AdvertiseAddr (ip:port) "
                                "must be strings"));
    return;
  }
  // The certificate alone is not enough: one issued with a manager token
  // that was rotated since (leaked), or to a node removed since, must not
  // open etcd or get the data key. The joiner presents the current token again.
  std::string token;
  try {
    token = body->value("Token", "");
  } catch (const std::exception&) {
    ex.respond(error_reply(400, "malformed manager-join request: Token must be a string"));
    return;
  }
  auto tokens = parts.join_tokens();
  if (!tokens.ok()) {
    ex.respond(error_reply(http::status_for(tokens.status().code()), "reading the join tokens: " + tokens.status().message()));
    return;
  }
  if (ca::match_join_token(token, tokens->worker, tokens->manager) != ca::TokenRole::kManager) {
    LOG_INFO("ca", "refused manager-join of " << a.node_id << " (" << ex.request.peer << "): not the current manager token");
    ex.respond(error_reply(403, "manager-join needs the swarm's current manager token: " + std::string(kInvalidToken)));
    return;
  }
  auto grant = parts.admit_manager(a);
  if (!grant.ok()) {
    LOG_WARN("ca", "could not admit manager " << a.node_id << ": " << grant.status().message());
    ex.respond(error_reply(http::status_for(grant.status().code()), "admitting manager " + a.node_id + ": " +
                                                                       grant.status().message()));
    return;
  }
  LOG_INFO("ca", "admitted manager " << a.node_id << " (" << a.ip << ") as an etcd learner");
  ex.respond(reply(200, {{"EtcdCA", grant->etcd_ca_pem},
                         {"MemberCertificate", grant->member_cert_pem},
                         {"ClientCertificate", grant->client_cert_pem},
                         {"SealKey", to_hex(grant->seal_key)},
                         {"InitialCluster", grant->initial_cluster}}));
}

// A manager-join (or manager-promote) answer's etcd material; keys not set.
Result<ManagerGrant> parse_grant(const std::string& body, const std::string& addr) {
  ManagerGrant g;
  try {
    json j = json::parse(body);
    g.etcd_ca_pem = j.at("EtcdCA").get<std::string>();
    g.member_cert_pem = j.at("MemberCertificate").get<std::string>();
    g.client_cert_pem = j.at("ClientCertificate").get<std::string>();
    g.initial_cluster = j.at("InitialCluster").get<std::string>();
    auto key = from_hex(j.at("SealKey").get<std::string>());
    if (!key.ok()) throw std::runtime_error("SealKey");
    g.seal_key = std::move(*key);
  } catch (const std::exception& e) {
    return internal_error("manager " + addr + " answered a malformed manager-join response");
  }
  return g;
}

// The joining manager's second step: its etcd material.
Result<ManagerGrant> fetch_manager_grant(const std::string& addr, const JoinParams& p, const NodeTls& tls) {
  SHOAL_ASSIGN_OR_RETURN(ca::NodeKeyAndCsr member, ca::new_node_key_and_csr());
  SHOAL_ASSIGN_OR_RETURN(ca::NodeKeyAndCsr client, ca::new_node_key_and_csr());
  json req = {{"Token", p.token}, {"MemberCSR", member.csr_pem}, {"ClientCSR", client.csr_pem},
              {"AdvertiseAddr", p.advertise_addr}};
  auto r = http::Client("https://" + addr, manager_client_tls(tls))
               .request("POST", std::string(kCaPrefix) + "manager-join", req.dump(), {}, kManagerJoinTimeout);
  if (!r.ok()) return r.status().with_context("joining as a manager through " + addr);
  if (r->status != 200) return answer_status(*r, addr);
  SHOAL_ASSIGN_OR_RETURN(ManagerGrant g, parse_grant(r->body, addr));
  g.member_key_pem = std::move(member.key_pem);
  g.client_key_pem = std::move(client.key_pem);
  return g;
}

// The promotion of a worker whose role was set to manager, over mTLS with
// its worker certificate.
void handle_manager_promote(const CaServiceParts& parts, http::Exchange& ex) {
  const http::PeerCertificate& pc = ex.request.peer_cert;
  if (!pc.verified || pc.common_name.empty() || pc.organizational_unit != ca::kWorkerRole) {
    ex.respond(error_reply(403, "manager-promote needs this swarm's worker certificate as the TLS client certificate"));
    return;
  }
  if (!parts.promote_manager) {
    ex.respond(error_reply(501, kManagerJoin));
    return;
  }
  auto body = parse_untrusted_json(ex.request.body, "the manager-promote request");
  ManagerAdmission a;
  a.node_id = pc.common_name;
  std::string csr;
  try {
    if (!body.ok() || !body->is_object()) throw std::runtime_error("not a JSON object");
    csr = body->at("CSR").get<std::string>();
    a.member_csr = body->at("MemberCSR").get<std::string>();
    a.client_csr = body->at("ClientCSR").get<std::string>();
    a.ip = ip_of(body->at("AdvertiseAddr").get<std::string>());
  } catch (const std::exception& e) {
    ex.respond(error_reply(400, "malformed manager-promote request: CSR, MemberCSR, ClientCSR and AdvertiseAddr "
                                "(ip:port) must be strings"));
    return;
  }
  auto p = parts.promote_manager(a, csr);
  if (!p.ok()) {
    LOG_WARN("ca", "could not promote " << a.node_id << ": " << p.status().message());
    ex.respond(error_reply(http::status_for(p.status().code()), "promoting node " + a.node_id + ": " +
                                                                   p.status().message()));
    return;
  }
  LOG_INFO("ca", "promoting node " << a.node_id << " (" << a.ip << "): a manager certificate, an etcd learner");
  const ManagerGrant& g = p->grant;
  ex.respond(reply(200, {{"Certificate", p->certificate},
                         {"EtcdCA", g.etcd_ca_pem},
                         {"MemberCertificate", g.member_cert_pem},
                         {"ClientCertificate", g.client_cert_pem},
                         {"SealKey", to_hex(g.seal_key)},
                         {"InitialCluster", g.initial_cluster}}));
}

// The error a manager answered, as a Status of the matching code.
Status answer_status(const http::Response& r, const std::string& addr) {
  std::string msg = r.body;
  try {
    msg = json::parse(r.body).value("message", r.body);
  } catch (...) {
  }
  Code code = r.status == 501   ? Code::kUnimplemented
              : r.status == 400 ? Code::kInvalidArgument
              : r.status == 403 ? Code::kPermissionDenied
              : r.status == 503 ? Code::kUnavailable
                                : Code::kInternal;
  return Status(code, msg.substr(0, 1024) + (code == Code::kInternal ? " (manager " + addr + ")" : ""));
}

// One manager: fetch and pin its CA, then have the CSR signed.
Result<Joined> join_via(const std::string& addr, const JoinParams& p) {
  const std::string endpoint = "https://" + addr;
  http::TlsOptions fetch;
  fetch.insecure_skip_verify = true;  // checked against the token's digest below
  auto r = http::Client(endpoint, fetch).request("GET", std::string(kCaPrefix) + "root-ca", "", {}, kJoinTimeout);
  if (!r.ok()) return r.status();
  if (r->status != 200) return answer_status(*r, addr);
  std::string ca_pem;
  try {
    ca_pem = json::parse(r->body).at("Certificate").get<std::string>();
  } catch (const std::exception& e) {
    return internal_error("manager " + addr + " answered no root CA certificate");
  }
  auto match = ca::ca_matches_token(p.token, ca_pem);
  if (!match.ok()) return match.status();
  if (!*match) {
    auto parts = ca::parse_join_token(p.token);
    return invalid_argument("remote CA does not match fingerprint. Expected: " + parts->digest +
                            " (manager " + addr + " offered another CA: is this the manager the token is from?)");
  }
  SHOAL_ASSIGN_OR_RETURN(ca::NodeKeyAndCsr kc, ca::new_node_key_and_csr());
  http::TlsOptions verified;
  verified.ca_pem = ca_pem;
  verified.server_name = ca::kManagerRole;
  json req = {{"Token", p.token}, {"CSR", kc.csr_pem}, {"AdvertiseAddr", p.advertise_addr}};
  auto jr = http::Client(endpoint, verified).request("POST", std::string(kCaPrefix) + "join", req.dump(), {}, kJoinTimeout);
  if (!jr.ok()) return jr.status();
  if (jr->status != 200) return answer_status(*jr, addr);
  Joined out;
  try {
    json j = json::parse(jr->body);
    out.node_id = j.at("NodeID").get<std::string>();
    out.role = j.at("Role").get<std::string>();
    out.tls = {ca_pem, j.at("Certificate").get<std::string>(), kc.key_pem};
    out.managers = j.value("Managers", std::vector<std::string>{});
  } catch (const std::exception& e) {
    return internal_error("manager " + addr + " answered a malformed join response");
  }
  if (out.managers.empty()) out.managers = {addr};
  if (out.role == "manager") {
    auto g = fetch_manager_grant(addr, p, out.tls);
    if (!g.ok()) return g.status();
    out.manager = std::move(*g);
  }
  return out;
}

}  // namespace

std::string with_swarm_port(const std::string& addr) {
  const std::string port = ":" + std::to_string(kDefaultSwarmPort);
  if (!addr.empty() && addr.front() == '[') return addr.back() == ']' ? addr + port : addr;  // [v6] or [v6]:port
  size_t colons = std::count(addr.begin(), addr.end(), ':');
  if (colons == 0) return addr + port;        // ip or name
  if (colons > 1) return "[" + addr + "]" + port;  // a bare IPv6 address
  return addr;                                // ip:port
}

Status write_node_tls(const std::string& dir, const NodeTls& tls) {
  SHOAL_RETURN_IF_ERROR(ca::ensure_private_dir(dir));
  SHOAL_RETURN_IF_ERROR(write_file_atomic(dir + kCaFile, tls.ca_pem, 0600));
  SHOAL_RETURN_IF_ERROR(write_file_atomic(dir + kCertFile, tls.cert_pem, 0600));
  return write_file_atomic(dir + kKeyFile, tls.key_pem, 0600);
}

Result<NodeTls> read_node_tls(const std::string& dir) {
  NodeTls t;
  auto read = [&](const char* name, bool secret, std::string* out) -> Status {
    auto r = ca::read_private_file(dir + name, secret);
    if (!r.ok()) {
      return r.status().with_context("reading this node's swarm TLS file " + dir + name +
                                     " (if it is lost, `swarm leave --force` and join again)");
    }
    *out = std::move(*r);
    return ok_status();
  };
  SHOAL_RETURN_IF_ERROR(read(kCaFile, false, &t.ca_pem));
  SHOAL_RETURN_IF_ERROR(read(kCertFile, false, &t.cert_pem));
  SHOAL_RETURN_IF_ERROR(read(kKeyFile, true, &t.key_pem));
  return t;
}

JoinTokenCache::JoinTokenCache(const Clock* clock) : clock_(clock ? *clock : real_clock_) {}

bool JoinTokenCache::fresh(const std::string& swarm, int64_t revision) const {
  if (!entry_ || swarm_ != swarm || revision_ != revision) return false;
  return entry_->ok() || clock_.now() < failed_until_;
}

Result<JoinTokens> JoinTokenCache::get(const std::string& swarm, int64_t store_revision,
                                       const std::function<Result<JoinTokens>()>& load) {
  std::unique_lock lk(mu_);
  loaded_cv_.wait(lk, [&] { return !loading_ || fresh(swarm, store_revision); });
  if (fresh(swarm, store_revision)) return *entry_;
  loading_ = true;
  uint64_t generation = generation_;
  lk.unlock();
  Result<JoinTokens> loaded = unavailable("loading the join tokens failed");
  try {
    loaded = load();
  } catch (...) {
    lk.lock();
    loading_ = false;
    loaded_cv_.notify_all();
    throw;
  }
  lk.lock();
  loading_ = false;
  if (generation == generation_) {  // an invalidate() meanwhile: this load may predate the rotation
    entry_ = loaded;
    swarm_ = swarm;
    revision_ = store_revision;
    failed_until_ = clock_.now() + kFailureTtl;
  }
  loaded_cv_.notify_all();
  return loaded;
}

void JoinTokenCache::invalidate() {
  std::lock_guard lk(mu_);
  entry_.reset();
  ++generation_;
}

Result<NodeTls> issue_manager_tls(const ca::RootCA& root, const std::string& node_id, const std::string& cluster_id) {
  SHOAL_ASSIGN_OR_RETURN(ca::NodeKeyAndCsr kc, ca::new_node_key_and_csr());
  SHOAL_ASSIGN_OR_RETURN(std::string cert, ca::sign_node_csr(root, kc.csr_pem, node_id, ca::kManagerRole, cluster_id));
  return NodeTls{root.cert_pem, cert, kc.key_pem};
}

http::TlsOptions manager_client_tls(const NodeTls& tls) {
  http::TlsOptions o;
  o.ca_pem = tls.ca_pem;
  o.cert_pem = tls.cert_pem;
  o.key_pem = tls.key_pem;
  o.server_name = ca::kManagerRole;
  return o;
}

void serve_ca(const CaServiceParts& parts, http::Exchange ex) {
  std::string op = ex.request.path.substr(std::string(kCaPrefix).size());
  if (op == "root-ca" && ex.request.method == "GET") {
    ex.respond(reply(200, {{"Certificate", parts.root_ca_cert()}}));
  } else if (op == "join" && ex.request.method == "POST") {
    handle_join(parts, ex);
  } else if (op == "manager-join" && ex.request.method == "POST") {
    handle_manager_join(parts, ex);
  } else if (op == "manager-promote" && ex.request.method == "POST") {
    handle_manager_promote(parts, ex);
  } else {
    ex.respond(error_reply(404, "unknown CA call " + ex.request.method + " " + quote_input(op)));
  }
}

Result<Joined> join_swarm(const JoinParams& p) {
  SHOAL_RETURN_IF_ERROR(ca::parse_join_token(p.token).status());
  if (p.remote_addrs.empty()) return invalid_argument("at least 1 RemoteAddr is required to join");
  Status last = unavailable("no manager address given");
  for (const auto& a : p.remote_addrs) {
    std::string addr = with_swarm_port(a);
    auto j = join_via(addr, p);
    if (j.ok()) return j;
    last = j.status();
    // Refusals are final; an unreachable manager lets us try the next one.
    if (last.code() != Code::kUnavailable && last.code() != Code::kDeadlineExceeded) return last;
    LOG_INFO("join", "manager " << addr << " did not answer: " << last.message());
  }
  return unavailable("cannot reach a manager to join (" + last.message() +
                     "): check the address and port (2377 by default) and that the manager listens there");
}

Result<Promoted> fetch_promotion(const std::vector<std::string>& managers, const NodeTls& worker_tls,
                                 const std::string& advertise_addr) {
  SHOAL_ASSIGN_OR_RETURN(ca::NodeKeyAndCsr node, ca::new_node_key_and_csr());
  SHOAL_ASSIGN_OR_RETURN(ca::NodeKeyAndCsr member, ca::new_node_key_and_csr());
  SHOAL_ASSIGN_OR_RETURN(ca::NodeKeyAndCsr client, ca::new_node_key_and_csr());
  json req = {{"CSR", node.csr_pem}, {"MemberCSR", member.csr_pem}, {"ClientCSR", client.csr_pem},
              {"AdvertiseAddr", advertise_addr}};
  Status last = unavailable("no manager address known");
  for (const auto& addr : managers) {
    auto r = http::Client("https://" + addr, manager_client_tls(worker_tls))
                 .request("POST", std::string(kCaPrefix) + "manager-promote", req.dump(), {}, kManagerJoinTimeout);
    if (!r.ok()) {
      last = r.status().with_context("manager " + addr);
      continue;  // unreachable: the next manager
    }
    if (r->status != 200) {
      last = answer_status(*r, addr);
      if (last.code() == Code::kUnavailable) continue;
      return last;
    }
    std::string cert;
    try {
      cert = json::parse(r->body).at("Certificate").get<std::string>();
    } catch (const std::exception&) {
      return internal_error("manager " + addr + " answered a malformed manager-promote response");
    }
    SHOAL_ASSIGN_OR_RETURN(ManagerGrant g, parse_grant(r->body, addr));
    g.member_key_pem = std::move(member.key_pem);
    g.client_key_pem = std::move(client.key_pem);
    return Promoted{NodeTls{worker_tls.ca_pem, cert, node.key_pem}, std::move(g)};
  }
  return last.with_context("promoting this node to a manager");
}

}  // namespace shoal::node
