#include "cli/service_ps.h"

#include <algorithm>

#include "cli/commands.h"
#include "common/time.h"

namespace shoal::cli {

using nlohmann::json;

json task_headers() {
  return {{"ID", "ID"},         {"Name", "NAME"},
          {"Image", "IMAGE"},   {"Node", "NODE"},
          {"DesiredState", "DESIRED STATE"}, {"CurrentState", "CURRENT STATE"},
          {"Error", "ERROR"},   {"Ports", "PORTS"}};
}

json service_headers() {
  return {{"ID", "ID"},         {"Name", "NAME"},   {"Mode", "MODE"},
          {"Replicas", "REPLICAS"}, {"Image", "IMAGE"}, {"Ports", "PORTS"}};
}

namespace {

std::string task_ports(const json& task) {
  const json& ports = at_path(task, {"Status", "PortStatus", "Ports"});
  if (!ports.is_array()) return "";
  std::string out;
  for (const auto& p : ports) {
    if (!out.empty()) out += ",";
    out += "*:" + std::to_string(p.value("PublishedPort", 0)) + "->" + std::to_string(p.value("TargetPort", 0)) + "/" +
           p.value("Protocol", "tcp");
  }
  return out;
}

std::string task_error(const std::string& err, bool trunc) {
  constexpr size_t kMaxErrLength = 30;
  std::string e = err;
  if (trunc && e.size() > kMaxErrLength) e = e.substr(0, kMaxErrLength - 1) + "…";
  if (!e.empty()) e = "\"" + e + "\"";
  return e;
}

}  // namespace

std::vector<json> build_task_rows(const json& tasks, const std::map<std::string, std::string>& service_names,
                                  const std::map<std::string, std::string>& node_names, bool trunc, bool table,
                                  std::chrono::system_clock::time_point now) {
  struct Item {
    std::string name;
    SysTimePoint created;
    const json* task;
  };
  std::vector<Item> items;
  for (const auto& t : tasks) {
    std::string sid = get_str(t, "ServiceID");
    auto it = service_names.find(sid);
    std::string svc = it == service_names.end() ? sid : it->second;
    int64_t slot = t.value("Slot", int64_t{0});
    std::string name = svc + "." + (slot != 0 ? std::to_string(slot) : get_str(t, "NodeID"));
    auto created = parse_rfc3339(get_str(t, "CreatedAt"));
    items.push_back({name, created.ok() ? *created : SysTimePoint{}, &t});
  }
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    if (a.name != b.name) return a.name < b.name;
    return b.created < a.created;
  });
  std::vector<json> rows;
  std::string prev;
  for (const auto& item : items) {
    const json& t = *item.task;
    std::string name = item.name == prev && table ? " \\_ " + item.name : item.name;
    prev = item.name;
    std::string node_id = get_str(t, "NodeID"), node;
    if (!node_id.empty()) {
      auto it = node_names.find(node_id);
      node = it == node_names.end() ? node_id : it->second;
    }
    std::string image = get_str(at_path(t, {"Spec", "ContainerSpec"}), "Image");
    if (trunc) image = strip_digest(image);
    const json& status = at_path(t, {"Status"});
    std::string current = pretty_print(get_str(status, "State")) + " " + since_text(get_str(status, "Timestamp"), now) + " ago";
    std::string id = get_str(t, "ID");
    rows.push_back({{"ID", trunc ? truncate_id(id) : id},
                    {"Name", name},
                    {"Image", image},
                    {"Node", node},
                    {"DesiredState", pretty_print(get_str(t, "DesiredState"))},
                    {"CurrentState", current},
                    {"Error", task_error(get_str(status, "Err"), trunc)},
                    {"Ports", task_ports(t)}});
  }
  return rows;
}

std::string service_ports(const json& ports_in) {
  if (!ports_in.is_array()) return "";
  std::vector<json> ports(ports_in.begin(), ports_in.end());
  std::sort(ports.begin(), ports.end(), [](const json& a, const json& b) {
    std::string pa = a.value("Protocol", "tcp"), pb = b.value("Protocol", "tcp");
    if (pa == pb) return a.value("PublishedPort", 0) < b.value("PublishedPort", 0);
    return pa < pb;
  });
  struct Range {
    int64_t ps = 0, pe = 0, ts = 0, te = 0;
    std::string proto;
    std::string str() const {
      std::string pub = pe > ps ? std::to_string(ps) + "-" + std::to_string(pe) : std::to_string(ps);
      std::string tgt = te > ts ? std::to_string(ts) + "-" + std::to_string(te) : std::to_string(ts);
      return "*:" + pub + "->" + tgt + "/" + proto;
    }
  } pr;
  std::vector<std::string> out;
  for (const auto& p : ports) {
    if (p.value("PublishMode", "ingress") != "ingress") continue;
    int64_t pub = p.value("PublishedPort", 0), tgt = p.value("TargetPort", 0);
    std::string proto = p.value("Protocol", "tcp");
    bool is_range = pr.te != pr.ts;
    bool overlaps = tgt <= pr.te;
    if (proto != pr.proto || pub - pr.pe > 1 || tgt - pr.te > 1 || (is_range && overlaps)) {
      if (pr.ps > 0) out.push_back(pr.str());
      pr = Range{pub, pub, tgt, tgt, proto};
      continue;
    }
    pr.pe = pub;
    pr.te = tgt;
  }
  if (pr.ps > 0) out.push_back(pr.str());
  std::string s;
  for (size_t i = 0; i < out.size(); ++i) s += (i ? ", " : "") + out[i];
  return s;
}

std::vector<json> build_service_rows(const json& services) {
  std::vector<json> list(services.begin(), services.end());
  std::stable_sort(list.begin(), list.end(), [](const json& a, const json& b) {
    return natural_less(get_str(at_path(a, {"Spec"}), "Name"), get_str(at_path(b, {"Spec"}), "Name"));
  });
  std::vector<json> rows;
  for (const auto& s : list) {
    const json& mode = at_path(s, {"Spec", "Mode"});
    std::string m = mode.contains("Global") ? "global"
                    : mode.contains("ReplicatedJob") ? "replicated job"
                    : mode.contains("GlobalJob") ? "global job"
                                                  : "replicated";
    std::string replicas;
    const json& st = at_path(s, {"ServiceStatus"});
    if (st.is_object()) {
      replicas = std::to_string(st.value("RunningTasks", 0)) + "/" + std::to_string(st.value("DesiredTasks", 0));
      const json& maxr = at_path(s, {"Spec", "TaskTemplate", "Placement", "MaxReplicas"});
      if (maxr.is_number() && maxr.get<int64_t>() > 0 && m == "replicated")
        replicas += " (max " + std::to_string(maxr.get<int64_t>()) + " per node)";
    }
    rows.push_back({{"ID", truncate_id(get_str(s, "ID"))},
                    {"Name", get_str(at_path(s, {"Spec"}), "Name")},
                    {"Mode", m},
                    {"Replicas", replicas},
                    {"Image", strip_digest(get_str(at_path(s, {"Spec", "TaskTemplate", "ContainerSpec"}), "Image"))},
                    {"Ports", service_ports(at_path(s, {"Endpoint", "Ports"}))}});
  }
  return rows;
}

}  // namespace shoal::cli
