#include "agent/registry_client.h"
#include "agent/registry_tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <memory>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/json_limits.h"
#include "http/client.h"

namespace shoal::agent {

using nlohmann::json;

namespace {

constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
constexpr const char* kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr const char* kDockerSchema1 = "application/vnd.docker.distribution.manifest.v1";
constexpr int kMaxRedirects = 5;

std::string host_arch() {
  struct utsname u {};
  uname(&u);
  std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  if (m == "i686" || m == "i386") return "386";
  return m;
}

bool is_hex(const std::string& s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// "sha256:<64 lowercase hex>", the only algorithm we verify.
Status check_digest(const std::string& d, const std::string& what) {
  if (d.rfind("sha256:", 0) != 0) {
    return invalid_argument(what + " has the digest " + quote_input(d) +
                            ": only sha256 digests are supported (the registry's answer is corrupt or hostile)");
  }
  std::string hex = d.substr(7);
  if (hex.size() != 64 || !is_hex(hex)) return invalid_argument(what + " has the malformed digest " + quote_input(d));
  return ok_status();
}

std::string str(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

Result<Descriptor> descriptor(const json& j, const std::string& what, int64_t max_size) {
  if (!j.is_object()) return invalid_argument(what + " is not a descriptor object");
  Descriptor d;
  d.media_type = str(j, "mediaType");
  d.digest = str(j, "digest");
  SHOAL_RETURN_IF_ERROR(check_digest(d.digest, what));
  if (!j.contains("size") || !j["size"].is_number_integer()) return invalid_argument(what + " has no integer size");
  d.size = j["size"].get<int64_t>();
  if (d.size < 0 || d.size > max_size) {
    return invalid_argument(what + " " + d.digest + " says it has " + std::to_string(d.size) +
                            " bytes: more than the limit of " + std::to_string(max_size) + " bytes");
  }
  return d;
}

// Incremental sha256 (OpenSSL EVP).
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
  void update(const std::string& s) { EVP_DigestUpdate(ctx_.get(), s.data(), s.size()); }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &n);
    static const char* kHex = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < n; ++i) {
      out += kHex[md[i] >> 4];
      out += kHex[md[i] & 15];
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

std::string sha256_of(const std::string& s) {
  Sha256 h;
  h.update(s);
  return "sha256:" + h.hex();
}

// An IPv4 literal inside an IPv4 CIDR ("10.0.0.0/8").
bool in_cidr(const std::string& host, const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) return false;
  in_addr a{}, net{};
  if (inet_pton(AF_INET, host.c_str(), &a) != 1 || inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &net) != 1)
    return false;
  int bits = std::atoi(cidr.c_str() + slash + 1);
  if (bits < 0 || bits > 32) return false;
  uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
  return (ntohl(a.s_addr) & mask) == (ntohl(net.s_addr) & mask);
}

std::string host_of(const std::string& domain) {
  if (!domain.empty() && domain.front() == '[') return domain.substr(1, domain.find(']') - 1);
  auto colon = domain.rfind(':');
  return colon == std::string::npos ? domain : domain.substr(0, colon);
}

// "scheme://host[:port]" and "/path?query" of an absolute URL.
bool split_url(const std::string& url, std::string* endpoint, std::string* target) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return false;
  std::string scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return false;
  auto path = url.find('/', scheme_end + 3);
  *endpoint = url.substr(0, path);
  *target = path == std::string::npos ? "/" : url.substr(path);
  return endpoint->size() > scheme_end + 3;
}

// "scheme://host[:port]" compared as an origin (RFC 6454): scheme and host
// case-insensitive, the scheme's default port the same as none.
std::string origin_of(const std::string& endpoint) {
  std::string o = endpoint;
  for (char& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* dflt : {"http://", "https://"}) {
    const std::string port = std::string(dflt) == "http://" ? ":80" : ":443";
    if (o.rfind(dflt, 0) == 0 && o.size() > port.size() && o.compare(o.size() - port.size(), port.size(), port) == 0)
      o.resize(o.size() - port.size());
  }
  return o;
}

bool same_origin(const std::string& a, const std::string& b) { return origin_of(a) == origin_of(b); }

