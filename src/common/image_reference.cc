#include "common/image_reference.h"

#include <algorithm>
#include <cctype>

#include "common/json_limits.h"

namespace shoal {

namespace {

// The checks below are Docker's reference grammar (distribution/reference)
// as one-pass scanners: libstdc++'s std::regex backtracks exponentially and
// recurses per character, so a crafted name could hang or crash the caller.

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool alnum(char c) { return lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

// [a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*
bool valid_component(std::string_view c) {
  if (c.empty() || !lower_alnum(c.front()) || !lower_alnum(c.back())) return false;
  size_t i = 0;
  while (i < c.size()) {
    if (lower_alnum(c[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < c.size() && !lower_alnum(c[j])) ++j;
    std::string_view sep = c.substr(i, j - i);
    bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
    i = j;
  }
  return true;
}

// [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > 128 || !(alnum(t[0]) || t[0] == '_')) return false;
  return std::all_of(t.begin(), t.end(), [](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; });
}

// sha256:[a-f0-9]{64}
bool valid_digest(std::string_view d) {
  if (d.size() != 7 + 64 || d.substr(0, 7) != "sha256:") return false;
  return std::all_of(d.begin() + 7, d.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// host (labels of letters, digits and inner '-', joined by '.') with an
// optional :port (1-65535).
bool valid_domain(std::string_view d) {
  auto colon = d.find(':');
  std::string_view host = d.substr(0, colon);
  if (colon != std::string_view::npos) {
    std::string_view port = d.substr(colon + 1);
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) return false;
    int n = std::stoi(std::string(port));
    if (n < 1 || n > 65535) return false;
  }
  if (host.empty()) return false;
  size_t pos = 0;
  while (pos <= host.size()) {
    size_t dot = std::min(host.find('.', pos), host.size());
    std::string_view label = host.substr(pos, dot - pos);
    if (label.empty() || !alnum(label.front()) || !alnum(label.back())) return false;
    if (!std::all_of(label.begin(), label.end(), [](char c) { return alnum(c) || c == '-'; })) return false;
    pos = dot + 1;
  }
  return true;
}

}  // namespace

std::string Reference::familiar_name() const {
  std::string name = path;
  if (domain == "docker.io") {
    if (name.rfind("library/", 0) == 0) name = name.substr(8);
    return name;
  }
  return domain + "/" + name;
}

std::string Reference::familiar() const {
  if (!digest.empty()) return familiar_name() + "@" + digest;
  return familiar_name() + ":" + tag;
}

Result<Reference> parse_reference(const std::string& in) {
  auto bad = [&](const std::string& why) {
    return invalid_argument("invalid reference format " + quote_input(in) + ": " + why +
                            " (expected NAME[:TAG][@DIGEST], e.g. busybox:latest)");
  };
  if (in.empty()) return bad("the image name is empty");
  if (in.size() > 255) return bad("longer than 255 characters");
  std::string rest = in;
  Reference r;
  auto at = rest.find('@');
  if (at != std::string::npos) {
    r.digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (!valid_digest(r.digest)) return bad("the digest must be sha256: followed by 64 hex digits");
  }
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    r.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (!valid_tag(r.tag)) {
      return bad("the tag " + quote_input(r.tag) + " is not valid (letters, digits, '_', '.' and '-', at most 128)");
    }
  }
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  auto first = rest.find('/');
  std::string head = first == std::string::npos ? "" : rest.substr(0, first);
  if (!head.empty() && (head.find('.') != std::string::npos || head.find(':') != std::string::npos || head == "localhost")) {
    r.domain = head;
    r.path = rest.substr(first + 1);
    if (!valid_domain(r.domain)) return bad("the registry " + quote_input(r.domain) + " is not a valid host[:port]");
  } else {
    r.domain = "docker.io";
    r.path = rest;
    if (r.path.find('/') == std::string::npos) r.path = "library/" + r.path;
  }
  size_t pos = 0;
  while (pos <= r.path.size()) {
    size_t end = r.path.find('/', pos);
    if (end == std::string::npos) end = r.path.size();
    std::string comp = r.path.substr(pos, end - pos);
    if (!valid_component(comp)) {
      return bad("repository names must be lowercase letters, digits and separators (. _ -)");
    }
    pos = end + 1;
  }
  return r;
}

std::string registry_of_address(const std::string& server_address) {
  std::string s = server_address;
  if (auto p = s.find("://"); p != std::string::npos) s = s.substr(p + 3);
  s = s.substr(0, s.find('/'));
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "index.docker.io" || s == "registry-1.docker.io") return "docker.io";
  return s;
}

bool credentials_are_for(const std::string& server_address, const std::string& domain) {
  std::string want = registry_of_address(server_address);
  return !want.empty() && want == registry_of_address(domain);
}

}  // namespace shoal
