// shoal service create|inspect|logs|ls|ps|rm|scale|update.
#include <algorithm>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/progress.h"
#include "cli/registry_login.h"
#include "cli/service_ps.h"
#include "cli/service_spec.h"
#include "cli/template.h"
#include "cli/units.h"
#include "common/time.h"

namespace shoal::cli {

using nlohmann::json;

namespace {

Status check_filters(const FlagSet& fs, std::vector<std::pair<std::string, std::string>>* kv) {
  for (const auto& f : fs.list("filter")) {
    auto eq = f.find('=');
    if (eq == std::string::npos) return invalid_argument("bad format of filter (expected name=value)");
    kv->emplace_back(f.substr(0, eq), f.substr(eq + 1));
  }
  return ok_status();
}

// Resolves network names in TaskTemplate.Networks to ids when the daemon knows them.
void resolve_networks(Context& ctx, json& spec) {
  json& nets = spec["TaskTemplate"]["Networks"];
  if (!nets.is_array()) {
    spec["TaskTemplate"].erase("Networks");
    return;
  }
  for (auto& n : nets) {
    std::string target = n.value("Target", "");
    if (target.empty()) continue;
    auto r = ctx.api->get("/networks/" + query_escape(target) + "?scope=swarm");
    if (r.ok() && r->is_object() && !get_str(*r, "Id").empty()) n["Target"] = get_str(*r, "Id");
  }
}

int wait_or_fail(Context& ctx, const std::string& id, bool quiet) {
  Status st = wait_for_convergence(*ctx.api, id, *ctx.out, ctx.out_tty, quiet);
  if (!st.ok()) return fail(ctx, st);
  return 0;
}

// --with-registry-auth: the X-Registry-Auth header for the spec's image
// (registry_login.h); without the flag none (the manager keeps what it has).
Result<std::vector<std::pair<std::string, std::string>>> registry_auth_headers(const FlagSet& fs, const json& spec) {
  std::vector<std::pair<std::string, std::string>> h;
  if (!fs.boolean("with-registry-auth")) return h;
  const json& image = at_path(spec, {"TaskTemplate", "ContainerSpec", "Image"});
  if (!image.is_string()) return invalid_argument("--with-registry-auth needs the service's image");
  SHOAL_ASSIGN_OR_RETURN(std::string auth, registry_auth_for(image.get<std::string>()));
  h.emplace_back("X-Registry-Auth", std::move(auth));
  return h;
}

int service_create(Context& ctx, const Args& args) {
  FlagSet fs("shoal service create", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new service");
  add_service_create_flags(fs);
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_min(1)); rc >= 0) return rc;
  auto spec = build_create_spec(fs);
  if (!spec.ok()) return fail(ctx, spec.status());
  if (spec->contains("TaskTemplate") && (*spec)["TaskTemplate"].contains("Networks")) resolve_networks(ctx, *spec);
  auto headers = registry_auth_headers(fs, *spec);
  if (!headers.ok()) return fail(ctx, headers.status());
  auto r = ctx.api->post("/services/create", *spec, *headers);
  if (!r.ok()) return fail(ctx, r.status());
  if (r->contains("Warnings") && (*r)["Warnings"].is_array())
    for (const auto& w : (*r)["Warnings"]) *ctx.err << go_print(w) << "\n";
  std::string id = get_str(*r, "ID");
  *ctx.out << id << "\n";
  ctx.out->flush();
  if (fs.boolean("detach")) return 0;
  return wait_or_fail(ctx, id, fs.boolean("quiet"));
}

int service_ls(Context& ctx, const Args& args) {
  FlagSet fs("shoal service ls", "[OPTIONS]", "List services");
  fs.set_aliases({"ls", "list"});
  fs.add("filter", 'f', "filter", "Filter output based on conditions provided");
  fs.add("format", 0, "string", "Pretty-print services using a Go template");
  fs.add_bool("quiet", 'q', "Only display IDs");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_none()); rc >= 0) return rc;
  std::vector<std::pair<std::string, std::string>> kv;
  if (Status st = check_filters(fs, &kv); !st.ok()) return fail(ctx, st);
  std::string q = "/services?status=true";
  if (!kv.empty()) q += "&filters=" + query_escape(filters_json(kv).dump());
  auto services = ctx.api->get(q);
  if (!services.ok()) return fail(ctx, services.status());
  auto rows = build_service_rows(*services);
  std::string format = fs.boolean("quiet") ? "{{.ID}}" : fs.str("format");
  auto out = format_rows(format, kServiceTableFormat, rows, service_headers());
  if (!out.ok()) return fail(ctx, out.status());
  *ctx.out << *out;
  return 0;
}

