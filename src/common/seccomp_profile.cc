#include "common/seccomp_profile.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "common/base64.h"
#include "common/json_limits.h"

namespace shoal {

using nlohmann::json;

namespace {

constexpr const char* kActions[] = {"SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                                    "SCMP_ACT_TRAP",  "SCMP_ACT_ERRNO",        "SCMP_ACT_TRACE",
                                    "SCMP_ACT_ALLOW", "SCMP_ACT_LOG"};
constexpr const char* kOps[] = {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE",       "SCMP_CMP_EQ",
                                "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"};
constexpr const char* kArches[] = {
    "SCMP_ARCH_X86",     "SCMP_ARCH_X86_64",    "SCMP_ARCH_X32",       "SCMP_ARCH_ARM",     "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",    "SCMP_ARCH_MIPS64",    "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL",  "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",   "SCMP_ARCH_PPC64",     "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",   "SCMP_ARCH_PARISC",    "SCMP_ARCH_PARISC64",  "SCMP_ARCH_RISCV64"};
constexpr const char* kFlags[] = {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                                  "SECCOMP_FILTER_FLAG_SPEC_ALLOW"};

template <size_t N>
bool one_of(const std::string& v, const char* const (&set)[N]) {
  return std::any_of(std::begin(set), std::end(set), [&](const char* s) { return v == s; });
}

template <size_t N>
std::string list(const char* const (&set)[N]) {
  std::string out;
  for (const char* s : set) out += (out.empty() ? "" : ", ") + std::string(s);
  return out;
}

// Bounded quoting of a value for an error message (never echo unbounded input).
std::string shown(const json& v) {
  std::string s = v.dump();
  return s.size() > 64 ? s.substr(0, 61) + "..." : s;
}

Status bad(const std::string& where, const std::string& what) { return invalid_argument(where + ": " + what); }

// `obj[key]` as a string ("" when absent or null).
Result<std::string> str(const json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) return bad(where + "." + key, "must be a string, not " + shown(*it));
  return it->get<std::string>();
}

Result<std::vector<std::string>> strings(const json& obj, const char* key, const std::string& where) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array()) return bad(where + "." + key, "must be a list of strings");
  for (const auto& v : *it) {
    if (!v.is_string()) return bad(where + "." + key, "must be a list of strings, not one with " + shown(v));
    out.push_back(v.get<std::string>());
  }
  return out;
}

template <typename T>
Result<std::optional<T>> unsigned_num(const json& obj, const char* key, const std::string& where, uint64_t max) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<T>();
  if (!it->is_number_unsigned() || it->get<uint64_t>() > max) {
    return bad(where + "." + key, "must be an integer from 0 to " + std::to_string(max) + ", not " + shown(*it));
  }
  return std::optional<T>(static_cast<T>(it->get<uint64_t>()));
}

Result<SeccompFilter> parse_filter(const json& obj, const char* key, const std::string& where) {
  SeccompFilter f;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return f;
  const std::string w = where + "." + key;
  if (!it->is_object()) return bad(w, "must be an object with caps, arches and minKernel");
  SHOAL_ASSIGN_OR_RETURN(f.caps, strings(*it, "caps", w));
  SHOAL_ASSIGN_OR_RETURN(f.arches, strings(*it, "arches", w));
  SHOAL_ASSIGN_OR_RETURN(f.min_kernel, str(*it, "minKernel", w));
  if (!f.min_kernel.empty()) {
    size_t dot = f.min_kernel.find('.');
    auto digits = [](const std::string& s) {
      return !s.empty() && s.size() <= 6 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
    };
    if (dot == std::string::npos || !digits(f.min_kernel.substr(0, dot)) || !digits(f.min_kernel.substr(dot + 1))) {
      return bad(w + ".minKernel", "must be a kernel version \"major.minor\", e.g. \"4.8\", not " + shown(*it->find("minKernel")));
    }
  }
  for (const auto& c : f.caps) {
    if (c.rfind("CAP_", 0) != 0) return bad(w + ".caps", "capability names start with CAP_, not " + shown(c));
  }
  return f;
}

