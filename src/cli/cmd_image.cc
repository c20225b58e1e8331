// shoal image import|load|ls (and `shoal images`).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>

#include "cli/commands.h"
#include "cli/template.h"
#include "cli/units.h"
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
      {"ls", "list", "List images", image_ls_sub},
  };
  return dispatch(ctx, "shoal image", "Manage images", subs, args);
}

}  // namespace shoal::cli