int service_ps(Context& ctx, const Args& args) {
  FlagSet fs("shoal service ps", "[OPTIONS] SERVICE [SERVICE...]", "List the tasks of one or more services");
  fs.add("filter", 'f', "filter", "Filter output based on conditions provided");
  fs.add("format", 0, "string", "Pretty-print tasks using a Go template");
  fs.add_bool("no-resolve", 0, "Do not map IDs to Names");
  fs.add_bool("no-trunc", 0, "Do not truncate output");
  fs.add_bool("quiet", 'q', "Only display task IDs");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_min(1)); rc >= 0) return rc;
  std::vector<std::pair<std::string, std::string>> kv;
  if (Status st = check_filters(fs, &kv); !st.ok()) return fail(ctx, st);
  std::map<std::string, std::string> names;
  std::vector<std::string> missing;
  json filters = filters_json(kv);
  for (const auto& a : fs.args()) {
    auto s = ctx.api->get("/services/" + query_escape(a));
    if (!s.ok()) {
      if (s.status().code() == Code::kNotFound) {
        missing.push_back("no such service: " + a);
        continue;
      }
      return fail(ctx, s.status());
    }
    std::string id = get_str(*s, "ID");
    names[id] = get_str(at_path(*s, {"Spec"}), "Name");
    filters["service"][id] = true;
  }
  if (names.empty()) {
    std::string all;
    for (size_t i = 0; i < missing.size(); ++i) all += (i ? "\n" : "") + missing[i];
    return fail(ctx, not_found(all));
  }
  auto tasks = ctx.api->get("/tasks?filters=" + query_escape(filters.dump()));
  if (!tasks.ok()) return fail(ctx, tasks.status());
  std::map<std::string, std::string> node_names;
  if (!fs.boolean("no-resolve")) {
    if (auto nodes = ctx.api->get("/nodes"); nodes.ok())
      for (const auto& n : *nodes) node_names[get_str(n, "ID")] = get_str(at_path(n, {"Description"}), "Hostname");
  } else {
    names.clear();
  }
  std::string format = fs.boolean("quiet") ? "{{.ID}}" : fs.str("format");
  bool table = format.empty() || format.rfind("table", 0) == 0;
  auto rows = build_task_rows(*tasks, names, node_names, !fs.boolean("no-trunc"), table,
                              std::chrono::system_clock::now());
  auto out = format_rows(format, kTaskTableFormat, rows, task_headers());
  if (!out.ok()) return fail(ctx, out.status());
  *ctx.out << *out;
  if (!missing.empty()) {
    for (const auto& m : missing) *ctx.err << m << "\n";
    return 1;
  }
  return 0;
}

std::string dur(const json& ns) {
  if (!ns.is_number()) return "0s";
  return format_go_duration(std::chrono::nanoseconds(ns.get<int64_t>()));
}