Status check_action(const std::string& action, const std::string& where) {
  if (action.empty()) return bad(where, "missing: give an SCMP_ACT_* action");
  if (action == "SCMP_ACT_NOTIFY") return bad(where, "SCMP_ACT_NOTIFY is not supported by shoal (no notification agent)");
  if (!one_of(action, kActions)) return bad(where, "unknown action " + shown(action) + ": use one of " + list(kActions));
  return ok_status();
}

Result<SeccompArg> parse_arg(const json& a, const std::string& where) {
  if (!a.is_object()) return bad(where, "must be an object with index, value, valueTwo and op");
  SeccompArg out;
  SHOAL_ASSIGN_OR_RETURN(auto index, unsigned_num<uint32_t>(a, "index", where, 5));
  if (!index) return bad(where + ".index", "missing: give the argument's position, 0 to 5");
  out.index = *index;
  SHOAL_ASSIGN_OR_RETURN(auto value, unsigned_num<uint64_t>(a, "value", where, UINT64_MAX));
  SHOAL_ASSIGN_OR_RETURN(auto value_two, unsigned_num<uint64_t>(a, "valueTwo", where, UINT64_MAX));
  out.value = value.value_or(0);
  out.value_two = value_two.value_or(0);
  SHOAL_ASSIGN_OR_RETURN(out.op, str(a, "op", where));
  if (!one_of(out.op, kOps)) return bad(where + ".op", "unknown comparison " + shown(out.op) + ": use one of " + list(kOps));
  return out;
}

Result<SeccompRule> parse_rule(const json& s, const std::string& where) {
  if (!s.is_object()) return bad(where, "must be an object with names and action");
  SeccompRule r;
  SHOAL_ASSIGN_OR_RETURN(std::string name, str(s, "name", where));
  SHOAL_ASSIGN_OR_RETURN(r.names, strings(s, "names", where));
  if (!name.empty()) {
    if (!r.names.empty()) return bad(where, "give either name or names, not both");
    r.names.push_back(name);
  }
  if (r.names.empty()) return bad(where + ".names", "missing: list the system calls the rule is for");
  for (const auto& n : r.names) {
    if (n.empty() || n.size() > 64 || !std::all_of(n.begin(), n.end(), [](unsigned char c) { return std::isalnum(c) || c == '_'; })) {
      return bad(where + ".names", "invalid system call name " + shown(n));
    }
  }
  SHOAL_ASSIGN_OR_RETURN(r.action, str(s, "action", where));
  SHOAL_RETURN_IF_ERROR(check_action(r.action, where + ".action"));
  SHOAL_ASSIGN_OR_RETURN(r.errno_ret, unsigned_num<uint32_t>(s, "errnoRet", where, 4095));
  if (auto it = s.find("args"); it != s.end() && !it->is_null()) {
    if (!it->is_array()) return bad(where + ".args", "must be a list");
    for (size_t i = 0; i < it->size(); ++i) {
      SHOAL_ASSIGN_OR_RETURN(SeccompArg a, parse_arg((*it)[i], where + ".args[" + std::to_string(i) + "]"));
      r.args.push_back(a);
    }
  }
  SHOAL_ASSIGN_OR_RETURN(r.includes, parse_filter(s, "includes", where));
  SHOAL_ASSIGN_OR_RETURN(r.excludes, parse_filter(s, "excludes", where));
  return r;
}

Status check_arches(const std::vector<std::string>& arches, const std::string& where) {
  for (const auto& a : arches) {
    if (!one_of(a, kArches)) return bad(where, "unknown architecture " + shown(a) + ": use SCMP_ARCH_* names");
  }
  return ok_status();
}

