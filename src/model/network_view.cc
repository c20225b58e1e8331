#include "model/network_view.h"

namespace shoal::session {

namespace {

json port_json(const PortConfig& p) {
  return {{"Protocol", p.protocol}, {"TargetPort", p.target_port}, {"PublishedPort", p.published_port},
          {"PublishMode", p.publish_mode}};
}
PortConfig port_from(const json& j) {
  PortConfig p;
  p.protocol = j.value("Protocol", "tcp");
  p.target_port = j.value("TargetPort", 0u);
  p.published_port = j.value("PublishedPort", 0u);
  p.publish_mode = j.value("PublishMode", "ingress");
  return p;
}

}  // namespace

void to_json(json& j, const NetworkView& v) {
  json nets = json::array();
  for (const auto& n : v.networks) {
    json eps = json::array();
    for (const auto& e : n.endpoints) {
      eps.push_back({{"Task", e.task_id}, {"Service", e.service_id}, {"Node", e.node_id}, {"IP", e.ip},
                     {"NodeAddr", e.node_addr}, {"Serving", e.serving}});
    }
    json svcs = json::array();
    for (const auto& s : n.services) {
      json ports = json::array();
      for (const auto& p : s.ports) ports.push_back(port_json(p));
      svcs.push_back({{"ID", s.id}, {"Name", s.name}, {"Aliases", s.aliases}, {"VIP", s.vip}, {"Ports", ports}});
    }
    nets.push_back({{"ID", n.id}, {"Name", n.name}, {"VNI", n.vni}, {"Subnet", n.subnet}, {"Gateway", n.gateway},
                    {"Internal", n.internal}, {"Ingress", n.ingress}, {"MTU", n.mtu}, {"Endpoints", std::move(eps)},
                    {"Services", std::move(svcs)}});
  }
  j = {{"Networks", std::move(nets)}};
  if (!v.ingress_addr.empty()) j["IngressAddr"] = v.ingress_addr;
}

void from_json(const json& j, NetworkView& v) {
  v.networks.clear();
  v.ingress_addr = j.value("IngressAddr", "");
  for (const auto& n : j.value("Networks", json::array())) {
    NetworkInfo info;
    info.id = n.value("ID", "");
    info.name = n.value("Name", "");
    info.vni = n.value("VNI", 0u);
    info.subnet = n.value("Subnet", "");
    info.gateway = n.value("Gateway", "");
    info.internal = n.value("Internal", false);
    info.ingress = n.value("Ingress", false);
    info.mtu = n.value("MTU", 1450u);
    for (const auto& e : n.value("Endpoints", json::array())) {
      info.endpoints.push_back({e.value("Task", ""), e.value("Service", ""), e.value("Node", ""), e.value("IP", ""),
                                e.value("NodeAddr", ""), e.value("Serving", false)});
    }
    for (const auto& s : n.value("Services", json::array())) {
      ServiceRecord r{s.value("ID", ""), s.value("Name", ""), s.value("Aliases", std::vector<std::string>{}),
                      s.value("VIP", ""), {}};
      for (const auto& p : s.value("Ports", json::array())) r.ports.push_back(port_from(p));
      info.services.push_back(std::move(r));
    }
    v.networks.push_back(std::move(info));
  }
}

}  // namespace shoal::session
