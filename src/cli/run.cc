#include "cli/run.h"

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/inspect_order.h"
#include "cli/template.h"
#include "common/time.h"

namespace shoal::cli {

using nlohmann::json;

namespace {

const char* kMainHelp = R"(
Usage:  shoal [OPTIONS] COMMAND

A container orchestrator that speaks Docker Swarm mode

Options:
  -H, --host string   Daemon socket to connect to (default: $SHOAL_HOST or
                      unix:///run/shoal/shoal.sock)
  -v, --version       Print version information and quit

Management Commands:
  image       Manage images
  lab         Run a multi-node swarm on this host (network namespaces)
  network     Manage networks
  node        Manage Swarm nodes
  service     Manage services
  swarm       Manage Swarm

Commands:
  images      List images
  info        Display system-wide information
  kill        Kill one or more running containers
  ps          List containers
  version     Show the shoal version information

Run 'shoal COMMAND --help' for more information on a command.
)";

}  // namespace

int parse_or_exit(Context& ctx, FlagSet& fs, const Args& args) {
  Status st = fs.parse(args);
  if (!st.ok()) {
    *ctx.err << fs.flag_error_text(st);
    return 125;
  }
  if (fs.help_requested()) {
    *ctx.out << fs.help_text();
    return 0;
  }
  return -1;
}

int arg_error(Context& ctx, const std::string& msg) {
  if (msg.empty()) return -1;
  *ctx.err << msg;
  return 1;
}

int fail(Context& ctx, const Status& st) {
  *ctx.err << st.message() << "\n";
  return 1;
}

void add_filter_args(const FlagSet& fs, std::string* q, char sep) {
  std::vector<std::pair<std::string, std::string>> kv;
  for (const auto& f : fs.list("filter")) {
    auto eq = f.find('=');
    if (eq == std::string::npos) continue;
    kv.emplace_back(f.substr(0, eq), f.substr(eq + 1));
  }
  if (!kv.empty()) *q += std::string(1, sep) + "filters=" + query_escape(filters_json(kv).dump());
}

Status check_filters(const FlagSet& fs) {
  for (const auto& f : fs.list("filter"))
    if (f.find('=') == std::string::npos) return invalid_argument("bad format of filter (expected name=value)");
  return ok_status();
}

int for_each_ref(Context& ctx, const std::vector<std::string>& refs,
                 const std::function<Result<nlohmann::json>(const std::string&)>& op) {
  std::vector<std::string> errors;
  for (const auto& ref : refs) {
    auto r = op(ref);
    if (!r.ok()) {
      errors.push_back(r.status().message());
      continue;
    }
    *ctx.out << ref << "\n";
  }
  for (const auto& e : errors) *ctx.err << e << "\n";
  return errors.empty() ? 0 : 1;
}

int dispatch(Context& ctx, const std::string& path, const std::string& description,
             const std::vector<SubCommand>& subs, const Args& args) {
  auto help = [&](std::ostream& o) {
    o << "\nUsage:  " << path << " COMMAND\n\n" << description << "\n\nCommands:\n";
    for (const auto& s : subs) {
      std::string n = s.name;
      o << "  " << n << std::string(n.size() < 12 ? 12 - n.size() : 1, ' ') << s.description << "\n";
    }
    o << "\nRun '" << path << " COMMAND --help' for more information on a command.\n";
  };
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    help(*ctx.out);
    return 0;
  }
  for (const auto& s : subs) {
    if (args[0] == s.name || (s.alias && args[0] == s.alias)) return s.fn(ctx, Args(args.begin() + 1, args.end()));
  }
  if (args[0].rfind("-", 0) == 0) {
    *ctx.err << "unknown flag: " << args[0] << "\nSee '" << path << " --help'.\n";
    return 125;
  }
  *ctx.err << "shoal: '" << args[0] << "' is not a shoal command.\nSee '" << path << " --help'\n";
  return 1;
}

std::string truncate_id(const std::string& id) {
  std::string s = id;
  if (auto c = s.find(':'); c != std::string::npos && s.rfind("sha256:", 0) == 0) s = s.substr(c + 1);
  return s.size() > 12 ? s.substr(0, 12) : s;
}

std::string pretty_print(const std::string& s) {
  std::string out = s;
  bool start = true;
  for (auto& c : out) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      start = true;
    } else {
      if (start) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      start = false;
    }
  }
  return out;
}

std::string strip_digest(const std::string& image) {
  auto at = image.find('@');
  if (at == std::string::npos) return image;
  return image.substr(0, at);
}

bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    bool da = std::isdigit(static_cast<unsigned char>(a[i])), db = std::isdigit(static_cast<unsigned char>(b[j]));
    if (da && db) {
      size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(static_cast<unsigned char>(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(static_cast<unsigned char>(b[je]))) ++je;
      std::string na = a.substr(i, ie - i), nb = b.substr(j, je - j);
      while (na.size() > 1 && na[0] == '0') na.erase(0, 1);
      while (nb.size() > 1 && nb[0] == '0') nb.erase(0, 1);
      if (na.size() != nb.size()) return na.size() < nb.size();
      if (na != nb) return na < nb;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

std::string since_text(const std::string& rfc3339, std::chrono::system_clock::time_point now) {
  auto t = parse_rfc3339(rfc3339);
  if (!t.ok()) return "";
  std::string h = human_duration(now - *t);
  for (auto& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return h;
}

std::string indent_json(const json& j) { return j.dump(4); }

std::string get_str(const json& j, const std::string& key) {
  if (j.is_object()) {
    auto it = j.find(key);
    if (it != j.end() && it->is_string()) return it->get<std::string>();
  }
  return "";
}

const json& at_path(const json& j, std::initializer_list<const char*> path) {
  static const json kNull;
  const json* cur = &j;
  for (const char* p : path) {
    if (!cur->is_object()) return kNull;
    auto it = cur->find(p);
    if (it == cur->end()) return kNull;
    cur = &*it;
  }
  return *cur;
}

int print_inspect(Context& ctx, const std::vector<std::string>& bodies, const std::string& format,
                  const std::string& type) {
  if (format.empty()) {
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (const auto& b : bodies) {
      try {
        arr.push_back(docker_key_order(nlohmann::ordered_json::parse(b), type));
      } catch (const std::exception& e) {
        return fail(ctx, internal_error(std::string("invalid JSON from daemon: ") + e.what()));
      }
    }
    *ctx.out << arr.dump(4) << "\n";
    return 0;
  }
  std::string f = format == "json" ? "{{json .}}" : format;
  auto t = Template::parse(f);
  if (!t.ok()) return fail(ctx, t.status());
  for (const auto& b : bodies) {
    json j;
    try {
      j = json::parse(b);
    } catch (const std::exception& e) {
      return fail(ctx, internal_error(std::string("invalid JSON from daemon: ") + e.what()));
    }
    auto r = t->execute(j);
    if (!r.ok()) return fail(ctx, r.status());
    *ctx.out << *r << "\n";
  }
  return 0;
}

int run(int argc, char** argv) {
  Args args(argv + 1, argv + argc);
  std::string host;
  if (const char* h = std::getenv("SHOAL_HOST"); h && *h) host = h;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-H" || a == "--host") {
      if (i + 1 >= args.size()) {
        std::cerr << "flag needs an argument: --host\nSee 'shoal --help'.\n";
        return 125;
      }
      host = args[++i];
    } else if (a.rfind("--host=", 0) == 0) {
      host = a.substr(7);
    } else if (a.rfind("-H", 0) == 0 && a.size() > 2) {
      host = a.substr(2);
      if (host[0] == '=') host = host.substr(1);
    } else if (a == "-D" || a == "--debug") {
      // accepted for docker compatibility
    } else if (a == "--help" || a == "-h") {
      std::cout << kMainHelp;
      return 0;
    } else if (a == "-v" || a == "--version") {
      std::cout << "shoal version 0.1.0\n";
      return 0;
    } else if (a.rfind("-", 0) == 0) {
      std::cerr << "unknown flag: " << a << "\nSee 'shoal --help'.\n";
      return 125;
    } else {
      break;
    }
  }
  if (host.empty()) host = kDefaultHost;
  if (host.find("://") == std::string::npos) {
    if (!host.empty() && host[0] == '/') host = "unix://" + host;
    else host = "tcp://" + host;
  }
  if (i >= args.size()) {
    std::cout << kMainHelp;
    return 0;
  }
  std::string cmd = args[i];
  Args rest(args.begin() + static_cast<long>(i) + 1, args.end());
  ApiClient api(host);
  Context ctx{&api, &std::cout, &std::cerr, isatty(STDOUT_FILENO) == 1};
  if (cmd == "help") {
    std::cout << kMainHelp;
    return 0;
  }
  if (cmd == "swarm") return cmd_swarm(ctx, rest);
  if (cmd == "lab") return cmd_lab(ctx, rest);
  if (cmd == "node") return cmd_node(ctx, rest);
  if (cmd == "network") return cmd_network(ctx, rest);
  if (cmd == "service") return cmd_service(ctx, rest);
  if (cmd == "image") return cmd_image(ctx, rest);
  if (cmd == "images") return cmd_images(ctx, rest);
  if (cmd == "ps") return cmd_ps(ctx, rest);
  if (cmd == "container") {
    if (!rest.empty() && (rest[0] == "ls" || rest[0] == "ps" || rest[0] == "list"))
      return cmd_ps(ctx, Args(rest.begin() + 1, rest.end()));
    if (!rest.empty() && rest[0] == "kill") return cmd_kill(ctx, Args(rest.begin() + 1, rest.end()));
  }
  if (cmd == "kill") return cmd_kill(ctx, rest);
  if (cmd == "version") return cmd_version(ctx, rest);
  if (cmd == "info") return cmd_info(ctx, rest);
  std::cerr << "shoal: '" << cmd << "' is not a shoal command.\nSee 'shoal --help'\n";
  return 1;
}

}  // namespace shoal::cli
