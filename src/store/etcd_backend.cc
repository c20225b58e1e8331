#include "store/etcd_backend.h"

#include <openssl/evp.h>

#include <atomic>
#include <thread>

#include "common/log.h"
#include "model/objects.h"

namespace shoal {

std::string base64_encode(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string base64_decode(const std::string& in) {
  if (in.empty()) return "";
  std::string out(3 * in.size() / 4 + 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) return "";
  size_t pad = 0;
  if (in.size() >= 1 && in[in.size() - 1] == '=') ++pad;
  if (in.size() >= 2 && in[in.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

namespace {

int64_t as_int(const json& j, const char* key) {
  if (!j.contains(key)) return 0;
  const json& v = j[key];
  if (v.is_string()) return std::stoll(v.get<std::string>());
  if (v.is_number()) return v.get<int64_t>();
  return 0;
}

KeyValue kv_from(const json& j) {
  KeyValue kv;
  kv.key = base64_decode(j.value("key", ""));
  kv.value = base64_decode(j.value("value", ""));
  kv.create_revision = as_int(j, "create_revision");
  kv.mod_revision = as_int(j, "mod_revision");
  kv.lease = as_int(j, "lease");
  return kv;
}

std::string range_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    unsigned char c = static_cast<unsigned char>(end.back());
    if (c < 0xff) {
      end.back() = static_cast<char>(c + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

json op_json(const TxnOp& op) {
  switch (op.type) {
    case TxnOp::Type::kPut: {
      json p = {{"key", base64_encode(op.key)}, {"value", base64_encode(op.value)}};
      if (op.lease) p["lease"] = std::to_string(op.lease);
      return {{"request_put", p}};
    }
    case TxnOp::Type::kDelete:
      return {{"request_delete_range", {{"key", base64_encode(op.key)}}}};
    case TxnOp::Type::kGet:
      return {{"request_range", {{"key", base64_encode(op.key)}}}};
  }
  return json::object();
}

class EtcdWatch : public WatchHandle {
 public:
  EtcdWatch(std::string url, http::TlsOptions tls, std::string body, std::function<void(const std::vector<WatchEvent>&)> on_events,
            std::function<void(const Status&)> on_error)
      : client_(std::move(url), std::move(tls)) {
    thread_ = std::thread([this, body = std::move(body), on_events = std::move(on_events),
                           on_error = std::move(on_error)] {
      std::string buffer;
      bool failed = false;
      Status result;
      Status st = client_.stream("POST", "/v3/watch", body, [&](const std::string& data) {
        buffer += data;
        size_t nl;
        // The gateway writes one JSON message per line.
        while ((nl = buffer.find('\n')) != std::string::npos) {
          std::string line = buffer.substr(0, nl);
          buffer.erase(0, nl + 1);
          if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
          try {
            json msg = json::parse(line);
            if (msg.contains("error")) {
              result = unavailable("etcd watch error: " + msg["error"].dump());
              failed = true;
              return false;
            }
            const json& r = msg.value("result", json::object());
            if (as_int(r, "compact_revision") > 0 || r.value("canceled", false)) {
              result = unavailable("etcd watch canceled (compacted at " +
                                   std::to_string(as_int(r, "compact_revision")) + ")");
              failed = true;
              return false;
            }
            if (!r.contains("events")) continue;
            std::vector<WatchEvent> evs;
            for (const auto& e : r["events"]) {
              WatchEvent we;
              we.type = e.value("type", "PUT") == "DELETE" ? WatchEvent::Type::kDelete : WatchEvent::Type::kPut;
              we.kv = kv_from(e.value("kv", json::object()));
              evs.push_back(std::move(we));
            }
            if (!evs.empty()) on_events(evs);
          } catch (const std::exception& ex) {
            result = internal_error(std::string("bad etcd watch message: ") + ex.what());
            failed = true;
            return false;
          }
        }
        return true;
      }, cancel_);
      if (cancel_) return;
      if (!failed) result = st.ok() ? unavailable("etcd closed the watch stream") : st;
      on_error(result);
    });
  }
  ~EtcdWatch() override {
    cancel_ = true;
    client_.cancel();  // ends a connect or write stuck on a hung etcd at once
    if (thread_.joinable()) thread_.join();
  }

 private:
  http::Client client_;
  std::atomic<bool> cancel_{false};
  std::thread thread_;
};

}  // namespace

EtcdBackend::EtcdBackend(std::string url, size_t max_txn_ops, http::TlsOptions tls, EtcdCallTimeouts timeouts)
    : url_(std::move(url)),
      tls_(std::move(tls)),
      timeouts_(timeouts),
      max_txn_ops_(max_txn_ops),
      client_(std::make_shared<http::Client>(url_, tls_)) {}

EtcdBackend::~EtcdBackend() = default;

std::shared_ptr<http::Client> EtcdBackend::client() const {
  std::lock_guard lk(client_mu_);
  return client_;
}

void EtcdBackend::cancel() {
  std::lock_guard lk(client_mu_);
  cancelled_ = true;
  client_->cancel();  // only posts closes: never blocks on etcd
}

void EtcdBackend::resume() {
  std::lock_guard lk(client_mu_);
  if (!cancelled_) return;
  cancelled_ = false;
  client_ = std::make_shared<http::Client>(url_, tls_);
}

Result<std::string> EtcdBackend::post(const std::string& path, const std::string& body,
                                      std::chrono::milliseconds timeout, http::Idempotent idempotent) {
  http::Headers headers;
  if (timeouts_.require_leader) headers["Grpc-Metadata-hasleader"] = "true";
  auto r = client()->request("POST", path, body, headers, timeout, idempotent);
  if (!r.ok()) return r.status().with_context("etcd at " + url_);
  if (r->status != 200) {
    std::string msg = r->body;
    try {
      msg = json::parse(r->body).value("error", r->body);
    } catch (...) {
    }
    if (r->status >= 500 || r->status == 429) return unavailable("etcd at " + url_ + ": " + msg);
    return internal_error("etcd at " + url_ + " refused " + path + ": " + msg);
  }
  return std::move(r->body);
}

Result<RangeResult> EtcdBackend::range(const std::string& key, bool prefix) {
  json req = {{"key", base64_encode(key)}};
  if (prefix) req["range_end"] = base64_encode(range_end(key));
  SHOAL_ASSIGN_OR_RETURN(std::string body, post("/v3/kv/range", req.dump(), timeouts_.read, http::Idempotent::kYes));
  try {
    json j = json::parse(body);
    RangeResult out;
    out.revision = as_int(j.value("header", json::object()), "revision");
    for (const auto& kv : j.value("kvs", json::array())) out.kvs.push_back(kv_from(kv));
    return out;
  } catch (const std::exception& e) {
    return internal_error(std::string("bad etcd range answer: ") + e.what());
  }
}

Result<TxnResult> EtcdBackend::txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                                   const std::vector<TxnOp>& failure) {
  json req = {{"compare", json::array()}, {"success", json::array()}, {"failure", json::array()}};
  for (const auto& c : compares) {
    json cj = {{"key", base64_encode(c.key)}, {"result", "EQUAL"}};
    if (c.target == Compare::Target::kValue) {
      cj["target"] = "VALUE";
      cj["value"] = base64_encode(c.text);
    } else if (c.target == Compare::Target::kCreateRevision) {
      cj["target"] = "CREATE";
      cj["create_revision"] = std::to_string(c.value);
    } else {
      cj["target"] = "MOD";
      cj["mod_revision"] = std::to_string(c.value);
    }
    req["compare"].push_back(cj);
  }
  for (const auto& op : success) req["success"].push_back(op_json(op));
  for (const auto& op : failure) req["failure"].push_back(op_json(op));
  SHOAL_ASSIGN_OR_RETURN(std::string body, post("/v3/kv/txn", req.dump(), timeouts_.write));
  try {
    json j = json::parse(body);
    TxnResult out;
    out.succeeded = j.value("succeeded", false);
    out.revision = as_int(j.value("header", json::object()), "revision");
    for (const auto& r : j.value("responses", json::array())) {
      if (!r.contains("response_range")) continue;
      for (const auto& kv : r["response_range"].value("kvs", json::array())) out.get_results.push_back(kv_from(kv));
    }
    return out;
  } catch (const std::exception& e) {
    return internal_error(std::string("bad etcd txn answer: ") + e.what());
  }
}

std::unique_ptr<WatchHandle> EtcdBackend::watch(const std::string& prefix, int64_t from_revision,
                                                std::function<void(const std::vector<WatchEvent>&)> on_events,
                                                std::function<void(const Status&)> on_error) {
  json req = {{"create_request",
               {{"key", base64_encode(prefix)},
                {"range_end", base64_encode(range_end(prefix))},
                {"start_revision", std::to_string(from_revision)}}}};
  return std::make_unique<EtcdWatch>(url_, tls_, req.dump(), std::move(on_events), std::move(on_error));
}

Result<int64_t> EtcdBackend::lease_grant(int64_t ttl_seconds) {
  SHOAL_ASSIGN_OR_RETURN(std::string body, post("/v3/lease/grant", json{{"TTL", std::to_string(ttl_seconds)}}.dump(), timeouts_.lease));
  try {
    return as_int(json::parse(body), "ID");
  } catch (const std::exception& e) {
    return internal_error(std::string("bad etcd lease answer: ") + e.what());
  }
}

Status EtcdBackend::lease_keepalive(int64_t lease_id) {
  auto body = post("/v3/lease/keepalive", json{{"ID", std::to_string(lease_id)}}.dump(), timeouts_.lease,
                   http::Idempotent::kYes);
  if (!body.ok()) return body.status();
  try {
    json j = json::parse(*body);
    // The gateway streams keepalives: an error (no leader, a timeout) comes
    // as {"error": ...} in a 200 answer. Only etcd's "lease not found", or a
    // TTL of 0, says the lease is gone (the elector steps down at once on it).
    if (j.contains("error")) {
      std::string e = j["error"].dump();
      if (e.find("not found") != std::string::npos) return not_found("lease expired: " + e);
      return unavailable("etcd at " + url_ + ": lease keepalive: " + e);
    }
    if (as_int(j.value("result", json::object()), "TTL") <= 0) return not_found("lease expired");
  } catch (const std::exception& e) {
    return internal_error(std::string("bad etcd keepalive answer: ") + e.what());
  }
  return ok_status();
}

Status EtcdBackend::lease_revoke(int64_t lease_id) {
  auto body = post("/v3/lease/revoke", json{{"ID", std::to_string(lease_id)}}.dump(), timeouts_.lease);
  return body.ok() ? ok_status() : body.status();
}

Status EtcdBackend::wait_healthy(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  Status last;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = range("/shoal/health-probe", false);
    if (r.ok()) return ok_status();
    last = r.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return unavailable("etcd at " + url_ + " did not become healthy: " + last.message());
}

}  // namespace shoal
