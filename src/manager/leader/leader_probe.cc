#include "manager/leader/leader_probe.h"

namespace shoal::leader {

LeaderProbe::LeaderProbe(Store& store, std::function<std::optional<http::TlsOptions>()> tls,
                         std::chrono::milliseconds timeout)
    : store_(store), tls_source_(std::move(tls)), timeout_(timeout) {}

LeaderProbe::~LeaderProbe() = default;

std::shared_ptr<http::Client> LeaderProbe::client_for(const std::string& node_id, const std::string& addr) {
  std::lock_guard lk(mu_);
  if (!tls_) tls_ = tls_source_();
  if (!tls_) return nullptr;
  const std::string key = node_id + "@" + addr;
  auto it = clients_.find(key);
  if (it != clients_.end()) return it->second;
  http::TlsOptions t = *tls_;
  t.server_name = node_id;  // the answer must come from that very node
  if (clients_.size() > 16) clients_.clear();  // managers come and go: keep it small
  auto c = std::make_shared<http::Client>("https://" + addr, t);
  clients_[key] = c;
  return c;
}

bool LeaderProbe::alive(const std::string& node_id) {
  auto n = store_.node(node_id);
  if (!n || !n->manager_status || n->manager_status->addr.empty()) return false;
  auto c = client_for(node_id, n->manager_status->addr);
  if (!c) return false;
  auto r = c->request("GET", kProbePath, "", {}, timeout_);
  // 404: a shoald older than the probe's route (a rolling upgrade) that
  // answered over mutual TLS with that node's certificate: it runs.
  return r.ok() && (r->status == 200 || r->status == 404);
}

size_t LeaderProbe::managers() const {
  size_t n = 0;
  for (const auto& node : store_.nodes()) n += node.spec.role == NodeRole::kManager ? 1 : 0;
  return n;
}

}  // namespace shoal::leader
