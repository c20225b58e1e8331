// shoal image import|load|pull|push|tag|inspect|rm|ls (and `shoal images`).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <memory>
#include <set>
#include <sstream>
#include <string_view>

#include "cli/commands.h"
#include "cli/registry_login.h"
#include "cli/template.h"
#include "cli/units.h"
#include "common/image_reference.h"
#include "common/time.h"

namespace shoal::cli {

using nlohmann::json;

namespace {

constexpr size_t kMaxUpload = 64u << 20;  // the client sends bodies from memory
constexpr int kUploadTimeoutSeconds = 600;

Result<std::string> read_upload(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("open " + path + ": no such file or directory");
  in.seekg(0, std::ios::end);
  auto size = static_cast<size_t>(in.tellg());
  if (size > kMaxUpload)
    return invalid_argument(path + " is " + human_size(static_cast<double>(size)) +
                            "; shoal uploads at most 64 MiB per request for now (split the image or load it on the node)");
  in.seekg(0);
  std::string data(size, '\0');
  in.read(data.data(), static_cast<std::streamsize>(size));
  if (!in) return internal_error("reading " + path + " failed");
  return data;
}

Result<std::string> read_stdin() {
  std::string data;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(STDIN_FILENO, buf, sizeof buf)) > 0) {
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > kMaxUpload) return invalid_argument("input is larger than 64 MiB; shoal cannot upload it yet");
  }
  return data;
}

// Prints a docker JSON message stream ({"stream":..}, {"status":..}, {"error":..}).
Status print_json_stream(Context& ctx, const std::string& body) {
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
    json m = json::parse(line, nullptr, false);
    if (m.is_discarded() || !m.is_object()) {
      *ctx.out << line << "\n";
      continue;
    }
    if (m.contains("error") || m.contains("errorDetail")) {
      std::string e = get_str(m, "error");
      if (e.empty()) e = get_str(at_path(m, {"errorDetail"}), "message");
      return internal_error(e);
    }
    if (m.contains("stream")) *ctx.out << get_str(m, "stream");
    else if (m.contains("status")) *ctx.out << (m.contains("id") ? get_str(m, "id") + ": " : "") << get_str(m, "status") << "\n";
  }
  return ok_status();
}

// The streamed progress of a pull or push, printed as docker prints it
// without a terminal: line by line, without the `moving` status (the bars),
// only errors when `quiet`. The returned callback goes to ApiClient::stream;
// *failed is the first error line's (stop there).
std::function<bool(const std::string&)> progress_printer(Context& ctx, std::string moving, bool quiet,
                                                         Status* failed) {
  auto pending = std::make_shared<std::string>();
  return [&ctx, moving = std::move(moving), quiet, failed, pending](const std::string& piece) {
    *pending += piece;
    for (size_t nl; (nl = pending->find('\n')) != std::string::npos;) {
      std::string line = pending->substr(0, nl + 1);
      pending->erase(0, nl + 1);
      json m = json::parse(line, nullptr, false);
      if (m.is_object() && get_str(m, "status") == moving) continue;
      if (quiet && !(m.is_object() && (m.contains("error") || m.contains("errorDetail")))) continue;
      *failed = print_json_stream(ctx, line);
      if (!failed->ok()) return false;
    }
    return true;
  };
}

int image_import(Context& ctx, const Args& args) {
  FlagSet fs("shoal image import", "[OPTIONS] file [REPOSITORY[:TAG]]",
             "Import the contents from a tarball to create a filesystem image");
  fs.add("message", 'm', "string", "Set commit message for imported image");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_range(1, 2)); rc >= 0) return rc;
  std::string file = fs.args()[0], repo, tag;
  if (fs.args().size() > 1) {
    std::string ref = fs.args()[1];
    size_t slash = ref.rfind('/'), colon = ref.rfind(':');
    if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
      repo = ref.substr(0, colon);
      tag = ref.substr(colon + 1);
    } else {
      repo = ref;
    }
  }
  auto data = file == "-" ? read_stdin() : read_upload(file);
  if (!data.ok()) return fail(ctx, data.status());
  std::string q = "/images/create?fromSrc=-";
  if (!repo.empty()) q += "&repo=" + query_escape(repo);
  if (!tag.empty()) q += "&tag=" + query_escape(tag);
  if (fs.changed("message")) q += "&message=" + query_escape(fs.str("message"));
  auto r = ctx.api->send("POST", q, *data, "application/x-tar", kUploadTimeoutSeconds);
  if (!r.ok()) return fail(ctx, r.status());
  if (Status st = print_json_stream(ctx, *r); !st.ok()) return fail(ctx, st);
  return 0;
}

