// base64 (RFC 4648) over OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock: what
// Docker's headers (X-Registry-Auth) and Go's JSON encoding of []byte carry.
// Pure functions; thread-safe. Any length (done in chunks, as OpenSSL's
// calls take an int).
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace shoal {

// Standard alphabet (A-Z a-z 0-9 + /), padded with '=' to a multiple of 4.
std::string base64_encode(std::string_view bytes);

// Decodes the standard or the URL-safe alphabet (- and _ for + and /, as the
// docker CLI sends X-Registry-Auth), with or without the '=' padding.
// Anything else is kInvalidArgument saying what is wrong, never echoing the
// text: a character outside both alphabets (line breaks and spaces
// included; its offset is named), '=' anywhere but as the last one or two
// characters, padding that does not end on a multiple of 4, or a length no
// base64 text has (4n+1 characters). The caller adds what the text was
// ("the X-Registry-Auth header").
Result<std::string> base64_decode(std::string_view text);

}  // namespace shoal
