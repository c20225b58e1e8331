// The lab's private registry: Debian's docker-registry (the CNCF
// distribution registry) in the bridge namespace at <bridge address>:5000,
// plain http (every node's shoald gets --insecure-registry for it), its
// storage under DIR/registry; and the push of the example images into it.
#include <fcntl.h>
#include <openssl/evp.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "http/client.h"
#include "lab/lab_internal.h"
#include "os/netns.h"
#include "os/proc.h"
#include "os/process.h"

namespace shoal::lab {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr const char* kRegistryBinary = "/usr/bin/docker-registry";
constexpr const char* kPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::string sha256_digest(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned i = 0; i < n; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

Result<std::string> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs fn on a thread that joined the network namespace at `netns_path`
// (setns(2) moves only the calling thread): sockets it opens live there.
Status in_netns(const std::string& netns_path, const std::function<Status()>& fn) {
  Status result;
  std::thread t([&] {
    int fd = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      result = errno_status("opening " + netns_path, errno);
      return;
    }
    if (setns(fd, CLONE_NEWNET) != 0) {
      result = errno_status("joining the network namespace " + netns_path, errno);
      close(fd);
      return;
    }
    close(fd);
    result = fn();
  });
  t.join();
  return result;
}

// The path and query of a Location header (absolute or not).
std::string location_target(const std::string& loc) {
  auto scheme = loc.find("://");
  if (scheme == std::string::npos) return loc;
  auto path = loc.find('/', scheme + 3);
  return path == std::string::npos ? "/" : loc.substr(path);
}

// A monolithic blob upload (POST, then PUT with the digest).
Status push_blob(http::Client& c, const std::string& repo, const std::string& data, const std::string& digest) {
  auto start = c.request("POST", "/v2/" + repo + "/blobs/uploads/", "", {{"Content-Length", "0"}});
  if (!start.ok()) return start.status();
  auto loc = start->headers.find("Location");
  if (start->status != 202 || loc == start->headers.end()) {
    return internal_error("the lab registry refused an upload to " + repo + " (" + std::to_string(start->status) + "): " +
                          start->body);
  }
  std::string target = location_target(loc->second);
  target += (target.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") + http::url_encode(digest);
  auto put = c.request("PUT", target, data, {{"Content-Type", "application/octet-stream"}}, std::chrono::seconds(60));
  if (!put.ok()) return put.status();
  if (put->status != 201) {
    return internal_error("the lab registry refused the blob " + digest + " of " + repo + " (" +
                          std::to_string(put->status) + "): " + put->body);
  }
  return ok_status();
}

// One image of one uncompressed layer (a rootfs tarball) as repo:tag.
Status push_image(http::Client& c, const std::string& repo, const std::string& tag, const std::string& layer,
                  const std::string& config) {
  const std::string layer_digest = sha256_digest(layer), config_digest = sha256_digest(config);
  SHOAL_RETURN_IF_ERROR(push_blob(c, repo, layer, layer_digest));
  SHOAL_RETURN_IF_ERROR(push_blob(c, repo, config, config_digest));
  json manifest = {{"schemaVersion", 2},
                   {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"config",
                    {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                     {"digest", config_digest},
                     {"size", config.size()}}},
                   {"layers",
                    {{{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                      {"digest", layer_digest},
                      {"size", layer.size()}}}}};
  auto put = c.request("PUT", "/v2/" + repo + "/manifests/" + tag, manifest.dump(),
                       {{"Content-Type", "application/vnd.oci.image.manifest.v1+json"}});
  if (!put.ok()) return put.status();
  if (put->status != 201) {
    return internal_error("the lab registry refused the manifest of " + repo + ":" + tag + " (" +
                          std::to_string(put->status) + "): " + put->body);
  }
  return ok_status();
}

// The config of an image built from a rootfs tarball, in the key order of
// images/build.sh's whoami.tar (so the pushed whoami has the id `image load`
// gives it).
std::string config_for(const std::string& layer_digest, const std::string& cmd, bool whoami) {
  std::string c = R"({"architecture":"amd64","os":"linux","created":"2026-01-01T00:00:00Z","config":{"Cmd":)" + cmd +
                  R"(,"Env":[")" + kPath + R"("])";
  if (whoami) c += R"(,"ExposedPorts":{"8000/tcp":{}},"StopSignal":"SIGTERM")";
  return c + R"(},"rootfs":{"type":"layers","diff_ids":[")" + layer_digest + R"("]}})";
}

Status wait_registry(http::Client& c, pid_t pid, const std::string& log) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  for (;;) {
    auto r = c.request("GET", "/v2/", "", {}, std::chrono::seconds(2));
    if (r.ok() && r->status == 200) return ok_status();
    char st = os::process_state(pid);
    if (st == 0 || st == 'Z') return internal_error("docker-registry exited; the end of " + log + ":\n" + log_tail(log));
    if (std::chrono::steady_clock::now() >= deadline) {
      return deadline_exceeded("docker-registry did not answer in 15 s; see " + log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace

std::string registry_dir(const std::string& lab_dir) { return lab_dir + "/registry"; }

std::string registry_address(const LabState& lab) {
  std::string net = lab.subnet.substr(0, lab.subnet.find('/'));
  return net.substr(0, net.rfind('.')) + ".1:" + std::to_string(kRegistryPort);
}

Status start_registry(const LabState& lab, const std::string& images_dir, std::ostream& out) {
  if (access(kRegistryBinary, X_OK) != 0) {
    out << "no lab registry: " << kRegistryBinary
        << " is missing (apt-get install docker-registry); import images on each node instead" << std::endl;
    return ok_status();
  }
  const std::string dir = registry_dir(lab.dir), addr = registry_address(lab);
  std::error_code ec;
  fs::create_directories(dir + "/data", ec);
  if (ec) return internal_error("creating " + dir + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, ec);
  const std::string config = dir + "/config.yml", log = dir + "/registry.log";
  {
    std::ofstream f(config, std::ios::trunc);
    f << "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: " << dir
      << "/data\n  delete:\n    enabled: true\nhttp:\n  addr: " << addr << "\n";
    if (!f) return internal_error("writing " + config);
  }
  os::SpawnOptions so;
  so.argv = {kRegistryBinary, "serve", config};
  so.stdout_path = log;
  so.new_session = true;  // outlives `shoal lab up`; `lab down` kills every process of the bridge namespace
  SHOAL_ASSIGN_OR_RETURN(pid_t pid, os::spawn_in_netns("/run/netns/" + lab.bridge_netns, "", so));
  std::string pushed;  // "busybox:latest and whoami:latest"
  Status st = in_netns("/run/netns/" + lab.bridge_netns, [&]() -> Status {
    http::Client c("http://" + addr);
    SHOAL_RETURN_IF_ERROR(wait_registry(c, pid, log));
    struct Example {
      const char* file;
      const char* repo;
      const char* cmd;
      bool whoami;
    };
    for (const Example& e : {Example{"busybox.tar", "busybox", R"(["sh"])", false},
                             Example{"whoami-rootfs.tar", "whoami", R"(["/whoami"])", true}}) {
      auto layer = read_all(images_dir + "/" + e.file);
      if (!layer.ok()) continue;  // not built: said below
      SHOAL_RETURN_IF_ERROR(push_image(c, e.repo, "latest", *layer, config_for(sha256_digest(*layer), e.cmd, e.whoami)));
      pushed += (pushed.empty() ? "" : " and ") + std::string(e.repo) + ":latest";
    }
    return ok_status();
  });
  if (!st.ok()) return st.with_context("the lab registry at " + addr);
  out << "lab registry at " << addr << " (plain http, every node trusts it): ";
  if (!pushed.empty()) out << pushed << " pushed (as " << addr << "/NAME)";
  else out << "no example images pushed (" << images_dir << " has none: run images/build.sh)";
  out << std::endl;
  return ok_status();
}

}  // namespace shoal::lab