// Parses `Bearer realm="...",service="...",scope="..."` (or `Basic
// realm="..."`): the scheme (lowercase) and its parameters.
std::string parse_challenge(const std::string& h, std::map<std::string, std::string>* params) {
  size_t i = h.find(' ');
  std::string scheme = h.substr(0, i);
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (i != std::string::npos && i < h.size()) {
    while (i < h.size() && (h[i] == ' ' || h[i] == ',')) ++i;
    size_t eq = h.find('=', i);
    if (eq == std::string::npos) break;
    std::string key = h.substr(i, eq - i);
    std::string value;
    i = eq + 1;
    if (i < h.size() && h[i] == '"') {
      for (++i; i < h.size() && h[i] != '"'; ++i) {
        if (h[i] == '\\' && i + 1 < h.size()) ++i;
        value += h[i];
      }
      ++i;
    } else {
      size_t end = h.find(',', i);
      value = h.substr(i, end == std::string::npos ? std::string::npos : end - i);
      i = end;
    }
    (*params)[key] = value;
  }
  return scheme;
}

// The token cache's key: a token fetched with one set of credentials is
// never sent for a pull made with other (or no) credentials.
std::string token_key(const std::string& domain, const std::string& scope, const RegistryCredentials& creds) {
  return domain + " " + scope + " " + sha256_of(creds.username + '\0' + creds.password + '\0' + creds.registry_token);
}

std::string error_code(const std::string& body) {
  auto j = parse_untrusted_json(body, "the registry's error");
  if (!j.ok() || !j->is_object() || !j->contains("errors") || !(*j)["errors"].is_array() || (*j)["errors"].empty())
    return "";
  return str((*j)["errors"][0], "code");
}

