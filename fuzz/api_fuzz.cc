// libFuzzer target: one Docker API request, built from the input, through
// the router (Api::handle) over an in-memory store. Input format: the first
// line is "METHOD TARGET" (e.g. "POST /v1.41/services/create"), the rest is
// the body. Any crash, sanitizer report or uncaught exception is a bug:
// every request must end in a response.
#include <cstddef>
#include <cstdint>
#include <string>

#include "manager/api/api_test_util.h"

namespace {

struct World {
  shoal::FakeClock clock;
  shoal::api::testing::FakeControl control{clock};
  shoal::api::testing::FakeContainers containers;
  shoal::api::Api api{control, &containers, clock};
  World() {
    shoal::api::ContainerSummary c;
    c.id = "c0ffee0000000000000000000000000000000000000000000000000000000000";
    c.names = {"/web.1.abc"};
    c.state = "running";
    containers.containers.push_back(c);
    api.handle(shoal::api::testing::make_request("POST", "/v1.41/swarm/init", "{}"));
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();  // one swarm for the whole run
  std::string in(reinterpret_cast<const char*>(data), size);
  auto nl = in.find('\n');
  std::string line = in.substr(0, nl), body = nl == std::string::npos ? "" : in.substr(nl + 1);
  auto sp = line.find(' ');
  std::string method = line.substr(0, sp), target = sp == std::string::npos ? "/" : line.substr(sp + 1);
  if (target.empty() || target[0] != '/') target = "/" + target;
  auto r = world->api.handle(shoal::api::testing::make_request(method, target, body));
  if (r.status < 100 || r.status > 599) __builtin_trap();
  // Keep the swarm: a fuzzed leave is undone so later inputs reach the routes.
  if (!world->control.active()) world->api.handle(shoal::api::testing::make_request("POST", "/v1.41/swarm/init", "{}"));
  return 0;
}