int image_load(Context& ctx, const Args& args) {
  FlagSet fs("shoal image load", "[OPTIONS]", "Load an image from a tar archive or STDIN");
  fs.add("input", 'i', "string", "Read from tar archive file, instead of STDIN");
  fs.add_bool("quiet", 'q', "Suppress the load output");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_none()); rc >= 0) return rc;
  Result<std::string> data = std::string();
  if (fs.changed("input")) {
    data = read_upload(fs.str("input"));
  } else {
    if (isatty(STDIN_FILENO))
      return fail(ctx, invalid_argument("requested load from stdin, but stdin is empty"));
    data = read_stdin();
  }
  if (!data.ok()) return fail(ctx, data.status());
  std::string q = std::string("/images/load?quiet=") + (fs.boolean("quiet") ? "1" : "0");
  auto r = ctx.api->send("POST", q, *data, "application/x-tar", kUploadTimeoutSeconds);
  if (!r.ok()) return fail(ctx, r.status());
  if (Status st = print_json_stream(ctx, *r); !st.ok()) return fail(ctx, st);
  return 0;
}

// `docker pull`: POST /images/create?fromImage=NAME&tag=TAG on the node the
// CLI talks to; the progress printed as it arrives, as docker prints it
// without a terminal (no Downloading bars), then the full reference.
int image_pull(Context& ctx, const Args& args) {
  FlagSet fs("shoal image pull", "[OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry");
  fs.add_bool("all-tags", 'a', "Download all tagged images in the repository");
  fs.add("platform", 0, "string", "Set platform if server is multi-platform capable");
  fs.add_bool("quiet", 'q', "Suppress verbose output");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_range(1, 1)); rc >= 0) return rc;
  if (fs.boolean("all-tags")) {
    return fail(ctx, unimplemented("--all-tags is not supported: pull the tags you need one by one"));
  }
  auto ref = parse_reference(fs.args()[0]);
  if (!ref.ok()) return fail(ctx, ref.status());
  std::string q = "/images/create?fromImage=" + query_escape(ref->familiar_name()) + "&tag=" +
                  query_escape(ref->digest.empty() ? ref->tag : ref->digest);
  if (fs.changed("platform")) q += "&platform=" + query_escape(fs.str("platform"));
  Status failed;
  auto on_data = progress_printer(ctx, "Downloading", fs.boolean("quiet"), &failed);
  std::atomic<bool> cancel{false};
  Status st = ctx.api->stream("POST", q, "", on_data, cancel);
  if (!failed.ok()) return fail(ctx, failed);
  if (!st.ok()) return fail(ctx, st);
  std::string full = ref->domain + "/" + ref->path + (ref->digest.empty() ? ":" + ref->tag : "@" + ref->digest);
  *ctx.out << full << "\n";
  return 0;
}

// Image names go into the path as docker's CLI sends them ('/' and ':'
// kept); anything else is escaped.
std::string image_path(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) || std::string_view("/:._-@").find(c) != std::string_view::npos) out += c;
    else out += query_escape(std::string(1, c));
  }
  return out;
}

int image_inspect(Context& ctx, const Args& args) {
  FlagSet fs("shoal image inspect", "[OPTIONS] IMAGE [IMAGE...]", "Display detailed information on one or more images");
  fs.add("format", 'f', "string", "Format the output using the given Go template");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_min(1)); rc >= 0) return rc;
  std::vector<std::string> bodies;
  for (const auto& name : fs.args()) {
    auto r = ctx.api->send("GET", "/images/" + image_path(name) + "/json", "", "");
    if (!r.ok()) return fail(ctx, r.status());
    bodies.push_back(*r);
  }
  return print_inspect(ctx, bodies, fs.str("format"));
}

