#include "common/image_reference.h"

#include <regex>

namespace shoal {

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
    return invalid_argument("invalid reference format \"" + in + "\": " + why +
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
    static const std::regex kDigest("sha256:[a-f0-9]{64}");
    if (!std::regex_match(r.digest, kDigest)) return bad("the digest must be sha256: followed by 64 hex digits");
  }
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    r.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    static const std::regex kTag("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
    if (!std::regex_match(r.tag, kTag)) return bad("the tag \"" + r.tag + "\" is not valid");
  }
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  auto first = rest.find('/');
  std::string head = first == std::string::npos ? "" : rest.substr(0, first);
  if (!head.empty() && (head.find('.') != std::string::npos || head.find(':') != std::string::npos || head == "localhost")) {
    r.domain = head;
    r.path = rest.substr(first + 1);
  } else {
    r.domain = "docker.io";
    r.path = rest;
    if (r.path.find('/') == std::string::npos) r.path = "library/" + r.path;
  }
  static const std::regex kComponent("[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*");
  size_t pos = 0;
  while (pos <= r.path.size()) {
    size_t end = r.path.find('/', pos);
    if (end == std::string::npos) end = r.path.size();
    std::string comp = r.path.substr(pos, end - pos);
    if (comp.empty() || !std::regex_match(comp, kComponent)) {
      return bad("repository names must be lowercase letters, digits and separators (. _ -)");
    }
    pos = end + 1;
  }
  return r;
}

}  // namespace shoal
