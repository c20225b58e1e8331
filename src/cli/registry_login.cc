#include "cli/registry_login.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/image_reference.h"

namespace shoal::cli {

namespace {

using nlohmann::json;

// "https://host/v1/" -> "host"; docker.io's index names Docker Hub.
std::string registry_of_key(std::string key) {
  for (const char* scheme : {"https://", "http://"})
    if (key.rfind(scheme, 0) == 0) key = key.substr(std::string(scheme).size());
  key = key.substr(0, key.find('/'));
  if (key == "index.docker.io" || key == "registry-1.docker.io") return "docker.io";
  return key;
}

// obj[key] if it is a string, else "".
std::string str(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string server_address(const std::string& domain) {
  return domain == "docker.io" ? "https://index.docker.io/v1/" : domain;
}

Result<std::string> config_path() {
  if (const char* d = std::getenv("DOCKER_CONFIG"); d && *d) return std::string(d) + "/config.json";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.docker/config.json";
  return std::string();
}

}  // namespace

Result<std::string> registry_auth_from_config(const std::string& image, const std::string& config_text,
                                              const std::string& path) {
  SHOAL_ASSIGN_OR_RETURN(Reference ref, parse_reference(image));
  json out = {{"serveraddress", server_address(ref.domain)}};
  if (config_text.empty()) return base64_encode(out.dump());
  json cfg = json::parse(config_text, nullptr, /*allow_exceptions=*/false);
  if (!cfg.is_object()) return invalid_argument(path + " is not JSON (docker login's config file): fix or remove it");
  json auths = cfg.contains("auths") ? cfg["auths"] : json::object();
  if (!auths.is_object()) return invalid_argument(path + ": \"auths\" is not an object");
  for (auto it = auths.begin(); it != auths.end(); ++it) {
    if (registry_of_key(it.key()) != ref.domain || !it->is_object()) continue;
    if (auto a = str(*it, "auth"); !a.empty()) {
      auto plain = base64_decode(a);
      size_t colon = plain.ok() ? plain->find(':') : std::string::npos;
      if (colon == std::string::npos) {
        return invalid_argument(path + ": the \"auth\" of " + it.key() +
                                " is not base64 of user:password: run docker login again");
      }
      out["username"] = plain->substr(0, colon);
      out["password"] = plain->substr(colon + 1);
    }
    for (const char* k : {"identitytoken", "registrytoken"})
      if (auto t = str(*it, k); !t.empty()) out[k] = t;
    break;
  }
  if (out.size() == 1) {  // nothing inline: is a helper meant to give it?
    auto helpers = cfg.find("credHelpers");
    bool helper = helpers != cfg.end() && helpers->is_object() && helpers->contains(ref.domain);
    if (helper || !str(cfg, "credsStore").empty()) {
      return unimplemented(path + " keeps the credentials of " + ref.domain +
                           " in a credential helper, which shoal cannot ask: log in with the credentials kept in the "
                           "file (a config without credsStore/credHelpers)");
    }
  }
  return base64_encode(out.dump());
}

Result<std::string> registry_auth_for(const std::string& image) {
  SHOAL_ASSIGN_OR_RETURN(std::string path, config_path());
  std::string text;
  if (!path.empty()) {
    std::ifstream f(path);
    if (f) {
      std::ostringstream ss;
      ss << f.rdbuf();
      text = ss.str();
    }
  }
  return registry_auth_from_config(image, text, path);
}

}  // namespace shoal::cli
