#include "common/json_limits.h"

namespace shoal {

namespace {

// Depth of the deepest array/object in `text`, skipping strings; stops
// counting (returns max_depth + 1) as soon as the limit is crossed, and
// *offset is then the byte where it was.
size_t nesting_depth(std::string_view text, size_t max_depth, size_t* offset) {
  size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char ch = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (ch == '\\') escaped = true;
      else if (ch == '"') in_string = false;
      continue;
    }
    if (ch == '"') {
      in_string = true;
    } else if (ch == '[' || ch == '{') {
      if (++depth > max_depth) {
        *offset = i;
        return depth;
      }
      deepest = std::max(deepest, depth);
    } else if ((ch == ']' || ch == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

std::string quote_input(std::string_view s, size_t max) {
  if (s.size() <= max) return "\"" + std::string(s) + "\"";
  size_t cut = max;
  // Do not cut inside a UTF-8 sequence (continuation bytes are 10xxxxxx).
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return "\"" + std::string(s.substr(0, cut)) + "...\" (" + std::to_string(s.size()) + " bytes)";
}

std::string utf8_prefix(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return std::string(s.substr(0, cut));
}

std::string shown_input(std::string_view s, size_t max) {
  return s.size() <= max ? std::string(s) : quote_input(s);
}

std::string json_exception_text(const std::exception& e) {
  std::string m = e.what();
  if (m.rfind("[json.exception.", 0) == 0) {
    auto end = m.find("] ");
    if (end != std::string::npos) m = m.substr(end + 2);
  }
  constexpr size_t kMax = 240;
  if (m.size() > kMax) {
    size_t cut = kMax;
    while (cut > 0 && (static_cast<unsigned char>(m[cut]) & 0xC0) == 0x80) --cut;
    m = m.substr(0, cut) + "...";
  }
  return m;
}

Result<nlohmann::json> parse_untrusted_json(std::string_view text, const std::string& what, size_t max_depth) {
  size_t offset = 0;
  if (nesting_depth(text, max_depth, &offset) > max_depth) {
    return invalid_argument("invalid JSON in " + what + ": nested deeper than " + std::to_string(max_depth) +
                            " levels (at byte " + std::to_string(offset) + ")");
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument("invalid JSON in " + what + ": " + json_exception_text(e));
  }
}

}  // namespace shoal