std::string pretty_service(const json& s) {
  std::ostringstream o;
  const json& spec = at_path(s, {"Spec"});
  o << "\nID:\t\t" << get_str(s, "ID") << "\nName:\t\t" << get_str(spec, "Name") << "\n";
  if (spec.contains("Labels") && spec["Labels"].is_object() && !spec["Labels"].empty()) {
    o << "Labels:\n";
    for (auto it = spec["Labels"].begin(); it != spec["Labels"].end(); ++it) {
      std::string v = go_print(it.value());
      o << " " << it.key() << (v.empty() ? "" : "=" + v) << "\n";
    }
  }
  const json& mode = at_path(spec, {"Mode"});
  if (mode.contains("Global")) {
    o << "Service Mode:\tGlobal\n";
  } else {
    o << "Service Mode:\tReplicated\n";
    const json& r = at_path(mode, {"Replicated", "Replicas"});
    if (r.is_number()) o << " Replicas:\t" << r.get<int64_t>() << "\n";
  }
  const json& us = at_path(s, {"UpdateStatus"});
  if (us.is_object()) {
    o << "UpdateStatus:\n State:\t\t" << get_str(us, "State") << "\n";
    auto ago = [](const std::string& t) {
      auto tp = parse_rfc3339(t);
      return tp.ok() ? human_duration(std::chrono::system_clock::now() - *tp) + " ago" : t;
    };
    if (!get_str(us, "StartedAt").empty()) o << " Started:\t" << ago(get_str(us, "StartedAt")) << "\n";
    if (get_str(us, "State") == "completed") o << " Completed:\t" << ago(get_str(us, "CompletedAt")) << "\n";
    o << " Message:\t" << get_str(us, "Message") << "\n";
  }
  const json& task = at_path(spec, {"TaskTemplate"});
  o << "Placement:\n";
  const json& cons = at_path(task, {"Placement", "Constraints"});
  if (cons.is_array() && !cons.empty()) o << " Constraints:\t" << go_print(cons) << "\n";
  auto print_cfg = [&](const char* key, const char* title, const char* label) {
    const json& c = at_path(spec, {key});
    if (!c.is_object()) return;
    o << title << ":\n Parallelism:\t" << c.value("Parallelism", 0) << "\n";
    if (c.value("Delay", int64_t{0}) > 0) o << " Delay:\t\t" << dur(c["Delay"]) << "\n";
    o << " On failure:\t" << get_str(c, "FailureAction") << "\n";
    if (c.value("Monitor", int64_t{0}) > 0) o << " Monitoring Period: " << dur(c["Monitor"]) << "\n";
    o << " Max failure ratio: " << go_print(c.value("MaxFailureRatio", json(0))) << "\n";
    o << " " << label << " order:" << std::string(std::string(label) == "Update" ? 6 : 4, ' ') << get_str(c, "Order")
      << "\n";
  };
  print_cfg("UpdateConfig", "UpdateConfig", "Update");
  print_cfg("RollbackConfig", "RollbackConfig", "Rollback");
  const json& cs = at_path(task, {"ContainerSpec"});
  o << "ContainerSpec:\n Image:\t\t" << get_str(cs, "Image") << "\n";
  auto words = [](const json& a) {
    std::string r;
    if (a.is_array())
      for (const auto& x : a) r += go_print(x) + " ";
    return r;
  };
  if (cs.contains("Command") && !cs["Command"].empty()) o << " Command:\t" << words(cs["Command"]) << "\n";
  if (cs.contains("Args") && !cs["Args"].empty()) o << " Args:\t\t" << words(cs["Args"]) << "\n";
  if (cs.contains("Env") && !cs["Env"].empty()) o << " Env:\t\t" << words(cs["Env"]) << "\n";
  if (!get_str(cs, "Dir").empty()) o << " Dir:\t\t" << get_str(cs, "Dir") << "\n";
  if (cs.contains("Init") && cs["Init"].is_boolean()) o << " Init:\t\t" << (cs["Init"].get<bool>() ? "true" : "false") << "\n";
  if (!get_str(cs, "User").empty()) o << " User: " << get_str(cs, "User") << "\n";
  const json& res = at_path(task, {"Resources"});
  auto res_block = [&](const char* key, const char* title) {
    const json& r = at_path(res, {key});
    if (!r.is_object() || (!r.contains("NanoCPUs") && !r.contains("MemoryBytes"))) return;
    o << " " << title << ":\n";
    if (r.value("NanoCPUs", int64_t{0}) > 0) o << "  CPU:\t\t" << go_print(json(r["NanoCPUs"].get<double>() / 1e9)) << "\n";
    if (r.value("MemoryBytes", int64_t{0}) > 0) o << "  Memory:\t" << bytes_size(r["MemoryBytes"].get<double>()) << "\n";
  };
  if (res.is_object()) {  // docker prints the heading whenever Resources is set
    o << "Resources:\n";
    res_block("Reservations", "Reservations");
    res_block("Limits", "Limits");
  }
  const json& nets = at_path(task, {"Networks"});
  if (nets.is_array() && !nets.empty()) {
    o << "Networks:";
    for (const auto& n : nets) o << " " << get_str(n, "Target");
    o << " \n";
  }
  o << "Endpoint Mode:\t" << get_str(at_path(spec, {"EndpointSpec"}), "Mode") << "\n";
  const json& ports = at_path(spec, {"EndpointSpec", "Ports"});
  if (ports.is_array() && !ports.empty()) {
    o << "Ports:";
    for (const auto& p : ports)
      o << "\n PublishedPort = " << p.value("PublishedPort", 0) << "\n  Protocol = " << p.value("Protocol", "tcp")
        << "\n  TargetPort = " << p.value("TargetPort", 0) << "\n  PublishMode = " << p.value("PublishMode", "ingress");
    o << " \n";
  }
  o << "\n";
  return o.str();
}

