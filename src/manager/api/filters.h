// The "filters" query parameter as the docker CLI sends it:
// {"key":{"value":true}} (or the older {"key":["value"]}), and the matching
// rules Docker applies to it.
#pragma once

#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/objects.h"

namespace shoal::api {

using Filters = std::map<std::string, std::vector<std::string>>;

// Parses `text` (empty = no filters). Keys outside `accepted` are refused
// with Docker's "invalid filter 'key'" (400).
Result<Filters> parse_filters(const std::string& text, std::initializer_list<const char*> accepted);
Result<Filters> parse_filters(const std::string& text);  // any key

// True when the filter has no values for `key`, or when pred holds for one.
template <typename Pred>
bool any_of(const Filters& f, const std::string& key, Pred pred) {
  auto it = f.find(key);
  if (it == f.end() || it->second.empty()) return true;
  for (const auto& v : it->second)
    if (pred(v)) return true;
  return false;
}

bool has_prefix(const std::string& s, const std::string& prefix);
// "key" matches when the label is present, "key=value" when it has that value.
bool label_matches(const Labels& labels, const std::string& filter);
// For filters over several label filters: all must match (Docker's rule).
bool labels_match_all(const Filters& f, const std::string& key, const Labels& labels);
bool truthy(const std::string& v);  // "1", "true", "True"

}  // namespace shoal::api
