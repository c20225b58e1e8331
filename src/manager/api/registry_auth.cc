#include "manager/api/registry_auth.h"

#include "common/base64.h"
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
  bool password = !field("username").empty() || !field("password").empty();
  bool token = !field("registrytoken").empty();
  if (!password && !token) {
    if (!field("identitytoken").empty()) {
      return unimplemented(
          "registry identity tokens (OAuth refresh tokens from `docker login` to some registries) are not "
          "supported: log in with a username and password or an access token");
    }
    if (!field("auth").empty()) {
      return unimplemented(
          "the X-Registry-Auth header carries only \"auth\" (base64 user:password): send username and password "
          "instead (what the docker CLI sends)");
    }
    return std::optional<RegistryAuthHeader>{out};  // no credentials: none stored
  }
  out.value = h->second;
  return std::optional<RegistryAuthHeader>{out};
}

}  // namespace shoal::api