// Calls client.cancel() once `cancel` becomes true (polled every 50 ms), so
// a request ends also while it connects, shakes hands or writes (which
// http::Client::stream ends early only on its own cancel()). Ends with its
// scope; `watch` false (a flag that can never be set): no thread.
class CancelWatch {
 public:
  CancelWatch(http::Client& client, const std::atomic<bool>& cancel, bool watch) {
    if (!watch) return;
    thread_ = std::thread([this, &client, &cancel] {
      std::unique_lock lk(mu_);
      while (!done_) {
        if (cancel) {
          client.cancel();
          return;
        }
        cv_.wait_for(lk, std::chrono::milliseconds(50));
      }
    });
  }
  ~CancelWatch() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lk(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace

std::string registry_error_text(int status, const std::string& body) {
  auto j = parse_untrusted_json(body, "the registry's error");
  if (j.ok() && j->is_object() && j->contains("errors") && (*j)["errors"].is_array() && !(*j)["errors"].empty()) {
    const json& e = (*j)["errors"][0];
    std::string code = str(e, "code"), msg = str(e, "message");
    for (char& c : code) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (char& c : code)
      if (c == '_') c = ' ';
    return shown_input(code + (msg.empty() ? "" : ": " + msg), 200);
  }
  return "HTTP " + std::to_string(status);
}

Result<RegistryCredentials> parse_registry_auth(const std::string& header) {
  RegistryCredentials c;
  if (header.empty()) return c;
  auto decoded = base64_decode(header);
  if (!decoded.ok()) return decoded.status().with_context("the X-Registry-Auth header");
  const std::string& text = *decoded;
  if (text.empty() || text == "{}") return c;
  // A fixed message: the parser's says what it last read, which may be the password.
  auto parsed = parse_untrusted_json(text, "the X-Registry-Auth header");
  if (!parsed.ok()) {
    return invalid_argument(
        "the X-Registry-Auth header is not valid JSON (base64url of {\"username\",\"password\",\"serveraddress\"}, "
        "nested at most 64 deep): send what `docker login` stored, encoded again");
  }
  const json& j = *parsed;
  if (!j.is_object()) return invalid_argument("the X-Registry-Auth header is not a JSON object");
  c.username = str(j, "username");
  c.password = str(j, "password");
  c.registry_token = str(j, "registrytoken");
  c.server_address = str(j, "serveraddress");
  if (std::string a = str(j, "auth"); !a.empty() && c.username.empty() && c.password.empty()) {
    // "auth" alone: base64 of user:password, as docker login's config.json keeps it.
    auto plain = base64_decode(a);
    size_t colon = plain.ok() ? plain->find(':') : std::string::npos;
    if (colon == std::string::npos) {
      return invalid_argument("the X-Registry-Auth header's \"auth\" is not base64 of user:password: run docker login again");
    }
    c.username = plain->substr(0, colon);
    c.password = plain->substr(colon + 1);
  }
  if (!str(j, "identitytoken").empty() && c.password.empty() && c.registry_token.empty()) {
    return unimplemented(
        "registry identity tokens (OAuth refresh tokens from `docker login` to some registries) are not supported: "
        "log in with a username and password or an access token");
  }
  return c;
}

std::string encode_registry_auth(const RegistryCredentials& creds, const std::string& server) {
  json j = {{"username", creds.username}, {"password", creds.password}, {"serveraddress", server}};
  if (!creds.registry_token.empty()) j["registrytoken"] = creds.registry_token;
  return base64_encode(j.dump());
}

RegistryClient::RegistryClient(RegistryOptions options) : options_(std::move(options)) {}
RegistryClient::~RegistryClient() = default;

bool RegistryClient::plain_http(const std::string& domain) const {
  if (has_certs_dir(options_, domain)) return false;  // the operator gave it a CA: https
  std::string host = host_of(domain);
  if (host == "localhost" || host == "::1" || in_cidr(host, "127.0.0.0/8")) return true;
  for (const auto& e : options_.insecure) {
    if (e == domain || e == host || in_cidr(host, e)) return true;
  }
  return false;
}

// Loopback and link-local: the node's own services (etcd's client port,
// metadata endpoints). Only a registry that is itself there may send a pull
// to one (a realm or a redirect), else a remote registry could make the node
// query its own loopback services and read the answers back as "tokens".
bool local_only(const std::string& domain) {
  std::string host = host_of(domain);
  std::string h = host;
  for (char& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (h.rfind("::ffff:", 0) == 0) h = h.substr(7);  // IPv4-mapped
  return h == "localhost" || h == "::1" || h == "::" || in_cidr(h, "127.0.0.0/8") || in_cidr(h, "0.0.0.0/8") ||
         in_cidr(h, "169.254.0.0/16") || h.rfind("fe80:", 0) == 0;
}

std::string RegistryClient::base_url(const std::string& domain) const {
  std::string host = domain == "docker.io" ? "registry-1.docker.io" : domain;
  return (plain_http(domain) ? "http://" : "https://") + host;
}

Result<RegistryClient::Answer> RegistryClient::get_url(const std::string& origin, const std::string& start_url,
                                                       const http::Headers& headers, size_t cap, const Sink& sink,
                                                       const std::atomic<bool>& cancel, const std::string& what) {
  std::string url = start_url;
  http::Headers hs = headers;
  for (int hop = 0; hop <= kMaxRedirects; ++hop) {
    std::string endpoint, target;
    if (!split_url(url, &endpoint, &target)) return invalid_argument(what + ": the registry sent the bad URL " + quote_input(url));
    // The TLS files of the registry the request is for (`origin`), as Docker:
    // a registry cannot borrow another's client certificate by redirecting
    // there; its client certificate only on its own origin.
    SHOAL_ASSIGN_OR_RETURN(http::TlsOptions tls, registry_tls(options_, origin, same_origin(endpoint, origin), endpoint));
    http::Client client(endpoint, tls);
    CancelWatch watch(client, cancel, &cancel != &never_);
    Answer a;
    Status sink_status;
    size_t got = 0;
    const auto started = std::chrono::steady_clock::now();
    auto on_data = [&](const std::string& piece) {
      got += piece.size();
      if (a.status == 200 && sink) {
        sink_status = sink(piece);
        return sink_status.ok();
      }
      if (got > cap) {
        sink_status = invalid_argument(what + ": the registry's answer is larger than the limit of " +
                                       std::to_string(cap) + " bytes");
        return false;
      }
      // A small answer (manifest, config, token, error) within
      // options_.timeout: a registry trickling a byte per idle timeout
      // would otherwise hold the pull (and every pull queued behind it).
      if (std::chrono::steady_clock::now() - started > options_.timeout) {
        sink_status = unavailable(what + ": the registry took more than " + std::to_string(options_.timeout.count()) +
                                  " ms to send a small answer");
        return false;
      }
      a.body += piece;
      return true;
    };
    // The status is known before the first piece (stream fills it first).
    int status = 0;
    http::Headers out;
    auto on_piece = [&](const std::string& piece) {
      a.status = status;
      return on_data(piece);
    };
    Status st = client.stream("GET", target, "", on_piece, cancel, &status, hs, &out, options_.idle_timeout);
    if (cancel) return unavailable(what + ": cancelled");
    // Bad TLS files (certs.d): the file's error, not "unreachable".
    if (st.code() == Code::kInvalidArgument) return st.with_context(what);
    if (!st.ok()) {
      std::string hint = endpoint.rfind("https://", 0) == 0
                             ? " (for a registry that serves plain http, start shoald with --insecure-registry HOST:PORT)"
                             : "";
      return unavailable("the registry " + shown_input(endpoint, 200) + " is unreachable: " + st.message() + hint);
    }
    SHOAL_RETURN_IF_ERROR(sink_status);
    a.status = status;
    a.headers = std::move(out);
    if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
      auto loc = a.headers.find("Location");
      if (loc == a.headers.end()) return invalid_argument(what + ": the registry redirected without a Location");
      std::string next = loc->second;
      if (next.rfind("/", 0) == 0) next = endpoint + next;
      std::string next_endpoint, ignored;
      if (!split_url(next, &next_endpoint, &ignored)) return invalid_argument(what + ": bad redirect " + quote_input(next));
      // Plain http only where the registry itself may be (loopback,
      // --insecure-registry): a redirect does not downgrade to it.
      if (next_endpoint.rfind("http://", 0) == 0 && !plain_http(next_endpoint.substr(7))) {
        return invalid_argument(what + ": the registry redirected to plain http (" + quote_input(next_endpoint) +
                                "), which shoald uses only for loopback and --insecure-registry hosts: refused");
      }
      if (local_only(next_endpoint.substr(next_endpoint.find("://") + 3)) &&
          !local_only(endpoint.substr(endpoint.find("://") + 3))) {
        return invalid_argument(what + ": the registry redirected to this node's own loopback or link-local addresses (" +
                                quote_input(next_endpoint) + "): refused");
      }
      if (next_endpoint != endpoint) hs.erase("Authorization");  // credentials stay with the registry
      url = next;
      continue;
    }
    a.endpoint = endpoint;
    return a;
  }
  return invalid_argument(what + ": more than " + std::to_string(kMaxRedirects) + " redirects");
}

Result<std::string> RegistryClient::authorize(const Reference& ref, const RegistryCredentials& creds,
                                              const std::string& challenge, const std::atomic<bool>& cancel,
                                              const std::string& want_scope) {
  std::map<std::string, std::string> p;
  std::string scheme = parse_challenge(challenge, &p);
  if (scheme == "basic") {
    if (creds.username.empty() && creds.password.empty()) return std::string();
    return "Basic " + base64_encode(creds.username + ":" + creds.password);
  }
  if (scheme != "bearer") return std::string();
  if (!creds.registry_token.empty()) return "Bearer " + creds.registry_token;
  std::string realm = p["realm"], endpoint, target;
  if (!split_url(realm, &endpoint, &target)) {
    return invalid_argument("the registry " + ref.domain + " names the bad token realm " + quote_input(realm));
  }
  std::string realm_host = endpoint.substr(endpoint.find("://") + 3);
  if (local_only(realm_host) && !local_only(ref.domain)) {
    return invalid_argument("the registry " + ref.domain + " names a token realm on this node's own loopback or "
                            "link-local addresses (" + quote_input(realm) + "): refused");
  }
  if (endpoint.rfind("http://", 0) == 0 && !plain_http(ref.domain) && !plain_http(realm_host)) {
    return invalid_argument("the registry " + ref.domain + " asks for credentials over plain http (" +
                            quote_input(realm) + "): refused");
  }
  std::string scope = !want_scope.empty() ? want_scope : p.count("scope") ? p["scope"] : "repository:" + ref.path + ":pull";
  std::string key = token_key(ref.domain, scope, creds);
  std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
  if (p.count("service")) url += "service=" + http::url_encode(p["service"]) + "&";
  url += "scope=" + http::url_encode(scope);
  http::Headers hs;
  if (!creds.username.empty() || !creds.password.empty())
    hs["Authorization"] = "Basic " + base64_encode(creds.username + ":" + creds.password);
  SHOAL_ASSIGN_OR_RETURN(Answer a, get_url(base_url(ref.domain), url, hs, options_.max_json_bytes, nullptr, cancel,
                                           "getting a token from " + endpoint));
  if (a.status == 401 || a.status == 403) {
    return Status(Code::kPermissionDenied, "the registry " + ref.domain + " refused the credentials (" +
                             registry_error_text(a.status, a.body) + "): check the username and password (`docker login " +
                             ref.domain + "`)");
  }
  if (a.status != 200) {
    return unavailable("getting a token from " + endpoint + " failed: " + registry_error_text(a.status, a.body));
  }
  SHOAL_ASSIGN_OR_RETURN(json j, parse_untrusted_json(a.body, "the token answer"));
  std::string token = str(j, "token");
  if (token.empty()) token = str(j, "access_token");
  if (token.empty()) return invalid_argument("the token answer of " + endpoint + " has no token");
  std::string value = "Bearer " + token;
  std::lock_guard lk(mu_);
  tokens_[key] = value;
  // What get() looks up, whatever scope was asked (with these credentials only).
  tokens_[token_key(ref.domain, "repository:" + ref.path + ":pull", creds)] = value;
  return value;
}

Result<RegistryClient::Answer> RegistryClient::get(const Reference& ref, const RegistryCredentials& creds,
                                                   const std::string& target, const http::Headers& headers,
                                                   size_t cap, const Sink& sink, const std::atomic<bool>& cancel) {
  http::Headers hs = headers;
  std::string scope_key = token_key(ref.domain, "repository:" + ref.path + ":pull", creds);
  {
    std::lock_guard lk(mu_);
    if (auto it = tokens_.find(scope_key); it != tokens_.end()) hs["Authorization"] = it->second;
  }
  const std::string url = base_url(ref.domain) + target;
  const std::string what = "GET " + url;
  SHOAL_ASSIGN_OR_RETURN(Answer a, get_url(base_url(ref.domain), url, hs, cap, sink, cancel, what));
  // Only the registry's own challenge is answered: a 401 from where it
  // redirected to (another host) would pick the realm our credentials go to.
  if (a.status != 401 || !same_origin(a.endpoint, base_url(ref.domain))) return a;
  auto challenge = a.headers.find("WWW-Authenticate");
  std::string auth;
  if (challenge != a.headers.end()) {
    SHOAL_ASSIGN_OR_RETURN(auth, authorize(ref, creds, challenge->second, cancel));
  }
  if (auth.empty() || auth == hs["Authorization"]) return a;  // nothing else to try: the caller says denied
  hs["Authorization"] = auth;
  return get_url(base_url(ref.domain), url, hs, cap, sink, cancel, what);
}

namespace {

Status denied_or(const Reference& ref, int status, const std::string& body, const std::string& what) {
  std::string code = error_code(body);
  if (status == 401 || status == 403 || code == "NAME_UNKNOWN" || code == "UNAUTHORIZED" || code == "DENIED") {
    return not_found("pull access denied for " + ref.familiar_name() +
                     ", repository does not exist or may require 'docker login': " + registry_error_text(status, body));
  }
  if (status == 404) return not_found(what + " not found: " + registry_error_text(status, body));
  if (status == 429) return unavailable("the registry " + ref.domain + " limits the rate of pulls: try again later (" +
                                        registry_error_text(status, body) + ")");
  return unavailable(what + ": the registry " + ref.domain + " answered " + registry_error_text(status, body));
}

}  // namespace

Result<std::string> RegistryClient::fetch_manifest(const Reference& ref, const RegistryCredentials& creds,
                                                   const std::string& tag_or_digest, Descriptor* self,
                                                   const std::atomic<bool>& cancel) {
  http::Headers hs;
  hs["Accept"] = std::string(kOciManifest) + ", " + kOciIndex + ", " + kDockerManifest + ", " + kDockerList;
  SHOAL_ASSIGN_OR_RETURN(Answer a, get(ref, creds, "/v2/" + ref.path + "/manifests/" + tag_or_digest, hs,
                                       options_.max_json_bytes, nullptr, cancel));
  const std::string name = ref.familiar_name() + (tag_or_digest.rfind("sha256:", 0) == 0 ? "@" : ":") + tag_or_digest;
  if (a.status != 200) return denied_or(ref, a.status, a.body, "manifest for " + name);
  std::string digest = sha256_of(a.body);
  if (tag_or_digest.rfind("sha256:", 0) == 0 && digest != tag_or_digest) {
    return invalid_argument("the manifest the registry sent for " + name + " hashes to " + digest +
                            ": corrupt or tampered with, refused");
  }
  auto dcd = a.headers.find("Docker-Content-Digest");
  if (dcd != a.headers.end() && dcd->second.rfind("sha256:", 0) == 0 && dcd->second != digest) {
    return invalid_argument("the manifest for " + name + " hashes to " + digest +
                            " but the registry says " + shown_input(dcd->second, 80) + ": refused");
  }
  self->digest = digest;
  self->size = static_cast<int64_t>(a.body.size());
  auto ct = a.headers.find("Content-Type");
  self->media_type = ct == a.headers.end() ? "" : ct->second.substr(0, ct->second.find(';'));
  return a.body;
}

Result<TopManifest> RegistryClient::inspect(const Reference& ref, const RegistryCredentials& creds,
                                            const std::atomic<bool>* cancel) {
  TopManifest top;
  SHOAL_ASSIGN_OR_RETURN(std::string body, fetch_manifest(ref, creds, ref.digest.empty() ? ref.tag : ref.digest,
                                                          &top.descriptor, or_never(cancel)));
  SHOAL_ASSIGN_OR_RETURN(json j, parse_untrusted_json(body, "the manifest of " + ref.familiar()));
  if (!j.is_object()) return invalid_argument("the manifest of " + ref.familiar() + " is not a JSON object");
  if (std::string mt = str(j, "mediaType"); !mt.empty()) top.descriptor.media_type = mt;
  if (j.contains("manifests") && j["manifests"].is_array()) {
    for (const auto& m : j["manifests"]) {
      if (!m.is_object() || !m.contains("platform") || !m["platform"].is_object()) continue;
      const json& p = m["platform"];
      top.platforms.push_back({str(p, "os"), str(p, "architecture"), str(p, "variant")});
    }
  } else if (j.contains("config") && j["config"].is_object()) {
    Descriptor cfg;
    SHOAL_ASSIGN_OR_RETURN(cfg, descriptor(j["config"], "the image config", static_cast<int64_t>(options_.max_json_bytes)));
    SHOAL_ASSIGN_OR_RETURN(std::string c, fetch_json_blob(ref, creds, cfg, cancel));
    SHOAL_ASSIGN_OR_RETURN(json cj, parse_untrusted_json(c, "the image config"));
    top.platforms.push_back({str(cj, "os"), str(cj, "architecture"), str(cj, "variant")});
  }
  return top;
}

Result<ImageManifest> RegistryClient::manifest(const Reference& ref, const RegistryCredentials& creds,
                                               const std::atomic<bool>* cancel) {
  const std::string os = options_.os.empty() ? "linux" : options_.os;
  const std::string arch = options_.architecture.empty() ? host_arch() : options_.architecture;
  std::string which = ref.digest.empty() ? ref.tag : ref.digest;
  ImageManifest out;
  for (int depth = 0; depth < 3; ++depth) {
    SHOAL_ASSIGN_OR_RETURN(std::string body, fetch_manifest(ref, creds, which, &out.self, or_never(cancel)));
    SHOAL_ASSIGN_OR_RETURN(json j, parse_untrusted_json(body, "the manifest of " + ref.familiar()));
    if (!j.is_object()) return invalid_argument("the manifest of " + ref.familiar() + " is not a JSON object");
    out.raw = body;
    std::string mt = str(j, "mediaType");
    if (mt.empty()) mt = out.self.media_type;
    if (mt.rfind(kDockerSchema1, 0) == 0 || (j.contains("schemaVersion") && j["schemaVersion"] == 1)) {
      return unimplemented("the image " + ref.familiar() +
                           " has a Docker schema 1 manifest, a deprecated format shoal does not pull: push it again "
                           "with a current docker or registry tool");
    }
    if (j.contains("manifests")) {  // an index or manifest list: pick this node's platform
      if (!j["manifests"].is_array()) return invalid_argument("the image index of " + ref.familiar() + " has no manifest list");
      std::string found;
      for (const auto& m : j["manifests"]) {
        if (!m.is_object() || !m.contains("platform") || !m["platform"].is_object()) continue;
        if (str(m["platform"], "os") != os || str(m["platform"], "architecture") != arch) continue;
        SHOAL_ASSIGN_OR_RETURN(Descriptor d, descriptor(m, "a manifest of the index", static_cast<int64_t>(options_.max_json_bytes)));
        found = d.digest;
        break;
      }
      if (found.empty()) {
        return not_found("no matching manifest for " + os + "/" + arch + " in the manifest list entries of " +
                         ref.familiar() + ": the image is not built for this node's platform");
      }
      which = found;
      continue;
    }
    if (!j.contains("config")) return invalid_argument("the manifest of " + ref.familiar() + " has no config");
    SHOAL_ASSIGN_OR_RETURN(out.config, descriptor(j["config"], "the image config", static_cast<int64_t>(options_.max_json_bytes)));
    if (!j.contains("layers") || !j["layers"].is_array()) return invalid_argument("the manifest of " + ref.familiar() + " has no layer list");
    if (j["layers"].size() > options_.max_layers) {
      return invalid_argument("the image " + ref.familiar() + " has " + std::to_string(j["layers"].size()) +
                              " layers, more than the limit of " + std::to_string(options_.max_layers));
    }
    int64_t total = 0;
    for (const auto& l : j["layers"]) {
      SHOAL_ASSIGN_OR_RETURN(Descriptor d, descriptor(l, "a layer", options_.max_blob_bytes));
      if (d.media_type.find("foreign") != std::string::npos || d.media_type.find("nondistributable") != std::string::npos) {
        return unimplemented("the image " + ref.familiar() + " has a foreign layer " + d.digest +
                             " (served from elsewhere than the registry): shoal does not pull foreign layers");
      }
      // All layers together within max_blob_bytes too (total stays <= it:
      // no overflow), checked before any download: 128 layers of the cap
      // each would otherwise fill the node's disk (and its etcd's).
      if (d.size > options_.max_blob_bytes - total) {
        return invalid_argument("the layers of " + ref.familiar() + " have more than the limit of " +
                                std::to_string(options_.max_blob_bytes) + " bytes in all (nothing was downloaded)");
      }
      total += d.size;
      out.layers.push_back(d);
    }
    return out;
  }
  return invalid_argument("the image indexes of " + ref.familiar() + " nest too deep");
}

Result<std::string> RegistryClient::fetch_json_blob(const Reference& ref, const RegistryCredentials& creds,
                                                    const Descriptor& blob, const std::atomic<bool>* cancel) {
  SHOAL_ASSIGN_OR_RETURN(Answer a, get(ref, creds, "/v2/" + ref.path + "/blobs/" + blob.digest, {},
                                       options_.max_json_bytes, nullptr, or_never(cancel)));
  if (a.status != 200) return denied_or(ref, a.status, a.body, "blob " + blob.digest + " of " + ref.familiar());
  if (static_cast<int64_t>(a.body.size()) != blob.size || sha256_of(a.body) != blob.digest) {
    return invalid_argument("the blob " + blob.digest + " of " + ref.familiar() +
                            " the registry sent does not match its digest and size: corrupt or tampered with, refused");
  }
  return a.body;
}

Status RegistryClient::fetch_blob(const Reference& ref, const RegistryCredentials& creds, const Descriptor& blob,
                                  const std::string& path, const BlobProgress& progress,
                                  const std::atomic<bool>& cancel) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return errno_status("creating " + path, errno);
  struct Cleanup {
    int fd;
    std::string path;
    bool keep = false;
    ~Cleanup() {
      if (fd >= 0) close(fd);
      if (!keep) unlink(path.c_str());
    }
  } cleanup{fd, path};
  Sha256 hash;
  int64_t written = 0;
  const std::string what = "layer " + blob.digest + " of " + ref.familiar();
  Sink sink = [&](const std::string& piece) -> Status {
    written += static_cast<int64_t>(piece.size());
    if (written > blob.size) {
      return invalid_argument("the registry sent more than the " + std::to_string(blob.size) + " bytes of " + what +
                              ": refused");
    }
    hash.update(piece);
    for (size_t off = 0; off < piece.size();) {
      ssize_t w = write(fd, piece.data() + off, piece.size() - off);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return errno_status("writing " + path + " (disk full?)", errno);
      off += static_cast<size_t>(w);
    }
    if (progress) progress(written, blob.size);
    return ok_status();
  };
  // A sink gets only a 200's body; other answers are read (capped) to say why.
  SHOAL_ASSIGN_OR_RETURN(Answer a, get(ref, creds, "/v2/" + ref.path + "/blobs/" + blob.digest, {},
                                       size_t{64} << 10, sink, cancel));
  if (a.status != 200) return denied_or(ref, a.status, a.body, what);
  if (written != blob.size) {
    return invalid_argument("the registry sent " + std::to_string(written) + " of the " + std::to_string(blob.size) +
                            " bytes of " + what);
  }
  std::string got = "sha256:" + hash.hex();
  if (got != blob.digest) {
    return invalid_argument("the " + what + " the registry sent hashes to " + got +
                            ": corrupt or tampered with, refused");
  }
  if (fsync(fd) != 0) return errno_status("syncing " + path, errno);
  cleanup.keep = true;
  return ok_status();
}

}  // namespace shoal::agent

