#include "manager/api/registry_auth.h"

#include "common/base64.h"
#include "common/json_limits.h"

namespace shoal::api {

Status refuse_registry_auth(const http::Request& req) {
  auto h = req.headers.find("X-Registry-Auth");
  if (h == req.headers.end() || h->second.empty()) return ok_status();
  const std::string what =
      "the X-Registry-Auth header is not base64 of a JSON object (what docker login's credentials encode to)";
  auto text = base64_decode(h->second);  // base64url, padding optional (as Docker accepts it)
  if (!text.ok()) return text.status().with_context(what);
  auto j = parse_untrusted_json(*text, "the X-Registry-Auth header");
  if (!j.ok() || !j->is_object()) return invalid_argument(what);
  for (const char* key : {"username", "password", "auth", "identitytoken", "registrytoken"}) {
    auto it = j->find(key);
    if (it != j->end() && it->is_string() && !it->get<std::string>().empty()) {
      return unimplemented(
          "--with-registry-auth is not supported yet: nodes pull a service's image anonymously. Pull it on each "
          "node beforehand (docker login and docker pull against that node) or use a registry that allows "
          "anonymous pulls, and create the service without --with-registry-auth");
    }
  }
  return ok_status();
}

}  // namespace shoal::api
