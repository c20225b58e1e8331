#include "agent/registry_push.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "agent/runtime/image_store.h"
#include "agent/runtime/layer.h"
#include "common/image_reference.h"
#include "common/json_limits.h"
#include "http/message.h"

namespace shoal::agent {

namespace {

std::string short_digest(const std::string& digest) {
  return digest.substr(digest.find(':') + 1, 12);
}

// The error of a push request the registry did not accept.
Status push_refused(const Reference& ref, int status, const std::string& body, const std::string& what) {
  if (status == 401 || status == 403) {
    std::string text = registry_error_text(status, body);
    if (text.rfind("HTTP ", 0) != 0) text = "HTTP " + std::to_string(status) + ", " + text;
    return Status(Code::kPermissionDenied,
                  "the registry " + ref.domain + " refused " + what + " (" + text +
                      "): log in with an account that may push to " + ref.familiar_name() + " (`docker login " +
                      ref.domain + "`)");
  }
  if (status == 404) {
    return not_found(what + ": the registry " + ref.domain + " answered " + registry_error_text(status, body) +
                     " (does it serve the distribution API at /v2/?)");
  }
  return unavailable(what + ": the registry " + ref.domain + " answered " + registry_error_text(status, body));
}

// Where the registry says to send the next part of an upload: an absolute
// URL (Location may be relative to the registry).
std::string upload_url(const RegistryClient& client, const Reference& ref, const http::Headers& headers) {
  auto loc = headers.find("Location");
  if (loc == headers.end()) return "";
  std::string l = loc->second;
  std::string host = ref.domain == "docker.io" ? "registry-1.docker.io" : ref.domain;
  std::string base = (client.plain_http(ref.domain) ? "http://" : "https://") + host;
  if (l.rfind("http://", 0) == 0 || l.rfind("https://", 0) == 0) return l;  // built from our Host header
  return base + (l.rfind("/", 0) == 0 ? l : "/" + l);
}

std::string with_query(const std::string& url, const std::string& param) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + param;
}

}  // namespace

Result<bool> RegistryClient::has_blob(const Reference& ref, const RegistryCredentials& creds,
                                      const std::string& digest, const std::atomic<bool>& cancel) {
  // A GET whose body is cut off after its first 64 KiB (send_url's cap),
  // not a HEAD: http::Client waited for the body a HEAD answer's
  // Content-Length announces (docker-registry's 404 says 157 bytes).
  SHOAL_ASSIGN_OR_RETURN(Answer a, push_request(ref, creds, "GET", "/v2/" + ref.path + "/blobs/" + digest, "", {}, cancel));
  if (a.status == 200 || a.status == 307 || a.status == 302) return true;  // a redirect: served from elsewhere
  if (a.status == 404) return false;
  return push_refused(ref, a.status, a.body, "the blob check of " + digest);
}

