// Parsing JSON that comes from outside (API request bodies, query filters,
// session messages): bounded nesting and error messages that never echo
// unbounded input. nlohmann::json's dump(), conversions and our own walks
// recurse per nesting level, so a body of a million '[' would overflow the
// stack; parse_untrusted_json refuses it with a linear pre-scan before
// parsing. Thread-safe (no state).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace shoal {

// Deepest nesting accepted in untrusted JSON (Docker's specs nest < 10 deep).
constexpr size_t kMaxJsonDepth = 64;

// Parses `text`; nesting deeper than max_depth, invalid JSON and invalid
// UTF-8 are kInvalidArgument with the position. `what` names the document
// in messages ("the request body").
Result<nlohmann::json> parse_untrusted_json(std::string_view text, const std::string& what,
                                            size_t max_depth = kMaxJsonDepth);

// `s` quoted for an error message: at most `max` bytes of it (cut on a UTF-8
// character boundary) followed by "..." and its length when it was longer.
std::string quote_input(std::string_view s, size_t max = 64);

// `s` as it is when it is at most `max` bytes, else quote_input(s): for names
// and ids echoed in messages ("task abc not found") that a client controls.
std::string shown_input(std::string_view s, size_t max = 128);

// The longest prefix of `s` of at most `max` bytes that does not end inside
// a UTF-8 sequence: for bounding text a client sends that is then stored.
std::string utf8_prefix(std::string_view s, size_t max);

// nlohmann's exception text without its "[json.exception.x.y] " prefix and
// cut to a bounded length (its "last read" part can hold a whole string).
std::string json_exception_text(const std::exception& e);

}  // namespace shoal
