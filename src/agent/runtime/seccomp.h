// Seccomp for containers: Docker-format profiles (common/seccomp_profile.h)
// translated into the OCI runtime spec's linux.seccomp, the way Docker does
// it: the host's architecture picks its archMap entry, and each rule is kept
// or dropped by its includes/excludes on the container's capabilities, the
// host's architecture and its kernel version.
//
// The default profile is the Docker-format one Debian ships at
// /usr/share/containers/seccomp.json (package golang-github-containers-common).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "common/seccomp_profile.h"

namespace shoal::runtime {

inline constexpr char kDefaultSeccompProfilePath[] = "/usr/share/containers/seccomp.json";

// What the translation needs to know of the host.
struct SeccompHost {
  std::string go_arch;  // Go's name for the architecture: amd64, arm64, 386, arm, ppc64le, s390x, ...
  int kernel_major = 0;
  int kernel_minor = 0;
};

// This machine (uname), computed once.
const SeccompHost& seccomp_host();

// linux.seccomp for a container whose bounding set is `caps` (CAP_* names).
nlohmann::json to_oci_seccomp(const SeccompProfile& profile, const std::vector<std::string>& caps,
                              const SeccompHost& host);

// The profile at `path`, read and parsed once per path and then shared
// (thread-safe). A missing or malformed file is an error that names the file
// and says how to fix it; errors are not cached, so installing the file
// later works without a restart.
Result<std::shared_ptr<const SeccompProfile>> load_seccomp_profile(const std::string& path = kDefaultSeccompProfilePath);

}  // namespace shoal::runtime