int service_inspect(Context& ctx, const Args& args) {
  FlagSet fs("shoal service inspect", "[OPTIONS] SERVICE [SERVICE...]",
             "Display detailed information on one or more services");
  fs.add("format", 'f', "string", "Format the output using the given Go template");
  fs.add_bool("pretty", 0, "Print the information in a human friendly format");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_min(1)); rc >= 0) return rc;
  if (fs.boolean("pretty") && fs.changed("format"))
    return fail(ctx, invalid_argument("--format is incompatible with human friendly format"));
  std::vector<std::string> bodies;
  for (const auto& a : fs.args()) {
    auto r = ctx.api->send("GET", "/services/" + query_escape(a), "", "");
    if (!r.ok()) {
      if (r.status().code() == Code::kNotFound) return fail(ctx, not_found("Error: no such service: " + a));
      return fail(ctx, r.status());
    }
    bodies.push_back(*r);
  }
  if (fs.boolean("pretty")) {
    for (const auto& b : bodies) *ctx.out << pretty_service(json::parse(b, nullptr, false));
    return 0;
  }
  return print_inspect(ctx, bodies, fs.str("format"), "Service");
}

Status post_update(Context& ctx, const json& service, const json& spec, const std::string& extra_query,
                   json* response, const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  uint64_t version = at_path(service, {"Version", "Index"}).is_number() ? service["Version"]["Index"].get<uint64_t>() : 0;
  auto r = ctx.api->post("/services/" + query_escape(get_str(service, "ID")) + "/update?version=" +
                             std::to_string(version) + extra_query,
                         spec, headers);
  if (!r.ok()) return r.status();
  if (response) *response = *r;
  return ok_status();
}

