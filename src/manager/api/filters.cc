#include "manager/api/filters.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/json_limits.h"

namespace shoal::api {

Result<Filters> parse_filters(const std::string& text) {
  Filters out;
  if (text.empty()) return out;
  auto parsed = parse_untrusted_json(text, "the filters " + quote_input(text));
  if (!parsed.ok()) {
    return invalid_argument(parsed.status().message() + ": expected JSON such as {\"name\":{\"web\":true}}");
  }
  nlohmann::json j = std::move(*parsed);
  if (j.is_null()) return out;
  if (!j.is_object()) return invalid_argument("invalid filters: expected a JSON object such as {\"name\":{\"web\":true}}");
  for (const auto& [key, v] : j.items()) {
    auto& vals = out[key];
    if (v.is_object()) {
      for (const auto& [val, on] : v.items())
        if (!on.is_boolean() || on.get<bool>()) vals.push_back(val);
    } else if (v.is_array()) {
      for (const auto& val : v) {
        if (!val.is_string()) return invalid_argument("invalid filter '" + shown_input(key) + "': values must be strings");
        vals.push_back(val.get<std::string>());
      }
    } else {
      return invalid_argument("invalid filter '" + shown_input(key) + "': expected {\"value\":true}");
    }
  }
  return out;
}

Result<Filters> parse_filters(const std::string& text, std::initializer_list<const char*> accepted) {
  auto f = parse_filters(text);
  if (!f.ok()) return f;
  for (const auto& [key, _] : *f) {
    bool ok = std::any_of(accepted.begin(), accepted.end(), [&key = key](const char* a) { return key == a; });
    if (!ok) {
      std::string list;
      for (const char* a : accepted) {
        if (a[0] == '_') continue;
        list += (list.empty() ? "" : ", ") + std::string(a);
      }
      return invalid_argument("invalid filter '" + shown_input(key) + "' (use one of: " + list + ")");
    }
  }
  return f;
}

bool has_prefix(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

bool label_matches(const Labels& labels, const std::string& filter) {
  auto eq = filter.find('=');
  auto it = labels.find(filter.substr(0, eq));
  if (it == labels.end()) return false;
  return eq == std::string::npos || it->second == filter.substr(eq + 1);
}

bool labels_match_all(const Filters& f, const std::string& key, const Labels& labels) {
  auto it = f.find(key);
  if (it == f.end()) return true;
  for (const auto& v : it->second)
    if (!label_matches(labels, v)) return false;
  return true;
}

bool truthy(const std::string& v) { return v == "1" || v == "true" || v == "True" || v == "TRUE"; }

}  // namespace shoal::api
