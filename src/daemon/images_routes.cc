#include "daemon/images_routes.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>

#include <fstream>
#include <memory>

#include "agent/image_puller.h"
#include "agent/runtime/image_store.h"
#include "common/ids.h"
#include "common/image_reference.h"
#include "common/json_limits.h"
#include "common/time.h"
#include "daemon/distribution_route.h"
#include "daemon/image_push_route.h"
#include "daemon/progress_lines.h"
#include "http/message.h"
#include "manager/api/api.h"
#include "manager/api/router.h"
#include "os/safe_path.h"

namespace shoal::daemon {

namespace {

// Parses docker import --change values (CMD, ENTRYPOINT, ENV, WORKDIR, USER).
// The value goes into the image's config JSON, so it must be UTF-8 (else
// dumping the config threw: a 500 after the layer was already hashed).
Status apply_change(const std::string& change, runtime::ImageConfig* cfg) {
  try {
    (void)json(change).dump();
  } catch (const json::exception&) {
    return invalid_argument("the --change value \"" + os::printable(change, 40) + "\" is not valid UTF-8");
  }
  auto sp = change.find(' ');
  std::string op = change.substr(0, sp), arg = sp == std::string::npos ? "" : change.substr(sp + 1);
  auto list = [&](std::vector<std::string>* out) -> Status {
    // Bounded nesting: the value comes from the request's query.
    auto j = parse_untrusted_json(arg, "the --change value");
    if (j.ok() && j->is_array()) {
      std::vector<std::string> v;
      for (const auto& e : *j) {
        if (!e.is_string()) return invalid_argument("--change " + os::printable(op, 40) + ": the JSON list must hold only strings");
        v.push_back(e.get<std::string>());
      }
      *out = std::move(v);
      return ok_status();
    }
    *out = {"/bin/sh", "-c", arg};
    return ok_status();
  };
  if (op == "CMD") return list(&cfg->cmd);
  if (op == "ENTRYPOINT") return list(&cfg->entrypoint);
  if (op == "ENV") {
    if (arg.find('=') != std::string::npos) {
      cfg->env.push_back(arg);
    } else {  // "KEY VALUE": each run of spaces becomes one '=' (linear scan, no std::regex)
      std::string e;
      for (size_t i = 0; i < arg.size(); ++i) {
        if (arg[i] != ' ') e += arg[i];
        else if (i == 0 || arg[i - 1] != ' ') e += '=';
      }
      cfg->env.push_back(std::move(e));
    }
    return ok_status();
  }
  if (op == "WORKDIR") {
    cfg->working_dir = arg;
    return ok_status();
  }
  if (op == "USER") {
    cfg->user = arg;
    return ok_status();
  }
  if (op == "STOPSIGNAL") {
    cfg->stop_signal = arg;
    return ok_status();
  }
  return invalid_argument("unsupported --change instruction \"" + os::printable(op, 40) + "\": use CMD, ENTRYPOINT, ENV, WORKDIR, USER or STOPSIGNAL");
}

// The upload, spooled to a file only shoald can read (0600, in the image
// store's private scratch directory). The caller removes it (UploadFile).
Result<std::string> body_to_file(const std::string& body, const std::string& dir) {
  if (body.empty()) return invalid_argument("the request body is empty: send the archive as the body");
  std::string path = dir + "/upload-" + new_object_id() + ".tar";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return errno_status("storing the upload in " + path, errno);
  const char* p = body.data();
  size_t n = body.size();
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      int err = errno;
      close(fd);
      unlink(path.c_str());
      return errno_status("storing the upload in " + path + " (disk full?)", err);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  close(fd);
  return path;
}

// Removes the spooled upload on every way out of the handler.
struct UploadFile {
  std::string path;
  ~UploadFile() {
    if (!path.empty()) unlink(path.c_str());
  }
};

// "/images/<what>" or "/v<digits>.<digits>/images/<what>" with <what> one of
// create, load, json: a linear scan of the untrusted path (no std::regex,
// whose libstdc++ executor recurses per character). Empty if not an image route.
std::string image_route(const std::string& path) {
  size_t i = 0;
  if (path.compare(0, 2, "/v") == 0) {
    i = 2;
    auto digits = [&] {
      size_t b = i;
      while (i < path.size() && path[i] >= '0' && path[i] <= '9') ++i;
      return i > b;
    };
    if (!digits() || i >= path.size() || path[i] != '.') return "";
    ++i;
    if (!digits()) return "";
  }
  static const std::string kPrefix = "/images/";
  if (path.compare(i, kPrefix.size(), kPrefix) != 0) return "";
  std::string what = path.substr(i + kPrefix.size());
  return what == "create" || what == "load" || what == "json" ? what : "";
}

// The reference fromImage and tag name: "busybox" + "latest", or a tag
// "sha256:..." (how the docker CLI sends a digest), or all in fromImage.
Result<std::string> pull_reference(const http::Request& req) {
  std::string from = req.query_param("fromImage").value_or("");
  std::string tag = req.query_param("tag").value_or("");
  if (from.empty()) return invalid_argument("give the image to pull: fromImage=NAME (and tag=TAG)");
  if (req.query_param("fromSrc")) return invalid_argument("give fromImage (a pull) or fromSrc (an import), not both");
  if (tag.empty()) return from;
  auto parsed = parse_reference(from);
  if (!parsed.ok()) return parsed.status();
  // fromImage already carrying a tag or digest besides tag=: ambiguous.
  const std::string last = from.substr(from.find_last_of('/') == std::string::npos ? 0 : from.find_last_of('/'));
  if (from.find('@') != std::string::npos || last.find(':') != std::string::npos) {
    return invalid_argument("fromImage " + quote_input(from) + " already names a tag or digest: leave tag= empty");
  }
  return from + (tag.rfind("sha256:", 0) == 0 ? "@" : ":") + tag;
}

// A pull's progress as Docker streams it, started at the first event (so
// an error before any is a plain error answer with its own status).
void serve_pull(agent::ImagePuller* puller, http::Exchange& ex) {
  auto fail = [&](const Status& st) {
    http::Response r = api::error_response(st);
    r.headers["Api-Version"] = api::kApiVersion;
    ex.respond(std::move(r));
  };
  if (!puller) return fail(unimplemented("this node cannot pull images from a registry"));
  auto ref = pull_reference(ex.request);
  if (!ref.ok()) return fail(ref.status());
  if (auto platform = ex.request.query_param("platform"); platform && !platform->empty()) {
    return fail(unimplemented("pulling for another platform (platform=" + os::printable(*platform, 40) +
                              ") is not supported: a node pulls the image for its own platform; leave it empty"));
  }
  agent::RegistryCredentials creds;
  if (auto h = ex.request.headers.find("X-Registry-Auth"); h != ex.request.headers.end()) {
    auto c = agent::parse_registry_auth(h->second);
    if (!c.ok()) return fail(c.status());
    creds = *c;
  }
  std::shared_ptr<http::Stream> stream;
  // Shared with the client-gone hook, which an I/O thread may run after this
  // returns or throws: never a stack slot.
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  auto write = [&](const json& line) {
    if (!stream) {
      http::Headers h{{"Content-Type", "application/json"}, {"Api-Version", api::kApiVersion}};
      stream = ex.start_stream(200, h);
    }
    if (!stream->write(line.dump() + "\r\n")) *cancel = true;  // the client went away: stop the pull
  };
  ProgressLines lines("Downloading");
  auto progress = [&](const agent::PullEvent& e) {
    if (auto line = lines.line(e.id, e.status, e.current, e.total)) write(*line);
  };
  // A client that goes away, or the server stopping (shoald's stop), ends
  // the pull: a slow registry cannot hold a worker thread or the stop.
  // Every path below answers (respond or close), after which fn never runs.
  if (ex.on_client_gone) ex.on_client_gone([cancel] { *cancel = true; });
  auto id = puller->pull(*ref, creds, progress, *cancel);
  if (!id.ok()) {
    if (!stream) return fail(id.status());
    write({{"errorDetail", {{"message", id.status().message()}}}, {"error", id.status().message()}});
  }
  stream->close();
}

// A route on one image: /images/NAME/json (inspect), /images/NAME/tag,
// /images/NAME/push, /images/NAME (DELETE). NAME
// may hold '/' and ':' (a decoded path). kind empty: none of these.
struct NamedRoute {
  std::string kind;  // "inspect", "tag", "push", "delete", "distribution"
  std::string name;
};

NamedRoute named_route(const std::string& method, const std::string& path) {
  size_t i = 0;
  if (path.compare(0, 2, "/v") == 0) {
    i = path.find('/', 1);
    if (i == std::string::npos) return {};
  }
  const std::string rest = path.substr(i);
  auto strip = [&](const std::string& prefix, const std::string& suffix, std::string* name) {
    if (rest.size() <= prefix.size() + suffix.size() || rest.compare(0, prefix.size(), prefix) != 0) return false;
    if (rest.compare(rest.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
    *name = rest.substr(prefix.size(), rest.size() - prefix.size() - suffix.size());
    return !name->empty();
  };
  NamedRoute r;
  if (method == "GET" && strip("/images/", "/json", &r.name)) r.kind = "inspect";
  else if (method == "GET" && strip("/distribution/", "/json", &r.name)) r.kind = "distribution";
  else if (method == "POST" && strip("/images/", "/tag", &r.name)) r.kind = "tag";
  else if (method == "POST" && strip("/images/", "/push", &r.name)) r.kind = "push";
  else if (method == "DELETE" && strip("/images/", "", &r.name)) r.kind = "delete";
  return r;
}

json inspect_json(const runtime::ResolvedImage& img) {
  json layers = json::array();
  for (const auto& d : img.layer_dirs) layers.push_back("sha256:" + d.substr(d.rfind('/') + 1));
  const auto& c = img.config;
  json config = {{"Cmd", c.cmd.empty() ? json(nullptr) : json(c.cmd)},
                 {"Entrypoint", c.entrypoint.empty() ? json(nullptr) : json(c.entrypoint)},
                 {"Env", c.env},
                 {"WorkingDir", c.working_dir},
                 {"User", c.user},
                 {"StopSignal", c.stop_signal}};
  return {{"Id", img.info.id},          {"RepoTags", img.info.refs}, {"RepoDigests", img.info.digests},
          {"Parent", ""},               {"Comment", ""},            {"Created", format_rfc3339(SysTimePoint(std::chrono::seconds(img.info.created)))},
          {"Config", config},           {"Size", img.info.size},    {"VirtualSize", img.info.size},
          {"RootFS", {{"Type", "layers"}, {"Layers", layers}}}};
}

// Answers a NamedRoute.
http::Response serve_named(runtime::ImageStore& images, const http::Request& req, const NamedRoute& route) {
  if (route.kind == "inspect") {
    auto img = images.resolve(route.name);
    if (!img.ok()) return api::error_response(img.status().code() == Code::kNotFound
                                                  ? not_found("No such image: " + shown_input(route.name))
                                                  : img.status());
    return api::json_response(200, inspect_json(*img));
  }
  if (route.kind == "tag") {
    std::string repo = req.query_param("repo").value_or(""), tag = req.query_param("tag").value_or("");
    if (repo.empty()) return api::error_response(invalid_argument("give the new name: repo=NAME (and tag=TAG)"));
    Status st = images.tag(route.name, tag.empty() ? repo : repo + ":" + tag);
    if (!st.ok()) return api::error_response(st);
    http::Response r;
    r.status = 201;
    return r;
  }
  if (route.kind == "delete") {
    if (req.query_param("force").value_or("") == "1" || req.query_param("force").value_or("") == "true") {
      return api::error_response(unimplemented(
          "force-removing an image is not supported: remove the containers using it, then the image, by name"));
    }
    auto before = images.resolve(route.name);
    Status st = images.remove(route.name);
    if (!st.ok()) return api::error_response(st);
    json out = json::array();
    if (before.ok() && route.name.rfind("sha256:", 0) != 0) out.push_back({{"Untagged", route.name}});
    if (before.ok() && !images.has_image(before->info.id)) out.push_back({{"Deleted", before->info.id}});
    return api::json_response(200, out);
  }
  return api::error_response(internal_error("unknown image route " + route.kind));
}

}  // namespace

uint64_t image_upload_body_limit(const runtime::ImageStore& images, const std::string& method,
                                 const std::string& path) {
  if (method != "POST") return 0;
  const std::string what = image_route(path);  // the route itself, not any path ending so
  if (what != "load" && what != "create") return 0;
  return static_cast<uint64_t>(images.limits().max_upload_bytes);
}

std::string image_upload_spool_dir(const runtime::ImageStore& images, const std::string& method,
                                   const std::string& path) {
  return image_upload_body_limit(images, method, path) ? images.scratch_dir() : std::string();
}

bool serve_image_routes(runtime::ImageStore& images, http::Exchange& ex, agent::ImagePuller* puller) {
  UploadFile spooled{ex.request.body_file};  // the server's spool file: ours to remove, on every path
  std::string what = image_route(ex.request.path);
  if (what.empty()) {
    NamedRoute named = named_route(ex.request.method, ex.request.path);
    if (named.kind.empty() || !api::parse_api_path(ex.request.path).ok()) return false;
    if (named.kind == "push") return serve_push(images, puller, ex, named.name), true;  // image_push_route.cc
    if (named.kind == "distribution")  // distribution_route.cc
      return serve_distribution(images, puller ? &puller->registry() : nullptr, ex, named.name), true;
    http::Response r = serve_named(images, ex.request, named);
    r.headers["Api-Version"] = api::kApiVersion;
    ex.respond(std::move(r));
    return true;
  }
  // A version out of range or malformed: the router answers it (400), as
  // for every other route.
  if (!api::parse_api_path(ex.request.path).ok()) return false;
  const auto& req = ex.request;
  auto reply = [&](http::Response r) {
    r.headers["Api-Version"] = api::kApiVersion;
    ex.respond(std::move(r));
  };
  if (what == "json" && req.method == "GET") {
    auto list = images.list();
    if (!list.ok()) return reply(api::error_response(list.status())), true;
    json out = json::array();
    for (const auto& im : *list) {
      out.push_back({{"Id", im.id}, {"ParentId", ""}, {"RepoTags", im.refs}, {"RepoDigests", json::array()},
                     {"Created", im.created}, {"Size", im.size}, {"VirtualSize", im.size}, {"SharedSize", -1},
                     {"Labels", json::object()}, {"Containers", -1}});
    }
    reply(api::json_response(200, out));
    return true;
  }
  if (req.method != "POST") return false;
  if (what == "create" && req.query_param("fromImage")) {
    serve_pull(puller, ex);
    return true;
  }
  const int64_t cap = images.limits().max_upload_bytes;
  if (static_cast<int64_t>(req.body.size()) > cap) {
    reply(api::error_response(413, "the uploaded archive has " + std::to_string(req.body.size()) +
                                       " bytes, more than the limit of " + std::to_string(cap) + " bytes"));
    return true;
  }
  // shoald's server streams uploads to a spool file as they arrive
  // (image_upload_spool_dir); a body in memory (other hosts, tests) is
  // written out here.
  Result<std::string> file = spooled.path;
  std::error_code size_ec;
  if (!spooled.path.empty() && std::filesystem::file_size(spooled.path, size_ec) == 0 && !size_ec) {
    file = invalid_argument("the request body is empty: send the archive as the body");
  } else if (spooled.path.empty()) {
    file = body_to_file(req.body, images.scratch_dir());
  }
  if (!file.ok()) return reply(api::error_response(file.status())), true;
  UploadFile cleanup{spooled.path.empty() ? *file : std::string()};
  http::Response r;
  r.status = 200;
  r.headers["Content-Type"] = "application/json";
  if (what == "create") {
    if (req.query_param("fromSrc").value_or("") != "-") {
      reply(api::error_response(invalid_argument(
          "give fromImage=NAME to pull an image, or fromSrc=- with a root filesystem tarball as the body to import "
          "one (importing from a URL is not supported)")));
      return true;
    }
    std::string ref = req.query_param("repo").value_or("");
    std::string tag = req.query_param("tag").value_or("");
    if (ref.empty()) return reply(api::error_response(invalid_argument("give the image a name: repo=NAME (and tag=TAG)"))), true;
    if (!tag.empty()) ref += ":" + tag;
    runtime::ImageConfig cfg;
    // Docker sends each --change as its own "changes" parameter: apply every
    // one, in order (the decoded query map keeps only the last one).
    std::vector<std::string> changes;
    if (auto qpos = req.target.find('?'); qpos != std::string::npos) {
      const std::string q = req.target.substr(qpos + 1);
      for (size_t pos = 0; pos < q.size();) {
        size_t amp = std::min(q.find('&', pos), q.size());
        std::string part = q.substr(pos, amp - pos);
        size_t eq = part.find('=');
        if (eq != std::string::npos && http::url_decode(part.substr(0, eq)) == "changes")
          changes.push_back(http::url_decode(part.substr(eq + 1)));
        pos = amp + 1;
      }
    }
    if (changes.empty())
      if (auto c = req.query_param("changes")) changes.push_back(*c);
    for (const auto& c : changes) {
      Status st = apply_change(c, &cfg);
      if (!st.ok()) return reply(api::error_response(st)), true;
    }
    auto id = images.import_rootfs(*file, ref, cfg);
    if (!id.ok()) return reply(api::error_response(id.status())), true;
    r.body = json{{"status", *id}}.dump() + "\n";
    reply(r);
    return true;
  }
  auto loaded = images.load(*file);
  if (!loaded.ok()) return reply(api::error_response(loaded.status())), true;
  for (const auto& ref : *loaded) r.body += json{{"stream", "Loaded image: " + ref + "\n"}}.dump() + "\n";
  reply(r);
  return true;
}

}  // namespace shoal::daemon
