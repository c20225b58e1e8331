#include "daemon/image_push_route.h"

#include <atomic>
#include <memory>

#include <nlohmann/json.hpp>

#include "agent/image_puller.h"
#include "agent/registry_push.h"
#include "agent/runtime/image_store.h"
#include "daemon/progress_lines.h"
#include "manager/api/api.h"

namespace shoal::daemon {

using nlohmann::json;

void serve_push(runtime::ImageStore& images, agent::ImagePuller* puller, http::Exchange& ex, const std::string& name) {
  auto fail = [&](const Status& st, int status = 0) {
    http::Response r = status ? api::error_response(status, st.message()) : api::error_response(st);
    r.headers["Api-Version"] = api::kApiVersion;
    ex.respond(std::move(r));
  };
  if (!puller) return fail(unimplemented("this node cannot push images to a registry"));
  auto plan = agent::plan_push(images, name, ex.request.query_param("tag").value_or(""));
  if (!plan.ok()) {
    // An image stored before blobs were kept: a conflict with the store's state.
    return fail(plan.status(), plan.status().code() == Code::kFailedPrecondition ? 409 : 0);
  }
  agent::RegistryCredentials creds;
  if (auto h = ex.request.headers.find("X-Registry-Auth"); h != ex.request.headers.end()) {
    auto c = agent::parse_registry_auth(h->second);
    if (!c.ok()) return fail(c.status());
    creds = *c;
  }
  // Shared with the client-gone hook, which an I/O thread may run after this
  // returns or throws: never a stack slot.
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  // The first request (does the registry have the top layer?) decides
  // between a plain error (unreachable, refused) and a stream.
  auto src = images.push_source(plan->ref.familiar());
  if (!src.ok()) return fail(src.status(), src.status().code() == Code::kFailedPrecondition ? 409 : 0);
  const std::string first = src->layers.empty() ? src->config.digest : src->layers.back().digest;
  if (ex.on_client_gone) ex.on_client_gone([cancel] { *cancel = true; });
  if (auto probe = puller->registry().has_blob(plan->ref, creds, first, *cancel); !probe.ok()) {
    int status = 0;
    if (probe.status().code() == Code::kPermissionDenied) {
      const std::string& m = probe.status().message();
      status = m.find("(HTTP 401") != std::string::npos || m.find("refused the credentials") != std::string::npos ? 401 : 403;
    }
    return fail(probe.status(), status);
  }
  http::Headers h{{"Content-Type", "application/json"}, {"Api-Version", api::kApiVersion}};
  std::shared_ptr<http::Stream> stream = ex.start_stream(200, h);
  auto write = [&](const json& line) {
    if (!stream->write(line.dump() + "\r\n")) *cancel = true;  // the client went away: stop the push
  };
  ProgressLines lines("Pushing");
  auto progress = [&](const agent::PushEvent& e) {
    if (e.aux) {
      write({{"progressDetail", json::object()}, {"aux", {{"Tag", e.tag}, {"Digest", e.digest}, {"Size", e.size}}}});
      return;
    }
    if (auto line = lines.line(e.id, e.status, e.current, e.total)) write(*line);
  };
  auto digest = agent::push_image(images, puller->registry(), *plan, creds, progress, *cancel);
  if (!digest.ok()) {
    write({{"errorDetail", {{"message", digest.status().message()}}}, {"error", digest.status().message()}});
  }
  stream->close();
}

}  // namespace shoal::daemon
