#include "manager/api/registry_auth.h"

#include "common/base64.h"
#include "common/image_reference.h"
#include "common/json_limits.h"

namespace shoal::api {

namespace {

constexpr const char* kFields[] = {"username",      "password",      "serveraddress", "email",
                                   "registrytoken", "identitytoken", "auth"};

bool known_field(const std::string& k) {
  for (const char* f : kFields)
    if (k == f) return true;
  return false;
}

}  // namespace

std::string registry_auth_context(const std::string& service_id) { return "registry-auth:" + service_id; }

Result<std::optional<RegistryAuthHeader>> read_registry_auth(const http::Request& req) {
  auto h = req.headers.find("X-Registry-Auth");
  if (h == req.headers.end() || h->second.empty()) return std::optional<RegistryAuthHeader>{};
  const std::string what =
      "the X-Registry-Auth header is not base64 of a JSON object (what docker login's credentials encode to)";
  auto text = base64_decode(h->second);  // base64url, padding optional (as Docker accepts it)
  if (!text.ok()) return text.status().with_context(what);
  auto j = parse_untrusted_json(*text, "the X-Registry-Auth header");
  if (!j.ok() || !j->is_object()) return invalid_argument(what);
  auto field = [&](const char* k) {
    auto it = j->find(k);
    return it == j->end() ? std::string() : it->get<std::string>();
  };
  for (auto it = j->begin(); it != j->end(); ++it) {
    if (!known_field(it.key())) {
      return invalid_argument("the X-Registry-Auth header has an unknown field \"" + shown_input(it.key(), 40) +
                              "\": its JSON takes username, password, serveraddress, email, registrytoken, "
                              "identitytoken and auth");
    }
    if (!it->is_string()) {
      return invalid_argument("the X-Registry-Auth header's \"" + it.key() + "\" is not a string");
    }
  }
  RegistryAuthHeader out;
  if (std::string a = field("auth"); !a.empty() && field("username").empty() && field("password").empty()) {
    // "auth" alone (docker login's config.json form): the nodes decode it
    // (agent::parse_registry_auth); it must be base64 of user:password.
    auto plain = base64_decode(a);
    if (!plain.ok() || plain->find(':') == std::string::npos) {
      return invalid_argument(
          "the X-Registry-Auth header's \"auth\" is not base64 of user:password: run docker login again");
    }
    out.value = h->second;
    return std::optional<RegistryAuthHeader>{out};
  }
  bool password = !field("username").empty() || !field("password").empty();
  bool token = !field("registrytoken").empty();
  if (!password && !token) {
    if (!field("identitytoken").empty()) {
      return unimplemented(
          "registry identity tokens (OAuth refresh tokens from `docker login` to some registries) are not "
          "supported: log in with a username and password or an access token");
    }
    return std::optional<RegistryAuthHeader>{out};  // no credentials: none stored
  }
  out.value = h->second;
  return std::optional<RegistryAuthHeader>{out};
}

Result<std::string> bind_registry_auth(const std::string& header_value, const std::string& image) {
  auto ref = parse_reference(image);
  if (!ref.ok()) return header_value;
  auto text = base64_decode(header_value);
  if (!text.ok()) return text.status().with_context("the X-Registry-Auth header");  // read_registry_auth checked it
  auto j = parse_untrusted_json(*text, "the X-Registry-Auth header");
  if (!j.ok() || !j->is_object()) return invalid_argument("the X-Registry-Auth header is not a JSON object");
  std::string server = j->value("serveraddress", "");
  if (server.empty()) {
    (*j)["serveraddress"] = ref->domain;
    return base64_encode(j->dump());
  }
  if (!credentials_are_for(server, ref->domain)) {
    return invalid_argument("the X-Registry-Auth credentials are for the registry " +
                            shown_input(registry_of_address(server), 100) + ", but the service's image " +
                            shown_input(image, 200) + " is on " + ref->domain + ": send the credentials for " +
                            ref->domain + " (`docker login " + ref->domain + "`)");
  }
  return header_value;
}

}  // namespace shoal::api