int service_update(Context& ctx, const Args& args) {
  FlagSet fs("shoal service update", "[OPTIONS] SERVICE", "Update a service");
  add_service_update_flags(fs);
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_exact(1)); rc >= 0) return rc;
  const std::string& name = fs.args()[0];
  auto svc = ctx.api->get("/services/" + query_escape(name));
  if (!svc.ok()) return fail(ctx, svc.status());
  json spec = (*svc)["Spec"];
  std::string extra;
  if (fs.boolean("rollback")) {
    for (const char* other : {"replicas", "image", "args", "force", "env-add", "env-rm", "label-add", "label-rm",
                              "constraint-add", "constraint-rm", "publish-add", "publish-rm", "update-parallelism",
                              "update-delay", "stop-grace-period", "restart-condition", "limit-cpu", "limit-memory"})
      if (fs.changed(other)) return fail(ctx, invalid_argument("other flags may not be combined with --rollback"));
    extra = "&rollback=previous";
  } else {
    auto network_id = [&](const std::string& name) {
      auto r = ctx.api->get("/networks/" + query_escape(name) + "?scope=swarm");
      return r.ok() && r->is_object() ? get_str(*r, "Id") : std::string();
    };
    if (Status st = apply_update_flags(fs, spec, network_id); !st.ok()) return fail(ctx, st);
    if (spec["TaskTemplate"].contains("Networks")) resolve_networks(ctx, spec);
  }
  auto headers = registry_auth_headers(fs, spec);
  if (!headers.ok()) return fail(ctx, headers.status());
  json resp;
  if (Status st = post_update(ctx, *svc, spec, extra, &resp, *headers); !st.ok()) return fail(ctx, st);
  if (resp.is_object() && resp.contains("Warnings") && resp["Warnings"].is_array())
    for (const auto& w : resp["Warnings"]) *ctx.err << go_print(w) << "\n";
  *ctx.out << name << "\n";
  ctx.out->flush();
  if (fs.boolean("detach")) return 0;
  return wait_or_fail(ctx, get_str(*svc, "ID"), fs.boolean("quiet"));
}

int service_scale(Context& ctx, const Args& args) {
  FlagSet fs("shoal service scale", "SERVICE=REPLICAS [SERVICE=REPLICAS...]",
             "Scale one or multiple replicated services");
  fs.add_bool("detach", 'd', "Exit immediately instead of waiting for the service to converge");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_min(1)); rc >= 0) return rc;
  for (const auto& a : fs.args()) {
    auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == a.size()) {
      *ctx.err << "Invalid scale specifier '" << a << "'.\nSee '" << fs.command_path() << " --help'.\n\n"
               << fs.usage_line() << "\n\nScale one or multiple replicated services\n";
      return 1;
    }
  }
  std::vector<std::string> errors, scaled;
  for (const auto& a : fs.args()) {
    auto eq = a.find('=');
    std::string name = a.substr(0, eq), value = a.substr(eq + 1);
    if (!std::all_of(value.begin(), value.end(), ::isdigit)) {
      errors.push_back(name + ": invalid replicas value " + value + ": strconv.ParseUint: parsing \"" + value +
                       "\": invalid syntax");
      continue;
    }
    auto svc = ctx.api->get("/services/" + query_escape(name));
    if (!svc.ok()) {
      errors.push_back(svc.status().message());
      continue;
    }
    json spec = (*svc)["Spec"];
    if (!spec.contains("Mode") || !spec["Mode"].contains("Replicated")) {
      errors.push_back(name + ": scale can only be used with replicated or replicated-job mode");
      continue;
    }
    spec["Mode"]["Replicated"]["Replicas"] = std::stoull(value);
    if (Status st = post_update(ctx, *svc, spec, "", nullptr); !st.ok()) {
      errors.push_back(st.message());
      continue;
    }
    *ctx.out << name << " scaled to " << value << "\n";
    ctx.out->flush();
    scaled.push_back(get_str(*svc, "ID"));
  }
  if (!fs.boolean("detach")) {
    for (const auto& id : scaled) {
      Status st = wait_for_convergence(*ctx.api, id, *ctx.out, ctx.out_tty, false);
      if (!st.ok()) errors.push_back(st.message());
    }
  }
  for (const auto& e : errors) *ctx.err << e << "\n";
  return errors.empty() ? 0 : 1;
}

