// The CLI's view of the Docker Engine API: JSON requests on /v1.41 paths over
// shoal::http::Client, with error mapping to the docker CLI's wording:
// an API error is "Error response from daemon: <message>", a transport
// failure is "Cannot connect to the shoal daemon at <host>. Is shoald running?".
// Not thread-safe except for stream() (which uses its own connection).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace shoal::http {
class Client;
}

namespace shoal::cli {

inline constexpr const char* kDefaultHost = "unix:///run/shoal/shoal.sock";
inline constexpr const char* kApiPrefix = "/v1.41";

class ApiClient {
 public:
  explicit ApiClient(std::string host);
  ~ApiClient();

  // path is relative to /v1.41, e.g. "/services?status=true".
  // On a non-2xx answer the Status code follows the HTTP status (404 ->
  // kNotFound) and the message is the CLI text to print.
  Result<nlohmann::json> get(const std::string& path);
  // `headers`: extra request headers (X-Registry-Auth).
  Result<nlohmann::json> post(const std::string& path, const nlohmann::json& body = nullptr,
                              const std::vector<std::pair<std::string, std::string>>& headers = {});
  Result<nlohmann::json> del(const std::string& path);
  // Raw request; returns the body text on 2xx.
  Result<std::string> send(const std::string& method, const std::string& path, const std::string& body,
                           const std::string& content_type, int timeout_seconds = 120,
                           const std::vector<std::pair<std::string, std::string>>& headers = {});
  // Streams the response body to on_data until it ends or cancel is set.
  // `headers`: extra request headers (X-Registry-Auth).
  Status stream(const std::string& method, const std::string& path, const std::string& body,
                const std::function<bool(const std::string&)>& on_data, const std::atomic<bool>& cancel,
                const std::vector<std::pair<std::string, std::string>>& headers = {});

  const std::string& host() const { return host_; }

 private:
  Status connect_error() const;
  std::string host_;
  std::unique_ptr<http::Client> client_;
};

// Percent-encodes a query parameter value.
std::string query_escape(const std::string& s);
// Builds the filters= JSON docker sends: {"key":{"value":true}}.
nlohmann::json filters_json(const std::vector<std::pair<std::string, std::string>>& kv);

}  // namespace shoal::cli
