#include "daemon/distribution_route.h"

#include <openssl/evp.h>

#include <atomic>
#include <memory>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "agent/registry_client.h"
#include "agent/runtime/image_store.h"
#include "common/image_reference.h"
#include "common/json_limits.h"
#include "manager/api/api.h"

namespace shoal::daemon {

namespace {

std::string sha256_digest(const std::string& s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(s.data(), s.size(), md, &n, EVP_sha256(), nullptr) != 1) return "";
  std::string out = "sha256:";
  char hex[3];
  for (unsigned int i = 0; i < n; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", md[i]);
    out += hex;
  }
  return out;
}

json answer_json(const agent::TopManifest& top) {
  json platforms = json::array();
  for (const auto& p : top.platforms) {
    json pj = {{"architecture", p.architecture}, {"os", p.os}};
    if (!p.variant.empty()) pj["variant"] = p.variant;
    platforms.push_back(std::move(pj));
  }
  const auto& d = top.descriptor;
  return {{"Descriptor", {{"mediaType", d.media_type}, {"digest", d.digest}, {"size", d.size}}},
          {"Platforms", platforms}};
}

// The platform an image config names ({"os","architecture","variant"}).
Result<agent::Platform> config_platform(const std::string& path, size_t cap) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return internal_error("reading the image config " + path + " failed");
  std::string body(cap + 1, '\0');
  in.read(body.data(), static_cast<std::streamsize>(body.size()));
  body.resize(static_cast<size_t>(in.gcount()));
  if (body.size() > cap) return internal_error("the image config " + path + " is larger than " + std::to_string(cap) + " bytes");
  SHOAL_ASSIGN_OR_RETURN(json j, parse_untrusted_json(body, "the image config"));
  auto str = [&](const char* k) { return j.is_object() && j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : ""; };
  return agent::Platform{str("os"), str("architecture"), str("variant")};
}

// The answer from the local store, when it has an image under `name`:
// kNotFound (with the reason) when that image has no usable registry
// digest; kFailedPrecondition "absent" when there is no such image at all.
Result<agent::TopManifest> local_answer(runtime::ImageStore& images, const Reference& ref, const std::string& name) {
  auto img = images.resolve(ref.familiar());
  if (!img.ok()) {
    if (img.status().code() == Code::kNotFound) return failed_precondition("absent");
    return img.status();
  }
  const std::string prefix = ref.familiar_name() + "@";
  std::string digest;
  for (const auto& d : img->info.digests) {
    if (d.rfind(prefix, 0) == 0 && (ref.digest.empty() || d == prefix + ref.digest)) digest = d.substr(prefix.size());
  }
  auto unpinned = [&](const std::string& why) {
    return not_found("the image " + shown_input(name) + " is on this node " + why +
                     ": there is no registry digest to pin (" +
                     (ref.domain == "docker.io" ? std::string("a docker.io name on the node is not asked of Docker Hub")
                                                : std::string("its registry did not answer")) +
                     "); the service runs the local image");
  };
  if (digest.empty()) return unpinned("without a registry digest for " + ref.familiar_name() + " (loaded, imported or pulled under another name)");
  auto src = images.push_source(img->info.id);
  if (!src.ok() || src->manifest.empty() || sha256_digest(src->manifest) != digest) {
    return unpinned("without the manifest of " + digest + " (stored before manifests were kept: pull it again)");
  }
  agent::TopManifest top;
  top.descriptor = {src->manifest_media_type, digest, static_cast<int64_t>(src->manifest.size())};
  SHOAL_ASSIGN_OR_RETURN(agent::Platform p, config_platform(src->config.path, images.limits().max_json_bytes));
  top.platforms.push_back(p);
  return top;
}

// The HTTP status of a registry failure (see the header).
http::Response registry_error(const Status& st) {
  const std::string& m = st.message();
  switch (st.code()) {
    case Code::kNotFound:
      return api::error_response(m.rfind("pull access denied", 0) == 0 ? 401 : 404, m);
    case Code::kPermissionDenied: return api::error_response(403, m);
    case Code::kUnavailable:
    case Code::kDeadlineExceeded:
    case Code::kInvalidArgument: return api::error_response(502, m);  // unreachable, or a bad answer
    default: return api::error_response(st);
  }
}

}  // namespace

void serve_distribution(runtime::ImageStore& images, agent::RegistryClient* registry, http::Exchange& ex,
                        const std::string& name) {
  auto reply = [&](http::Response r) {
    r.headers["Api-Version"] = api::kApiVersion;
    ex.respond(std::move(r));
  };
  auto ref = parse_reference(name);
  if (!ref.ok()) return reply(api::error_response(ref.status()));
  auto local = local_answer(images, *ref, name);
  const bool absent = !local.ok() && local.status().code() == Code::kFailedPrecondition &&
                      local.status().message() == "absent";
  auto local_reply = [&] {
    return reply(local.ok() ? api::json_response(200, answer_json(*local)) : api::error_response(local.status()));
  };
  // A docker.io name on this node is never asked of Docker Hub.
  if (!absent && ref->domain == "docker.io") return local_reply();
  if (!registry) {
    if (!absent) return local_reply();
    return reply(api::error_response(unimplemented("this node cannot reach registries: no registry client")));
  }
  agent::RegistryCredentials creds;
  if (auto h = ex.request.headers.find("X-Registry-Auth"); h != ex.request.headers.end()) {
    auto c = agent::parse_registry_auth(h->second);
    if (!c.ok()) return reply(api::error_response(c.status()));
    creds = *c;
  }
  // Shared with the hook, which an I/O thread may run after this returns
  // (or throws): never a stack slot.
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  if (ex.on_client_gone) ex.on_client_gone([cancel] { *cancel = true; });
  auto top = registry->inspect(*ref, creds, cancel.get());
  if (top.ok()) return reply(api::json_response(200, answer_json(*top)));
  // No answer from the registry (unreachable, timed out, 5xx/429): the
  // node's own copy, if any. A refusal or a 404 is the registry's answer.
  bool no_answer = top.status().code() == Code::kUnavailable || top.status().code() == Code::kDeadlineExceeded;
  if (no_answer && !absent) return local_reply();
  reply(registry_error(top.status()));
}

}  // namespace shoal::daemon