int service_rm(Context& ctx, const Args& args) {
  FlagSet fs("shoal service rm", "SERVICE [SERVICE...]", "Remove one or more services");
  fs.set_aliases({"rm", "remove"});
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_min(1)); rc >= 0) return rc;
  return for_each_ref(ctx, fs.args(),
                      [&](const std::string& a) { return ctx.api->del("/services/" + query_escape(a)); });
}

int service_logs(Context& ctx, const Args& args) {
  FlagSet fs("shoal service logs", "[OPTIONS] SERVICE|TASK", "Fetch the logs of a service or task");
  fs.add_bool("follow", 'f', "Follow log output");
  fs.add_bool("timestamps", 't', "Show timestamps");
  fs.add("tail", 'n', "string", "Number of lines to show from the end of the logs", "all");
  fs.add("since", 0, "string", "Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)");
  fs.add_bool("no-trunc", 0, "Do not truncate output");
  fs.add_bool("no-task-ids", 0, "Do not include task IDs in output");
  fs.add_bool("no-resolve", 0, "Do not map IDs to Names in output");
  fs.add_bool("raw", 0, "Do not neatly format logs");
  fs.add_bool("details", 0, "Show extra details provided to logs");
  if (int rc = parse_or_exit(ctx, fs, args); rc >= 0) return rc;
  if (int rc = arg_error(ctx, fs.requires_exact(1)); rc >= 0) return rc;
  std::string q = "/services/" + query_escape(fs.args()[0]) + "/logs?stdout=1&stderr=1&tail=" +
                  query_escape(fs.str("tail"));
  if (fs.boolean("follow")) q += "&follow=1";
  if (fs.boolean("timestamps")) q += "&timestamps=1";
  if (fs.boolean("details")) q += "&details=1";
  if (fs.changed("since")) q += "&since=" + query_escape(fs.str("since"));
  std::atomic<bool> cancel{false};
  std::string buf;
  // The body is docker's multiplexed stream: 8-byte headers [stream,0,0,0,len(4, big endian)].
  Status st = ctx.api->stream("GET", q, "", [&](const std::string& piece) {
    buf += piece;
    while (buf.size() >= 8) {
      unsigned char kind = static_cast<unsigned char>(buf[0]);
      if (kind > 2 || buf[1] || buf[2] || buf[3]) {  // not multiplexed: raw text
        *ctx.out << buf;
        buf.clear();
        break;
      }
      size_t len = (static_cast<size_t>(static_cast<unsigned char>(buf[4])) << 24) |
                   (static_cast<size_t>(static_cast<unsigned char>(buf[5])) << 16) |
                   (static_cast<size_t>(static_cast<unsigned char>(buf[6])) << 8) |
                   static_cast<size_t>(static_cast<unsigned char>(buf[7]));
      if (buf.size() < 8 + len) break;
      (kind == 2 ? *ctx.err : *ctx.out) << buf.substr(8, len);
      buf.erase(0, 8 + len);
    }
    ctx.out->flush();
    return true;
  }, cancel);
  if (!buf.empty()) *ctx.out << buf;
  if (!st.ok()) return fail(ctx, st);
  return 0;
}

}  // namespace

int cmd_service(Context& ctx, const Args& args) {
  static const std::vector<SubCommand> subs = {
      {"create", nullptr, "Create a new service", service_create},
      {"inspect", nullptr, "Display detailed information on one or more services", service_inspect},
      {"logs", nullptr, "Fetch the logs of a service or task", service_logs},
      {"ls", "list", "List services", service_ls},
      {"ps", nullptr, "List the tasks of one or more services", service_ps},
      {"rm", "remove", "Remove one or more services", service_rm},
      {"scale", nullptr, "Scale one or multiple replicated services", service_scale},
      {"update", nullptr, "Update a service", service_update},
  };
  return dispatch(ctx, "shoal service", "Manage services", subs, args);
}

}  // namespace shoal::cli
