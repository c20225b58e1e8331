// libFuzzer target: a short sequence of Docker API requests, built from the
// input, through what shoald serves them with: the image routes
// (daemon::serve_image_routes) and the router (api::Api::handle) over an
// in-memory store, after a swarm init through the composition root's
// create_swarm.
//
// Input format (docs/security.md, "Fuzzing"): requests separated by a line
// "%%"; each request is "METHOD TARGET" on its first line (TARGET: the path
// and query as sent on the wire, e.g. "/v1.41/services?filters=..."), the
// rest of it is the body. At most kMaxRequests requests per input.
//
// Every input runs against a fresh swarm (and, if it uses an image route, a
// fresh image store in a temporary directory), so a finding replays from its
// input alone. A bug is: a crash, a sanitizer report, an exception escaping
// a handler, a status outside 100-599, a 500 from the router (the in-memory
// store does not fail, so a 500 is an unexpected exception in a handler),
// or an error body of more than kMaxErrorBody bytes (an error message must
// not echo unbounded input).
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "agent/runtime/image_store.h"
#include "common/log.h"
#include "daemon/images_routes.h"
#include "manager/api/api_test_util.h"

namespace {

constexpr size_t kMaxRequests = 8;
constexpr size_t kMaxErrorBody = 4096;
bool trace = false;  // SHOAL_FUZZ_TRACE=1: each request and its answer to stderr (writing seeds)

[[noreturn]] void bug(const std::string& what, const shoal::http::Request& req, const shoal::http::Response& r) {
  std::fprintf(stderr, "fuzz_api: %s: %s %s -> %d %s\n", what.c_str(), req.method.c_str(),
               req.target.substr(0, 200).c_str(), r.status, r.body.substr(0, 600).c_str());
  __builtin_trap();
}

// A node-local image store under a fresh temporary directory, removed with it.
// Small limits: a fuzzed archive cannot unpack gigabytes.
class TempImages {
 public:
  TempImages() {
    // tmpfs when there is one: the store fsyncs what it writes.
    std::filesystem::path base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    std::string tmpl = base / "shoal-fuzz-api-XXXXXX";
    if (!mkdtemp(tmpl.data())) __builtin_trap();
    dir_ = tmpl;
    shoal::runtime::ImageLimits limits;
    limits.max_unpacked_bytes = 32 << 20;
    limits.max_json_bytes = 1 << 20;
    limits.max_upload_bytes = 1 << 20;
    store_ = std::make_unique<shoal::runtime::ImageStore>(dir_, limits);
    if (!store_->open().ok()) __builtin_trap();
  }
  ~TempImages() {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  shoal::runtime::ImageStore& store() { return *store_; }

 private:
  std::string dir_;
  std::unique_ptr<shoal::runtime::ImageStore> store_;
};

struct World {
  shoal::FakeClock clock;
  shoal::api::testing::FakeControl control{clock};
  shoal::api::testing::FakeContainers containers;
  shoal::api::Api api{control, &containers, clock};
  std::unique_ptr<TempImages> images;  // made by the first image route
  World() {
    shoal::api::ContainerSummary c;
    c.id = "c0ffee0000000000000000000000000000000000000000000000000000000000";
    c.names = {"/web.1.abc"};
    c.state = "running";
    containers.containers.push_back(c);
    auto r = api.handle(shoal::api::testing::make_request("POST", "/v1.41/swarm/init", "{}"));
    if (r.status != 200) __builtin_trap();
  }

  void serve(const shoal::http::Request& req) {
    if (req.path.find("/images/") != std::string::npos) {
      if (!images) images = std::make_unique<TempImages>();
      shoal::http::Exchange ex;
      ex.request = req;
      bool answered = false;
      ex.respond = [&](shoal::http::Response r) {
        answered = true;
        check(req, r, /*router=*/false);
      };
      if (shoal::daemon::serve_image_routes(images->store(), ex)) {
        if (!answered) bug("an image route returned without an answer", req, {});
        return;
      }
    }
    check(req, api.handle(req), /*router=*/true);
  }

  static void check(const shoal::http::Request& req, const shoal::http::Response& r, bool router) {
    if (trace) {
      std::fprintf(stderr, "%s %s -> %d %s\n", req.method.c_str(), req.target.substr(0, 200).c_str(), r.status,
                   r.body.substr(0, 300).c_str());
    }
    if (r.status < 100 || r.status > 599) bug("status out of range", req, r);
    if (router && r.status == 500) bug("a handler failed", req, r);
    if (r.status >= 400 && r.body.size() > kMaxErrorBody) bug("an unbounded error body", req, r);
  }
};

// Splits the input into requests at "\n%%\n" lines.
std::vector<std::string> split_requests(const std::string& in) {
  static const std::string kSep = "\n%%\n";
  std::vector<std::string> out;
  size_t b = 0;
  while (out.size() < kMaxRequests) {
    size_t e = in.find(kSep, b);
    out.push_back(in.substr(b, e == std::string::npos ? std::string::npos : e - b));
    if (e == std::string::npos) break;
    b = e + kSep.size();
  }
  return out;
}

shoal::http::Request parse_request(const std::string& text) {
  auto nl = text.find('\n');
  std::string line = text.substr(0, nl), body = nl == std::string::npos ? "" : text.substr(nl + 1);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  auto sp = line.find(' ');
  std::string method = line.substr(0, sp), target = sp == std::string::npos ? "/" : line.substr(sp + 1);
  if (target.empty() || target[0] != '/') target = "/" + target;
  return shoal::api::testing::make_request(method, target, body);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  trace = getenv("SHOAL_FUZZ_TRACE") != nullptr;
  setenv("SHOAL_LOG_LEVEL", "error", 0);  // the store's start/stop lines per input are noise here
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World world;
  for (const auto& text : split_requests(std::string(reinterpret_cast<const char*>(data), size))) {
    world.serve(parse_request(text));
  }
  return 0;
}
