// Shared pieces of the shoal CLI's commands (internal to src/cli).
#pragma once

#include <chrono>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/api_client.h"
#include "cli/flags.h"
#include "common/result.h"

namespace shoal::cli {

struct Context {
  ApiClient* api = nullptr;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  bool out_tty = false;
};

using Args = std::vector<std::string>;

// Command families; args follow the family name ("service create ..." -> {"create", ...}).
int cmd_swarm(Context& ctx, const Args& args);
int cmd_node(Context& ctx, const Args& args);
int cmd_service(Context& ctx, const Args& args);
int cmd_image(Context& ctx, const Args& args);
int cmd_images(Context& ctx, const Args& args);  // `shoal images` = `shoal image ls`
int cmd_ps(Context& ctx, const Args& args);
int cmd_kill(Context& ctx, const Args& args);
int cmd_version(Context& ctx, const Args& args);
int cmd_info(Context& ctx, const Args& args);
int cmd_lab(Context& ctx, const Args& args);   // src/lab: needs no daemon

int cmd_network(Context& ctx, const Args& args);

// The --filter name=value flags of `fs`: check_filters refuses one without
// '='; add_filter_args appends them to the query `q` as Docker's filters
// parameter, after `sep` ('?' or '&').
Status check_filters(const FlagSet& fs);
void add_filter_args(const FlagSet& fs, std::string* q, char sep);

// Parses flags; returns -1 to go on, else the exit code (help printed: 0;
// flag error printed: 125).
int parse_or_exit(Context& ctx, FlagSet& fs, const Args& args);
// Prints a non-empty argument-count error and returns 1; -1 when msg is empty.
int arg_error(Context& ctx, const std::string& msg);
// Prints st's message to stderr; returns 1.
int fail(Context& ctx, const Status& st);
// docker's way with `rm`/`kill` of several objects: `op` on each of `refs`
// in turn, printing each ref it succeeded for on stdout, then every error on
// stderr; 0 when all succeeded, else 1 (one failure does not stop the rest).
int for_each_ref(Context& ctx, const std::vector<std::string>& refs,
                 const std::function<Result<nlohmann::json>(const std::string&)>& op);

// A management command's subcommand table and help ("shoal service --help").
struct SubCommand {
  const char* name;
  const char* alias;
  const char* description;
  int (*fn)(Context&, const Args&);
};
int dispatch(Context& ctx, const std::string& path, const std::string& description,
             const std::vector<SubCommand>& subs, const Args& args);

// docker helpers.
std::string truncate_id(const std::string& id);      // 12 characters
std::string pretty_print(const std::string& s);      // strings.Title: "running" -> "Running"
std::string strip_digest(const std::string& image);  // "nginx:1@sha256:..." -> "nginx:1"
bool natural_less(const std::string& a, const std::string& b);
// "4 minutes" (lower-case, as task/ps columns show it) since an RFC 3339 time.
std::string since_text(const std::string& rfc3339, std::chrono::system_clock::time_point now);
// JSON pretty-printed with 4-space indentation, as `docker inspect` prints it.
std::string indent_json(const nlohmann::json& j);
std::string get_str(const nlohmann::json& j, const std::string& key);
const nlohmann::json& at_path(const nlohmann::json& j, std::initializer_list<const char*> path);

// Inspect output shared by node/service inspect: bodies are the daemon's JSON
// texts (key order kept); prints a JSON array or one --format line per object.
// type selects docker's key order ("Service", "Node", "Task"; "" keeps the daemon's).
int print_inspect(Context& ctx, const std::vector<std::string>& bodies, const std::string& format,
                  const std::string& type = "");

}  // namespace shoal::cli