namespace shoal::agent {

// Push requests (the rest of push is in registry_push.cc). No redirects:
// registries answer upload and manifest requests themselves.
Result<RegistryClient::Answer> RegistryClient::send_url(const std::string& origin, const std::string& method,
                                                        const std::string& url, const std::string& body,
                                                        const http::Headers& headers, const std::atomic<bool>& cancel) {
  std::string endpoint, target;
  if (!split_url(url, &endpoint, &target)) return invalid_argument("the registry sent the bad URL " + quote_input(url));
  if (endpoint.rfind("http://", 0) == 0 && !plain_http(endpoint.substr(7))) {
    return invalid_argument("the registry sent an upload URL on plain http (" + quote_input(endpoint) +
                            "), which shoald uses only for loopback and --insecure-registry hosts: refused");
  }
  SHOAL_ASSIGN_OR_RETURN(http::TlsOptions tls, registry_tls(options_, origin, same_origin(endpoint, origin), endpoint));
  http::Client client(endpoint, tls);
  CancelWatch watch(client, cancel, &cancel != &never_);
  Answer a;
  const size_t cap = size_t{64} << 10;
  // The answer within options_.timeout, as get_url's small answers: else a
  // registry trickling a byte per idle timeout holds the push (and its API
  // worker) for days. Counted from the start, except for a PATCH, whose
  // body (a chunk of up to kPushChunk bytes) may take longer to send: from
  // its answer's first byte.
  std::optional<std::chrono::steady_clock::time_point> started;
  if (method != "PATCH") started = std::chrono::steady_clock::now();
  bool late = false;
  auto on_data = [&](const std::string& piece) {
    if (!started) started = std::chrono::steady_clock::now();
    if (std::chrono::steady_clock::now() - *started > options_.timeout) {
      late = true;
      return false;
    }
    if (a.body.size() + piece.size() > cap) return false;  // an error text: the start says enough
    a.body += piece;
    return true;
  };
  Status st = client.stream(method, target, body, on_data, cancel, &a.status, headers, &a.headers,
                            options_.idle_timeout);
  if (cancel) return unavailable(method + " " + shown_input(url, 200) + ": cancelled");
  if (st.code() == Code::kInvalidArgument) return st.with_context(method + " " + shown_input(url, 200));
  if (late) {
    return unavailable(method + " " + shown_input(url, 200) + ": the registry took more than " +
                       std::to_string(options_.timeout.count()) + " ms to send a small answer");
  }
  if (!st.ok()) {
    std::string hint = endpoint.rfind("https://", 0) == 0
                           ? " (for a registry that serves plain http, start shoald with --insecure-registry HOST:PORT)"
                           : "";
    return unavailable("the registry " + shown_input(endpoint, 200) + " is unreachable: " + st.message() + hint);
  }
  return a;
}

Result<RegistryClient::Answer> RegistryClient::push_request(const Reference& ref, const RegistryCredentials& creds,
                                                            const std::string& method, const std::string& url_or_target,
                                                            const std::string& body, const http::Headers& headers,
                                                            const std::atomic<bool>& cancel) {
  const std::string scope = "repository:" + ref.path + ":pull,push";
  const std::string key = token_key(ref.domain, scope, creds);
  const std::string url = url_or_target.rfind("/", 0) == 0 ? base_url(ref.domain) + url_or_target : url_or_target;
  std::string endpoint, ignored;
  if (!split_url(url, &endpoint, &ignored)) return invalid_argument("the registry sent the bad URL " + quote_input(url));
  // Credentials (and challenges answered with them) only for the registry's
  // own scheme+host+port: an upload Location elsewhere gets none. And, as
  // for pull redirects, no request to this node's own loopback or
  // link-local services unless the registry itself is there.
  const bool own = same_origin(endpoint, base_url(ref.domain));
  const std::string host = endpoint.substr(endpoint.find("://") + 3);
  if (!own && local_only(host) && !local_only(ref.domain)) {
    return invalid_argument("the registry " + ref.domain + " sent an upload URL on this node's own loopback or " +
                            "link-local addresses (" + quote_input(endpoint) + "): refused");
  }
  http::Headers hs = headers;
  if (own) {
    std::lock_guard lk(mu_);
    if (auto it = tokens_.find(key); it != tokens_.end()) hs["Authorization"] = it->second;
  }
  SHOAL_ASSIGN_OR_RETURN(Answer a, send_url(base_url(ref.domain), method, url, body, hs, cancel));
  if (a.status != 401 || !own) return a;
  auto challenge = a.headers.find("WWW-Authenticate");
  std::string auth;
  if (challenge != a.headers.end()) {
    SHOAL_ASSIGN_OR_RETURN(auth, authorize(ref, creds, challenge->second, cancel, scope));
  }
  if (auth.empty() || auth == hs["Authorization"]) return a;  // nothing else to try: the caller says denied
  {
    std::lock_guard lk(mu_);
    tokens_[key] = auth;
  }
  hs["Authorization"] = auth;
  return send_url(base_url(ref.domain), method, url, body, hs, cancel);
}

}  // namespace shoal::agent