Status RegistryClient::upload_blob(const Reference& ref, const RegistryCredentials& creds, const Descriptor& blob,
                                   const std::string& path, const BlobProgress& progress,
                                   const std::atomic<bool>& cancel) {
  const std::string what = "the upload of " + blob.digest;
  SHOAL_ASSIGN_OR_RETURN(Answer a, push_request(ref, creds, "POST", "/v2/" + ref.path + "/blobs/uploads/", "", {}, cancel));
  if (a.status != 202) return push_refused(ref, a.status, a.body, what);
  std::string url = upload_url(*this, ref, a.headers);
  if (url.empty()) return invalid_argument(what + ": the registry started an upload without a Location");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno_status("opening the layer blob " + path, errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  int64_t sent = 0;
  std::string chunk;
  while (sent < blob.size) {
    chunk.resize(static_cast<size_t>(std::min<int64_t>(kPushChunk, blob.size - sent)));
    size_t got = 0;
    while (got < chunk.size()) {
      ssize_t n = ::read(fd, chunk.data() + got, chunk.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_status("reading the layer blob " + path, errno);
      if (n == 0) return internal_error("the layer blob " + path + " is shorter than its record says");
      got += static_cast<size_t>(n);
    }
    http::Headers hs{{"Content-Type", "application/octet-stream"},
                     {"Content-Range", std::to_string(sent) + "-" + std::to_string(sent + chunk.size() - 1)}};
    SHOAL_ASSIGN_OR_RETURN(a, push_request(ref, creds, "PATCH", url, chunk, hs, cancel));
    if (a.status != 202) return push_refused(ref, a.status, a.body, what);
    url = upload_url(*this, ref, a.headers);
    if (url.empty()) return invalid_argument(what + ": the registry took a part without a Location for the next");
    sent += static_cast<int64_t>(chunk.size());
    if (progress) progress(sent, blob.size);
  }
  http::Headers hs{{"Content-Type", "application/octet-stream"}};
  SHOAL_ASSIGN_OR_RETURN(a, push_request(ref, creds, "PUT", with_query(url, "digest=" + http::url_encode(blob.digest)),
                                         "", hs, cancel));
  if (a.status != 201) return push_refused(ref, a.status, a.body, what);
  return ok_status();
}

Result<std::string> RegistryClient::put_manifest(const Reference& ref, const RegistryCredentials& creds,
                                                 const std::string& tag, const std::string& media_type,
                                                 const std::string& body, const std::atomic<bool>& cancel) {
  http::Headers hs{{"Content-Type", media_type}};
  SHOAL_ASSIGN_OR_RETURN(Answer a,
                         push_request(ref, creds, "PUT", "/v2/" + ref.path + "/manifests/" + tag, body, hs, cancel));
  if (a.status != 201) return push_refused(ref, a.status, a.body, "the manifest for " + ref.familiar_name() + ":" + tag);
  std::string digest = "sha256:" + runtime::sha256_hex(body);
  auto dcd = a.headers.find("Docker-Content-Digest");
  if (dcd != a.headers.end() && dcd->second != digest) {
    return invalid_argument("the registry stored the manifest as " + shown_input(dcd->second, 80) + ", not " + digest +
                            " (its hash): the registry changed it");
  }
  return digest;
}

Result<PushPlan> plan_push(runtime::ImageStore& images, const std::string& name, const std::string& tag) {
  SHOAL_ASSIGN_OR_RETURN(Reference ref, parse_reference(name));
  if (!ref.digest.empty()) return invalid_argument("cannot push a digest reference (" + quote_input(name) + "): give NAME:TAG");
  bool name_has_tag = name.find(':', name.rfind('/') == std::string::npos ? 0 : name.rfind('/')) != std::string::npos;
  if (!tag.empty()) {
    if (tag.rfind("sha256:", 0) == 0) return invalid_argument("cannot push to a digest (tag=" + quote_input(tag) + "): give a tag");
    if (name_has_tag) return invalid_argument(quote_input(name) + " already has a tag: leave tag= empty");
    SHOAL_ASSIGN_OR_RETURN(ref, parse_reference(name + ":" + tag));
  } else if (!name_has_tag) {
    return unimplemented("pushing every tag of a repository (docker push --all-tags) is not supported: push NAME:TAG");
  }
  SHOAL_RETURN_IF_ERROR(images.push_source(ref.familiar()).status());
  return PushPlan{ref, ref.tag};
}

Result<std::string> push_image(runtime::ImageStore& images, RegistryClient& registry, const PushPlan& plan,
                               const RegistryCredentials& creds, const PushProgress& progress,
                               const std::atomic<bool>& cancel, int* http_status) {
  const Reference& ref = plan.ref;
  auto say = [&](PushEvent e) {
    if (progress) progress(e);
  };
  auto refused = [&](const Status& st) {
    // 401: the credentials are missing or wrong (our own texts say which).
    const std::string& m = st.message();
    if (http_status && st.code() == Code::kPermissionDenied) {
      bool unauthorized = m.find("(HTTP 401") != std::string::npos || m.find("refused the credentials") != std::string::npos;
      *http_status = unauthorized ? 401 : 403;
    }
    return st;
  };
  SHOAL_ASSIGN_OR_RETURN(runtime::PushSource src, images.push_source(ref.familiar()));
  say({"", "The push refers to repository [" + ref.domain + "/" + ref.path + "]"});
  // Top layer first, as docker lists them; each one checked, then sent.
  for (auto it = src.layers.rbegin(); it != src.layers.rend(); ++it) say({short_digest(it->digest), "Preparing"});
  std::vector<runtime::PushBlob> blobs(src.layers.rbegin(), src.layers.rend());
  blobs.push_back(src.config);
  for (size_t i = 0; i < blobs.size(); ++i) {
    const auto& b = blobs[i];
    const bool is_config = i + 1 == blobs.size();
    const std::string id = short_digest(b.digest);
    auto exists = registry.has_blob(ref, creds, b.digest, cancel);
    if (!exists.ok()) return refused(exists.status());
    if (*exists) {
      if (!is_config) say({id, "Layer already exists"});
      continue;
    }
    if (!is_config) say({id, "Pushing", 0, b.size});
    Status st = registry.upload_blob(ref, creds, {b.media_type, b.digest, b.size}, b.path,
                                     [&](int64_t cur, int64_t total) {
                                       if (!is_config) say({id, "Pushing", cur, total});
                                     },
                                     cancel);
    if (!st.ok()) return refused(st);
    if (!is_config) say({id, "Pushed"});
  }
  auto digest = registry.put_manifest(ref, creds, plan.tag, src.manifest_media_type, src.manifest, cancel);
  if (!digest.ok()) return refused(digest.status());
  const int64_t size = static_cast<int64_t>(src.manifest.size());
  say({"", plan.tag + ": digest: " + *digest + " size: " + std::to_string(size)});
  PushEvent aux;
  aux.aux = true;
  aux.tag = plan.tag;
  aux.digest = *digest;
  aux.size = size;
  say(aux);
  // The registry has the image now: failing to record its RepoDigest here
  // is a warning line, not a failed push.
  if (Status st = images.add_digest(src.id, ref.familiar_name() + "@" + *digest); !st.ok()) {
    say({"", "warning: pushed, but the digest was not recorded as a RepoDigest of the image: " + st.message()});
  }
  return *digest;
}

}  // namespace shoal::agent
