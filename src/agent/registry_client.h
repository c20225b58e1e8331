// RegistryClient: fetches images from an OCI distribution (v2) registry:
// manifests (OCI image manifest and index, Docker v2 schema 2 manifest and
// manifest list; an index is resolved to the manifest for this node's
// platform), the image config and the layer blobs, each checked against its
// sha256 digest and its descriptor's size while it streams to disk.
//
// Transport (what Docker's --insecure-registry does, minus the fallback):
// plain http for a registry that is on loopback ("localhost", 127.0.0.0/8,
// [::1]) or listed in RegistryOptions::insecure (a "host[:port]" or an IPv4
// CIDR); https, verified against RegistryOptions::ca_file (the system CAs)
// and the registry's own CA in RegistryOptions::certs_dir (registry_tls.h),
// for every other one and for every registry with a certs_dir directory. "docker.io" is served by registry-1.docker.io.
//
// Auth: a request answered 401 is sent again once with what the registry's
// WWW-Authenticate challenge asks for: Basic (the credentials), or Bearer
// realm,service,scope: a token fetched from the realm (with the credentials
// as Basic auth when there are any, anonymously otherwise), kept per
// registry and scope for the next requests. Credentials, tokens and
// challenges are only those of the registry's own scheme+host+port: a
// redirect or upload Location elsewhere gets none, and its 401 is final.
//
// Everything a registry sends is untrusted: JSON is capped at
// RegistryOptions::max_json_bytes and nested at most kMaxJsonDepth, a blob
// at its descriptor's size (itself capped), digests other than sha256 and
// sizes out of range are refused, names come only from a parsed Reference.
//
// Errors say what failed and what to do: kNotFound "pull access denied for
// X, repository does not exist or may require 'docker login'", kNotFound
// "manifest for X not found: manifest unknown", kUnavailable "the registry H
// is unreachable", kInvalidArgument for a hostile or corrupt answer.
//
// Cancellation: every request of a call (token, manifest, config, blob,
// redirects included) ends soon (~50 ms) after its `cancel` flag becomes
// true, with kUnavailable "...: cancelled", also while connecting or
// waiting for an answer that never comes; a null `cancel` never cancels.
//
// Thread-safe: concurrent calls share the token cache (under a mutex) and
// use separate connections.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/image_reference.h"
#include "common/result.h"
#include "http/message.h"

namespace shoal::agent {

// What `docker login` gives (the X-Registry-Auth header's JSON, base64url).
struct RegistryCredentials {
  std::string username;
  std::string password;
  std::string registry_token;  // a bearer token to use as is ("registrytoken")
  std::string server_address;  // the registry they are for ("serveraddress"), as sent
  bool empty() const { return username.empty() && password.empty() && registry_token.empty(); }
};

// registry_of_address, credentials_are_for: common/image_reference.h.

// Decodes an X-Registry-Auth header (base64url of {"username","password",
// "serveraddress","identitytoken","registrytoken"}; standard base64 and a
// missing padding accepted, as Docker does). Empty or "{}" is no credentials.
// An identitytoken (an OAuth refresh token) is kUnimplemented: log in with a
// password or token instead.
Result<RegistryCredentials> parse_registry_auth(const std::string& header);
// The inverse, for clients (`shoal image pull`, --with-registry-auth).
std::string encode_registry_auth(const RegistryCredentials& creds, const std::string& server);

struct RegistryOptions {
  // Registries reached over plain http: "host", "host:port" or an IPv4 CIDR
  // ("10.99.0.0/16"). Loopback is always plain http.
  std::vector<std::string> insecure;
  // CA certificates for https registries.
  std::string ca_file = "/etc/ssl/certs/ca-certificates.crt";
  // Per-registry TLS files, Docker's certs.d layout (agent/registry_tls.h):
  // DIR/HOST[:PORT]/ca.crt, client.cert, client.key. "" : none.
  std::string certs_dir = "/etc/shoal/certs.d";
  size_t max_json_bytes = size_t{4} << 20;  // a manifest, index, config or token answer
  int64_t max_blob_bytes = int64_t{16} << 30;  // one layer blob, compressed; also all of an image's layers
  size_t max_layers = 128;
  // The platform an index is resolved for; empty: this host's (linux, Go's
  // name for uname's machine).
  std::string os;
  std::string architecture;
  std::chrono::milliseconds timeout = std::chrono::seconds(30);       // a small answer's body, in all
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(60);  // a blob with no byte for this long
};

struct Descriptor {
  std::string media_type;
  std::string digest;  // "sha256:<64 hex>"
  int64_t size = 0;
};

struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;
};

// A manifest for one platform, checked: config and layers are sha256
// descriptors with sizes within the caps, at most max_layers layers.
struct ImageManifest {
  Descriptor self;  // the manifest's own digest, media type and size
  Descriptor config;
  std::vector<Descriptor> layers;
  std::string raw;  // the manifest's bytes, as the registry sent them (self.digest is their hash)
};

// What a tag or digest names at the top (GET /distribution/{name}/json):
// the descriptor of the manifest or index, and the platforms it offers.
struct TopManifest {
  Descriptor descriptor;
  std::vector<Platform> platforms;
};

// Called as a blob arrives: bytes so far, of `total`.
using BlobProgress = std::function<void(int64_t current, int64_t total)>;

class RegistryClient {
 public:
  explicit RegistryClient(RegistryOptions options = {});
  ~RegistryClient();
  RegistryClient(const RegistryClient&) = delete;
  RegistryClient& operator=(const RegistryClient&) = delete;