int image_rm(Context& ctx, const Args& args) {
  FlagSet fs("shoal image rm", "[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images");
  fs.set_aliases({"rm", "rmi", "remove"});
  fs.add_bool("force", 'f', "Force removal of the image");
  fs.add_bool("no-prune", 0, "Do not delete untagged parents");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_min(1)); rc >= 0) return rc;
  int rc = 0;
  for (const auto& name : fs.args()) {
    std::string q = "/images/" + image_path(name) + "?force=" + (fs.boolean("force") ? "1" : "0") +
                    "&noprune=" + (fs.boolean("no-prune") ? "1" : "0");
    auto r = ctx.api->send("DELETE", q, "", "");
    if (!r.ok()) {
      *ctx.err << r.status().message() << "\n";
      rc = 1;
      continue;
    }
    json items = json::parse(*r, nullptr, false);
    if (!items.is_array()) continue;
    for (const auto& it : items) {
      if (it.contains("Untagged")) *ctx.out << "Untagged: " << get_str(it, "Untagged") << "\n";
      if (it.contains("Deleted")) *ctx.out << "Deleted: " << get_str(it, "Deleted") << "\n";
    }
  }
  return rc;
}

int image_tag(Context& ctx, const Args& args) {
  FlagSet fs("shoal image tag", "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
             "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_range(2, 2)); rc >= 0) return rc;
  auto target = parse_reference(fs.args()[1]);
  if (!target.ok()) return fail(ctx, target.status());
  if (!target->digest.empty()) return fail(ctx, invalid_argument("refusing to create a tag with a digest reference"));
  std::string q = "/images/" + image_path(fs.args()[0]) + "/tag?repo=" + query_escape(target->familiar_name()) +
                  "&tag=" + query_escape(target->tag);
  auto r = ctx.api->send("POST", q, "", "");
  if (!r.ok()) return fail(ctx, r.status());
  return 0;
}

int image_push(Context& ctx, const Args& args) {
  FlagSet fs("shoal image push", "[OPTIONS] NAME[:TAG]", "Upload an image to a registry");
  fs.add_bool("all-tags", 'a', "Push all tags of an image to the repository");
  fs.add_bool("quiet", 'q', "Suppress verbose output");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_range(1, 1)); rc >= 0) return rc;
  if (fs.boolean("all-tags")) {
    return fail(ctx, unimplemented("--all-tags is not supported: push the tags you need one by one"));
  }
  auto ref = parse_reference(fs.args()[0]);
  if (!ref.ok()) return fail(ctx, ref.status());
  if (!ref->digest.empty()) return fail(ctx, invalid_argument("cannot push a digest reference: give NAME[:TAG]"));
  // As docker prints it without a terminal: no Pushing bars.
  Status failed;
  auto on_data = progress_printer(ctx, "Pushing", fs.boolean("quiet"), &failed);
  // The credentials `docker login` stored for the registry, as docker push sends them.
  auto auth = registry_auth_for(ref->familiar());
  if (!auth.ok()) return fail(ctx, auth.status());
  std::vector<std::pair<std::string, std::string>> headers;
  if (!auth->empty()) headers.push_back({"X-Registry-Auth", *auth});
  std::atomic<bool> cancel{false};
  Status st = ctx.api->stream("POST", "/images/" + image_path(ref->familiar_name()) + "/push?tag=" +
                                          query_escape(ref->tag), "", on_data, cancel, headers);
  if (!failed.ok()) return fail(ctx, failed);
  if (!st.ok()) return fail(ctx, st);
  if (fs.boolean("quiet")) *ctx.out << ref->familiar() << "\n";
  return 0;
}

