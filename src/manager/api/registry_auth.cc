#include "manager/api/registry_auth.h"

#include "common/json_limits.h"
#include "store/etcd_backend.h"

namespace shoal::api {

Status refuse_registry_auth(const http::Request& req) {
  auto h = req.headers.find("X-Registry-Auth");
  if (h == req.headers.end() || h->second.empty()) return ok_status();
  std::string b64 = h->second;  // base64url, padding optional (as Docker accepts it)
  for (char& c : b64) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (b64.size() % 4) b64 += '=';
  const std::string text = base64_decode(b64);
  auto j = parse_untrusted_json(text, "the X-Registry-Auth header");
  if (text.empty() || !j.ok() || !j->is_object()) {
    return invalid_argument("the X-Registry-Auth header is not base64 of a JSON object (what docker login's credentials encode to)");
  }
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