  // The top-level manifest `ref` names (tag, or digest: checked).
  Result<TopManifest> inspect(const Reference& ref, const RegistryCredentials& creds,
                              const std::atomic<bool>* cancel = nullptr);

  // The image manifest for this node's platform (an index resolved to it).
  Result<ImageManifest> manifest(const Reference& ref, const RegistryCredentials& creds,
                                 const std::atomic<bool>* cancel = nullptr);

  // A small blob (the image config) in memory: digest and size checked.
  Result<std::string> fetch_json_blob(const Reference& ref, const RegistryCredentials& creds,
                                      const Descriptor& blob, const std::atomic<bool>* cancel = nullptr);

  // Streams a blob to the new file `path` (0600; removed on failure),
  // hashing as it goes: a blob longer than its descriptor says is cut off, one
  // whose digest does not match is refused. Ends early (kUnavailable,
  // "cancelled") when `cancel` becomes true.
  Status fetch_blob(const Reference& ref, const RegistryCredentials& creds, const Descriptor& blob,
                    const std::string& path, const BlobProgress& progress, const std::atomic<bool>& cancel);

  // Push (registry_push.cc). Each authenticates as get() does, asking a
  // Bearer realm for "repository:PATH:pull,push"; 401/403 are
  // kPermissionDenied saying so, other failures as for pulls.
  // True when the repository of `ref` has the blob (HEAD).
  Result<bool> has_blob(const Reference& ref, const RegistryCredentials& creds, const std::string& digest,
                        const std::atomic<bool>& cancel);
  // Uploads the file `path` as the blob `blob` (POST an upload, PATCH it in
  // chunks of at most kPushChunk bytes, PUT with the digest).
  static constexpr int64_t kPushChunk = int64_t{8} << 20;
  Status upload_blob(const Reference& ref, const RegistryCredentials& creds, const Descriptor& blob,
                     const std::string& path, const BlobProgress& progress, const std::atomic<bool>& cancel);
  // PUT /v2/PATH/manifests/TAG; returns the digest the registry stored it as.
  Result<std::string> put_manifest(const Reference& ref, const RegistryCredentials& creds, const std::string& tag,
                                   const std::string& media_type, const std::string& body,
                                   const std::atomic<bool>& cancel);

  // True when `domain` ("host[:port]") is reached over plain http.
  bool plain_http(const std::string& domain) const;

  const RegistryOptions& options() const { return options_; }

 private:
  struct Answer {
    int status = 0;
    http::Headers headers;
    std::string body;  // up to the cap; empty for a sink
    std::string endpoint;  // "scheme://host[:port]" that answered (a redirect's last hop)
  };
  using Sink = std::function<Status(const std::string& piece)>;

  // GET `target` ("/v2/...") on ref's registry, authenticating as the
  // registry asks; with `sink`, a 200's body goes to it instead of
  // Answer::body (other statuses are read, capped, into body).
  Result<Answer> get(const Reference& ref, const RegistryCredentials& creds, const std::string& target,
                     const http::Headers& headers, size_t cap, const Sink& sink, const std::atomic<bool>& cancel);
  // One GET on `url` ("http[s]://host[:port]/path"), following redirects,
  // for the registry `origin` (base_url of the reference's domain): its
  // certs.d files apply to every hop, its client certificate only to hops
  // on `origin` itself.
  Result<Answer> get_url(const std::string& origin, const std::string& url, const http::Headers& headers, size_t cap,
                         const Sink& sink, const std::atomic<bool>& cancel, const std::string& what);
  // The Authorization header value the challenge asks for, "" if none fits.
  // `scope`: the Bearer scope to ask for ("": the challenge's, else pull).
  Result<std::string> authorize(const Reference& ref, const RegistryCredentials& creds,
                                const std::string& challenge, const std::atomic<bool>& cancel,
                                const std::string& scope = "");
  // One push request (registry_push.cc): `url` absolute or "/v2/..." on
  // ref's registry, authenticated for push; the answer's body capped.
  Result<Answer> push_request(const Reference& ref, const RegistryCredentials& creds, const std::string& method,
                              const std::string& url, const std::string& body, const http::Headers& headers,
                              const std::atomic<bool>& cancel);
  // One request on an absolute URL for the registry `origin` (as get_url),
  // no redirects, the body capped at 64 KiB.
  Result<Answer> send_url(const std::string& origin, const std::string& method, const std::string& url,
                          const std::string& body, const http::Headers& headers, const std::atomic<bool>& cancel);
  Result<std::string> fetch_manifest(const Reference& ref, const RegistryCredentials& creds,
                                     const std::string& tag_or_digest, Descriptor* self,
                                     const std::atomic<bool>& cancel);
  const std::atomic<bool>& or_never(const std::atomic<bool>* cancel) const { return cancel ? *cancel : never_; }
  std::string base_url(const std::string& domain) const;

  const RegistryOptions options_;
  const std::atomic<bool> never_{false};  // the flag of calls given no cancel
  std::mutex mu_;
  std::map<std::string, std::string> tokens_;  // registry, scope, credentials' hash -> Authorization value
};

// The registry error text of a non-2xx answer: "CODE: message" of its
// first error, or the status. For messages.
std::string registry_error_text(int status, const std::string& body);

// True for "host[:port]" on loopback or link-local addresses (this node's own
// services): a token realm or redirect there is followed only for a registry
// that is itself local_only.
bool local_only(const std::string& domain);

}  // namespace shoal::agent
