// Docker-format seccomp profiles (the JSON `docker run --security-opt
// seccomp=FILE` reads, and Debian's /usr/share/containers/seccomp.json):
// parsed into plain types and checked, so that the API can refuse a bad
// custom profile with a 400 and the agent can translate a good one into the
// OCI runtime spec (agent/runtime/seccomp.h). No OS access here.
//
// Format: {"defaultAction", "defaultErrnoRet", "architectures" | "archMap":
// [{"architecture", "subArchitectures"}], "flags", "syscalls": [{"name" |
// "names", "action", "errnoRet", "args": [{"index", "value", "valueTwo",
// "op"}], "includes"/"excludes": {"caps", "arches", "minKernel"}, "comment"}]}.
// Also accepted and ignored: "comment", and the "errno" names podman's
// profile carries beside errnoRet. Refused: "listenerPath" and
// SCMP_ACT_NOTIFY (shoal runs no seccomp notification agent).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace shoal {

struct SeccompArg {
  uint32_t index = 0;     // 0..5
  uint64_t value = 0;
  uint64_t value_two = 0;
  std::string op;         // SCMP_CMP_EQ, ...
};

// When a rule applies (includes) or is skipped (excludes).
struct SeccompFilter {
  std::vector<std::string> caps;    // CAP_* names
  std::vector<std::string> arches;  // Go architecture names: amd64, arm64, 386, ...
  std::string min_kernel;           // "major.minor", empty: any
};

struct SeccompRule {
  std::vector<std::string> names;
  std::string action;                // SCMP_ACT_*
  std::optional<uint32_t> errno_ret;
  std::vector<SeccompArg> args;
  SeccompFilter includes;
  SeccompFilter excludes;
};

struct SeccompArchMap {
  std::string architecture;                // SCMP_ARCH_*
  std::vector<std::string> sub_architectures;
};

struct SeccompProfile {
  std::string default_action;
  std::optional<uint32_t> default_errno_ret;
  std::vector<std::string> architectures;  // exclusive with arch_map
  std::vector<SeccompArchMap> arch_map;
  std::vector<std::string> flags;          // SECCOMP_FILTER_FLAG_*
  std::vector<SeccompRule> syscalls;
};

// Parses and checks a profile. Errors are kInvalidArgument and say what is
// wrong where (e.g. "syscalls[3].action: unknown action ...").
Result<SeccompProfile> parse_seccomp_profile(const std::string& text);

// The Privileges.Seccomp options of a service: mode "" (not given: the
// default profile), "default", "unconfined" or "custom"; for custom,
// `profile` is the profile's JSON text, or that text base64-encoded (what
// Go clients send for the []byte field). kInvalidArgument naming `where`
// (e.g. "TaskTemplate.ContainerSpec.Privileges.Seccomp") when bad.
Status validate_seccomp_options(const std::string& mode, const std::string& profile, const std::string& where);

// The profile's JSON text from `profile` as validate_seccomp_options accepts
// it: JSON text as is, anything else base64-decoded.
Result<std::string> seccomp_profile_text(const std::string& profile);

}  // namespace shoal
