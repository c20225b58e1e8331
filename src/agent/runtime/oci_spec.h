// Builds the OCI runtime spec (config.json) of a container, the way Docker
// configures one: namespaces (pid, ipc, uts, mount, network; cgroup as
// ContainerConfig::private_cgroupns says), Docker's default
// capabilities, standard mounts, masked and read-only paths, the seccomp
// profile (seccomp.h) unless unconfined, no_new_privs when asked, cgroup
// limits, and the process from the image config merged with the container
// config. The image's /etc/passwd and /etc/group are read as untrusted input
// (resolved inside the rootfs, regular files only, size-capped).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/runtime/image_store.h"
#include "agent/runtime/runtime.h"

namespace shoal::runtime {

// container_dir holds hostname/hosts/resolv.conf and bundle/rootfs.
Result<nlohmann::json> build_oci_spec(const ContainerConfig& c, const ImageConfig& image,
                                      const std::string& container_dir, const std::string& hostname);
// True when /sys/fs/cgroup is a cgroup2 mount (a unified, cgroup v2 host);
// false on cgroup v1 and hybrid hosts (a tmpfs of v1 hierarchies). Read once.
bool host_cgroup_unified();
// Docker's defaults: the 14 capabilities a container gets, the /proc and /sys
// paths masked (an empty file or tmpfs over them) and those made read-only.
const std::vector<std::string>& default_capabilities();
const std::vector<std::string>& default_masked_paths();
const std::vector<std::string>& default_readonly_paths();
// "SIGTERM", "TERM", "15" -> 15; numbers 1 to SIGRTMAX.
Result<int> signal_number(const std::string& name);
struct ResolvedUser {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> additional_gids;  // groups in /etc/group that list the user
};
// Resolves "uid[:gid]" or "name[:group]" against the rootfs's /etc/passwd and
// /etc/group, like Docker: a numeric uid need not exist (its gid is then its
// passwd gid, or 0); names must. Ids are 0 to 2^31-1. Empty: root. An
// /etc/passwd that is a symlink, not a regular file, or over 4 MiB is an error.
Result<ResolvedUser> resolve_user(const std::string& user, const std::string& rootfs);

}  // namespace shoal::runtime