int image_ls(Context& ctx, const Args& args, const std::string& path) {
  FlagSet fs(path, "[OPTIONS] [REPOSITORY[:TAG]]", "List images");
  if (path == "shoal image ls") fs.set_aliases({"ls", "images", "list"});
  fs.add_bool("all", 'a', "Show all images (default hides intermediate images)");
  fs.add_bool("digests", 0, "Show digests");
  fs.add("filter", 'f', "filter", "Filter output based on conditions provided");
  fs.add("format", 0, "string", "Pretty-print images using a Go template");
  fs.add_bool("no-trunc", 0, "Don't truncate output");
  fs.add_bool("quiet", 'q', "Only show image IDs");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_range(0, 1)); rc >= 0) return rc;
  std::vector<std::pair<std::string, std::string>> kv;
  for (const auto& f : fs.list("filter")) {
    auto eq = f.find('=');
    if (eq == std::string::npos) return fail(ctx, invalid_argument("bad format of filter (expected name=value)"));
    kv.emplace_back(f.substr(0, eq), f.substr(eq + 1));
  }
  if (!fs.args().empty()) kv.emplace_back("reference", fs.args()[0]);
  std::string q = "/images/json";
  if (fs.boolean("all")) q += "?all=1";
  if (!kv.empty()) q += std::string(fs.boolean("all") ? "&" : "?") + "filters=" + query_escape(filters_json(kv).dump());
  auto images = ctx.api->get(q);
  if (!images.ok()) return fail(ctx, images.status());
  std::vector<json> list(images->begin(), images->end());
  std::stable_sort(list.begin(), list.end(),
                   [](const json& a, const json& b) { return a.value("Created", int64_t{0}) > b.value("Created", int64_t{0}); });
  bool trunc = !fs.boolean("no-trunc");
  auto now = std::chrono::system_clock::now();
  std::vector<json> rows;
  std::set<std::string> seen;
  for (const auto& im : list) {
    std::string id = get_str(im, "Id");
    std::string shown_id = trunc ? truncate_id(id) : id;
    int64_t created = im.value("Created", int64_t{0});
    std::string since = human_duration(now - std::chrono::system_clock::from_time_t(created)) + " ago";
    std::vector<std::pair<std::string, std::string>> tags;
    if (im.contains("RepoTags") && im["RepoTags"].is_array())
      for (const auto& t : im["RepoTags"]) {
        std::string s = t.get<std::string>();
        if (s == "<none>:<none>") continue;
        size_t slash = s.rfind('/'), colon = s.rfind(':');
        if (colon != std::string::npos && (slash == std::string::npos || colon > slash))
          tags.emplace_back(s.substr(0, colon), s.substr(colon + 1));
        else
          tags.emplace_back(s, "<none>");
      }
    if (tags.empty()) tags.emplace_back("<none>", "<none>");
    for (const auto& [repo, tag] : tags) {
      if (fs.boolean("quiet") && !seen.insert(shown_id).second) continue;
      rows.push_back({{"ID", shown_id},
                      {"Repository", repo},
                      {"Tag", tag},
                      {"CreatedSince", since},
                      {"CreatedAt", format_rfc3339(std::chrono::system_clock::from_time_t(created))},
                      {"Size", human_size(im.value("Size", 0.0))},
                      {"Digest", "<none>"}});
    }
  }
  std::string format = fs.boolean("quiet") ? "{{.ID}}" : fs.str("format");
  json headers = {{"ID", "IMAGE ID"},          {"Repository", "REPOSITORY"}, {"Tag", "TAG"},
                  {"CreatedSince", "CREATED"}, {"CreatedAt", "CREATED AT"},  {"Size", "SIZE"},
                  {"Digest", "DIGEST"}};
  // --digests adds the DIGEST column, as docker's does (<none> for images
  // loaded or imported from archives: they have no registry digest).
  auto out = format_rows(format,
                         fs.boolean("digests")
                             ? "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
                             : "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}",
                         rows, headers);
  if (!out.ok()) return fail(ctx, out.status());
  *ctx.out << *out;
  return 0;
}

int image_ls_sub(Context& ctx, const Args& args) { return image_ls(ctx, args, "shoal image ls"); }

}  // namespace

int cmd_images(Context& ctx, const Args& args) { return image_ls(ctx, args, "shoal images"); }

int cmd_image(Context& ctx, const Args& args) {
  static const std::vector<SubCommand> subs = {
      {"import", nullptr, "Import the contents from a tarball to create a filesystem image", image_import},
      {"load", nullptr, "Load an image from a tar archive or STDIN", image_load},
      {"pull", nullptr, "Download an image from a registry", image_pull},
      {"push", nullptr, "Upload an image to a registry", image_push},
      {"tag", nullptr, "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", image_tag},
      {"inspect", nullptr, "Display detailed information on one or more images", image_inspect},
      {"rm", "remove", "Remove one or more images", image_rm},
      {"ls", "list", "List images", image_ls_sub},
  };
  return dispatch(ctx, "shoal image", "Manage images", subs, args);
}

}  // namespace shoal::cli
