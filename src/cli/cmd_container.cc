// shoal ps, shoal kill (node-local containers).
#include <algorithm>
#include <chrono>
#include <iostream>

#include "cli/commands.h"
#include "cli/table.h"
#include "cli/template.h"
#include "common/time.h"

namespace shoal::cli {

using nlohmann::json;

namespace {

std::string ellipsis(const std::string& s, size_t max) {
  if (rune_count(s) <= max) return s;
  // Cut at a rune boundary.
  size_t runes = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (runes == max - 1) break;
      ++runes;
    }
  }
  return s.substr(0, i) + "…";
}

std::string go_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += std::string("\\") + c;
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else out += c;
  }
  return out + "\"";
}

std::string container_ports(const json& ports) {
  if (!ports.is_array()) return "";
  std::vector<std::string> out;
  for (const auto& p : ports) {
    std::string type = p.value("Type", "tcp");
    int64_t priv = p.value("PrivatePort", 0), pub = p.value("PublicPort", 0);
    std::string ip = p.value("IP", "");
    if (!ip.empty() || pub != 0)
      out.push_back((ip.empty() ? "" : ip + ":") + std::to_string(pub) + "->" + std::to_string(priv) + "/" + type);
    else
      out.push_back(std::to_string(priv) + "/" + type);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  std::string s;
  for (size_t i = 0; i < out.size(); ++i) s += (i ? ", " : "") + out[i];
  return s;
}

}  // namespace

int cmd_ps(Context& ctx, const Args& args) {
  FlagSet fs("shoal ps", "[OPTIONS]", "List containers");
  fs.add_bool("all", 'a', "Show all containers (default shows just running)");
  fs.add("filter", 'f', "filter", "Filter output based on conditions provided");
  fs.add("format", 0, "string", "Pretty-print containers using a Go template");
  fs.add_bool("no-trunc", 0, "Don't truncate output");
  fs.add_bool("quiet", 'q', "Only display container IDs");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_none()); rc >= 0) return rc;
  std::vector<std::pair<std::string, std::string>> kv;
  for (const auto& f : fs.list("filter")) {
    auto eq = f.find('=');
    if (eq == std::string::npos) return fail(ctx, invalid_argument("bad format of filter (expected name=value)"));
    kv.emplace_back(f.substr(0, eq), f.substr(eq + 1));
  }
  std::string q = std::string("/containers/json?all=") + (fs.boolean("all") ? "1" : "0");
  if (!kv.empty()) q += "&filters=" + query_escape(filters_json(kv).dump());
  auto list = ctx.api->get(q);
  if (!list.ok()) return fail(ctx, list.status());
  bool trunc = !fs.boolean("no-trunc");
  auto now = std::chrono::system_clock::now();
  std::vector<json> rows;
  for (const auto& c : *list) {
    std::vector<std::string> names;
    if (c.contains("Names") && c["Names"].is_array())
      for (const auto& n : c["Names"]) {
        std::string s = n.get<std::string>();
        names.push_back(!s.empty() && s[0] == '/' ? s.substr(1) : s);
      }
    if (trunc)
      for (const auto& n : names)
        if (n.find('/') == std::string::npos) {
          names = {n};
          break;
        }
    std::string joined;
    for (size_t i = 0; i < names.size(); ++i) joined += (i ? "," : "") + names[i];
    std::string image = get_str(c, "Image");
    if (trunc) image = image.rfind("sha256:", 0) == 0 ? truncate_id(image) : strip_digest(image);
    std::string command = get_str(c, "Command");
    if (trunc) command = ellipsis(command, 20);
    int64_t created = c.value("Created", int64_t{0});
    std::string id = get_str(c, "Id");
    json labels = c.contains("Labels") && c["Labels"].is_object() ? c["Labels"] : json::object();
    std::string label_text;
    for (auto it = labels.begin(); it != labels.end(); ++it)
      label_text += (label_text.empty() ? "" : ",") + it.key() + "=" + go_print(it.value());
    rows.push_back({{"ID", trunc ? truncate_id(id) : id},
                    {"Image", image},
                    {"Command", go_quote(command)},
                    {"CreatedAt", format_rfc3339(std::chrono::system_clock::from_time_t(created))},
                    {"RunningFor", human_duration(now - std::chrono::system_clock::from_time_t(created)) + " ago"},
                    {"Status", get_str(c, "Status")},
                    {"State", get_str(c, "State")},
                    {"Ports", container_ports(c.contains("Ports") ? c["Ports"] : json())},
                    {"Names", joined},
                    {"Labels", label_text}});
  }
  std::string format = fs.boolean("quiet") ? "{{.ID}}" : fs.str("format");
  json headers = {{"ID", "CONTAINER ID"}, {"Image", "IMAGE"},       {"Command", "COMMAND"},
                  {"CreatedAt", "CREATED AT"}, {"RunningFor", "CREATED"}, {"Status", "STATUS"},
                  {"State", "STATE"},       {"Ports", "PORTS"},       {"Names", "NAMES"},
                  {"Labels", "LABELS"}};
  auto out = format_rows(format,
                         "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
                         rows, headers);
  if (!out.ok()) return fail(ctx, out.status());
  *ctx.out << *out;
  return 0;
}

int cmd_kill(Context& ctx, const Args& args) {
  FlagSet fs("shoal kill", "[OPTIONS] CONTAINER [CONTAINER...]", "Kill one or more running containers");
  fs.add("signal", 's', "string", "Signal to send to the container", "KILL");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_min(1)); rc >= 0) return rc;
  const std::string signal = fs.str("signal");
  return for_each_ref(ctx, fs.args(), [&](const std::string& id) {
    return ctx.api->post("/containers/" + query_escape(id) + "/kill?signal=" + query_escape(signal));
  });
}

}  // namespace shoal::cli
