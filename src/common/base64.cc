#include "common/base64.h"

#include <openssl/evp.h>

#include <algorithm>

namespace shoal {

namespace {

// Per EVP call: multiples of 3 bytes (encode) and 4 characters (decode).
constexpr size_t kEncodeChunk = 3 << 20;
constexpr size_t kDecodeChunk = 4 << 20;

bool in_standard_alphabet(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// `text` checked (see base64_decode) and turned into what OpenSSL's decoder
// takes: the standard alphabet, padded. OpenSSL itself skips some
// characters at the ends silently and knows no URL-safe alphabet.
Result<std::string> standard_padded(std::string_view text) {
  size_t data = text.size();
  while (data > 0 && text[data - 1] == '=') --data;
  std::string in(text.substr(0, data));
  for (size_t i = 0; i < in.size(); ++i) {
    char& c = in[i];
    if (c == '-') {
      c = '+';
    } else if (c == '_') {
      c = '/';
    } else if (!in_standard_alphabet(c)) {
      return invalid_argument("not base64: the character at offset " + std::to_string(i) +
                              (c == '=' ? " is '=', which may only end the text"
                                        : " is in neither the standard nor the URL-safe alphabet"));
    }
  }
  const size_t given_pad = text.size() - data;
  if (given_pad > 2) return invalid_argument("not base64: it ends in more than two '='");
  if (given_pad > 0 && text.size() % 4 != 0) {
    return invalid_argument("not base64: its '=' padding does not end on a multiple of 4 characters");
  }
  if (data % 4 == 1) return invalid_argument("not base64: no base64 text has 4n+1 characters");
  in.append((4 - in.size() % 4) % 4, '=');
  return in;
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve(4 * ((bytes.size() + 2) / 3));
  for (size_t at = 0; at < bytes.size(); at += kEncodeChunk) {
    size_t len = std::min(kEncodeChunk, bytes.size() - at);
    std::string piece(4 * ((len + 2) / 3) + 1, '\0');  // EVP_EncodeBlock adds a NUL
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(piece.data()),
                            reinterpret_cast<const unsigned char*>(bytes.data() + at), static_cast<int>(len));
    piece.resize(static_cast<size_t>(n));
    out += piece;
  }
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  SHOAL_ASSIGN_OR_RETURN(std::string in, standard_padded(text));
  size_t pad = 0;
  while (pad < in.size() && in[in.size() - 1 - pad] == '=') ++pad;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t at = 0; at < in.size(); at += kDecodeChunk) {
    size_t len = std::min(kDecodeChunk, in.size() - at);
    std::string piece(len / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(piece.data()),
                            reinterpret_cast<const unsigned char*>(in.data() + at), static_cast<int>(len));
    if (n < 0) return internal_error("OpenSSL refused base64 text that passed our own check");
    piece.resize(static_cast<size_t>(n));
    out += piece;
  }
  out.resize(out.size() - pad);  // EVP_DecodeBlock decodes each '=' as a zero byte
  return out;
}

}  // namespace shoal
