#include "cli/api_client.h"

#include "http/client.h"

namespace shoal::cli {

using nlohmann::json;

ApiClient::ApiClient(std::string host) : host_(std::move(host)) {
  std::string ep = host_;
  client_ = std::make_unique<http::Client>(ep);
}

ApiClient::~ApiClient() = default;

Status ApiClient::connect_error() const {
  return unavailable("Cannot connect to the shoal daemon at " + host_ + ". Is shoald running?");
}

static Code code_for(int status) {
  switch (status) {
    case 400: return Code::kInvalidArgument;
    case 403: return Code::kPermissionDenied;
    case 404: return Code::kNotFound;
    case 409: return Code::kConflict;
    case 503: return Code::kUnavailable;
    default: return Code::kInternal;
  }
}

Result<std::string> ApiClient::send(const std::string& method, const std::string& path, const std::string& body,
                                    const std::string& content_type, int timeout_seconds,
                                    const std::vector<std::pair<std::string, std::string>>& headers) {
  http::Headers h;
  for (const auto& [k, v] : headers) h[k] = v;
  if (!content_type.empty()) h["Content-Type"] = content_type;
  h["User-Agent"] = "shoal-cli/0.1.0";
  auto r = client_->request(method, std::string(kApiPrefix) + path, body, h, std::chrono::seconds(timeout_seconds));
  if (!r.ok()) {
    if (r.status().code() == Code::kDeadlineExceeded)
      return Status(Code::kDeadlineExceeded, "request to " + host_ + " timed out");
    return connect_error();
  }
  if (r->status >= 200 && r->status < 300) return r->body;
  std::string msg = r->body;
  try {
    json j = json::parse(r->body);
    if (j.is_object() && j.contains("message") && j["message"].is_string()) msg = j["message"].get<std::string>();
  } catch (const std::exception&) {
  }
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
  if (msg.empty()) msg = "HTTP status " + std::to_string(r->status);
  return Status(code_for(r->status), "Error response from daemon: " + msg);
}

static Result<json> parse_body(const std::string& text) {
  if (text.empty()) return json(nullptr);
  try {
    return json::parse(text);
  } catch (const std::exception& e) {
    return internal_error(std::string("invalid JSON from daemon: ") + e.what());
  }
}

Result<json> ApiClient::get(const std::string& path) {
  SHOAL_ASSIGN_OR_RETURN(std::string body, send("GET", path, "", ""));
  return parse_body(body);
}

Result<json> ApiClient::post(const std::string& path, const json& body,
                             const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string b = body.is_null() ? "" : body.dump();
  SHOAL_ASSIGN_OR_RETURN(std::string text, send("POST", path, b, b.empty() ? "" : "application/json", 120, headers));
  return parse_body(text);
}

Result<json> ApiClient::del(const std::string& path) {
  SHOAL_ASSIGN_OR_RETURN(std::string body, send("DELETE", path, "", ""));
  return parse_body(body);
}

Status ApiClient::stream(const std::string& method, const std::string& path, const std::string& body,
                         const std::function<bool(const std::string&)>& on_data, const std::atomic<bool>& cancel,
                         const std::vector<std::pair<std::string, std::string>>& headers) {
  int status = 0;
  http::Headers hs;
  for (const auto& [k, v] : headers) hs[k] = v;
  std::string error_body;
  bool first = true;
  auto cb = [&](const std::string& piece) {
    if (first) first = false;
    if (status != 0 && (status < 200 || status >= 300)) {
      error_body += piece;
      return true;
    }
    return on_data(piece);
  };
  Status st = client_->stream(method, std::string(kApiPrefix) + path, body, cb, cancel, &status, hs);
  if (!st.ok() && status == 0) return connect_error();
  if (status >= 300) {
    std::string msg = error_body;
    try {
      json j = json::parse(error_body);
      if (j.contains("message")) msg = j["message"].get<std::string>();
    } catch (const std::exception&) {
    }
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    return Status(code_for(status), "Error response from daemon: " + msg);
  }
  return st;
}

std::string query_escape(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

json filters_json(const std::vector<std::pair<std::string, std::string>>& kv) {
  json f = json::object();
  for (const auto& [k, v] : kv) f[k][v] = true;
  return f;
}

}  // namespace shoal::cli