Result<SeccompProfile> parse_object(const json& j) {
  if (!j.is_object()) return invalid_argument("a seccomp profile must be a JSON object");
  SeccompProfile p;
  if (j.contains("listenerPath") && !j["listenerPath"].is_null() && j["listenerPath"] != "") {
    return invalid_argument("listenerPath: seccomp notification listeners are not supported by shoal");
  }
  SHOAL_ASSIGN_OR_RETURN(p.default_action, str(j, "defaultAction", "profile"));
  SHOAL_RETURN_IF_ERROR(check_action(p.default_action, "defaultAction"));
  SHOAL_ASSIGN_OR_RETURN(p.default_errno_ret, unsigned_num<uint32_t>(j, "defaultErrnoRet", "profile", 4095));
  SHOAL_ASSIGN_OR_RETURN(p.architectures, strings(j, "architectures", "profile"));
  SHOAL_RETURN_IF_ERROR(check_arches(p.architectures, "architectures"));
  if (auto it = j.find("archMap"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return invalid_argument("archMap: must be a list of {architecture, subArchitectures}");
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string w = "archMap[" + std::to_string(i) + "]";
      const json& m = (*it)[i];
      if (!m.is_object()) return bad(w, "must be an object with architecture and subArchitectures");
      SeccompArchMap am;
      SHOAL_ASSIGN_OR_RETURN(am.architecture, str(m, "architecture", w));
      SHOAL_ASSIGN_OR_RETURN(am.sub_architectures, strings(m, "subArchitectures", w));
      SHOAL_RETURN_IF_ERROR(check_arches({am.architecture}, w + ".architecture"));
      SHOAL_RETURN_IF_ERROR(check_arches(am.sub_architectures, w + ".subArchitectures"));
      p.arch_map.push_back(std::move(am));
    }
  }
  if (!p.architectures.empty() && !p.arch_map.empty()) {
    return invalid_argument("give either architectures or archMap in a seccomp profile, not both");
  }
  SHOAL_ASSIGN_OR_RETURN(p.flags, strings(j, "flags", "profile"));
  for (const auto& f : p.flags) {
    if (!one_of(f, kFlags)) return bad("flags", "unknown flag " + shown(f) + ": use one of " + list(kFlags));
  }
  if (auto it = j.find("syscalls"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) return invalid_argument("syscalls: must be a list of rules");
    for (size_t i = 0; i < it->size(); ++i) {
      SHOAL_ASSIGN_OR_RETURN(SeccompRule r, parse_rule((*it)[i], "syscalls[" + std::to_string(i) + "]"));
      p.syscalls.push_back(std::move(r));
    }
  }
  return p;
}

// Whether `text` nests arrays/objects deeper than `max` (the parser recurses).
bool too_deep(const std::string& text, int max) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

constexpr size_t kMaxProfileBytes = 1 << 20;

}  // namespace

Result<SeccompProfile> parse_seccomp_profile(const std::string& text) {
  if (text.size() > kMaxProfileBytes) {
    return invalid_argument("the profile is " + std::to_string(text.size()) + " bytes: at most 1 MiB is accepted");
  }
  if (too_deep(text, 16)) return invalid_argument("the profile nests objects or lists more than 16 deep");
  json j;
  try {
    j = json::parse(text, nullptr, true, false);
  } catch (const json::parse_error& e) {
    return invalid_argument("not valid JSON: " + json_exception_text(e));  // bounded: "last read" can hold a whole string
  }
  return parse_object(j);
}

Result<std::string> seccomp_profile_text(const std::string& profile) {
  size_t first = profile.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && profile[first] == '{') return profile;
  std::string compact;  // base64 as Go's encoder wraps it, line breaks dropped
  for (char c : profile)
    if (c != '\r' && c != '\n') compact += c;
  auto decoded = base64_decode(compact);
  if (!decoded.ok()) return invalid_argument("is neither a JSON object nor base64-encoded JSON");
  return *decoded;
}

Status validate_seccomp_options(const std::string& mode, const std::string& profile, const std::string& where) {
  if (mode != "" && mode != "default" && mode != "unconfined" && mode != "custom") {
    return invalid_argument("invalid " + where + ".Mode " + shown(mode) + ": use default, unconfined or custom");
  }
  if (mode != "custom") {
    if (!profile.empty()) {
      return invalid_argument(where + ".Profile is given but " + where + ".Mode is " +
                              (mode.empty() ? "not set" : shown(mode)) + ": set Mode to custom to use a profile");
    }
    return ok_status();
  }
  if (profile.empty()) {
    return invalid_argument(where + ".Mode is custom but " + where + ".Profile is empty: give the profile's JSON");
  }
  auto text = seccomp_profile_text(profile);
  if (!text.ok()) return invalid_argument("invalid " + where + ".Profile: " + text.status().message());
  auto parsed = parse_seccomp_profile(*text);
  if (!parsed.ok()) return invalid_argument("invalid " + where + ".Profile: " + parsed.status().message());
  return ok_status();
}

}  // namespace shoal
