#include "common/ids.h"

#include <sys/random.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace shoal {

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = getrandom(out.data() + got, n - got, 0);
    if (r < 0) throw std::runtime_error("getrandom failed");
    got += static_cast<size_t>(r);
  }
  return out;
}

std::string base36(const std::string& bytes, size_t width) {
  std::vector<unsigned> num(bytes.begin(), bytes.end());
  for (auto& d : num) d &= 0xff;
  std::string out;
  while (!num.empty()) {
    unsigned rem = 0;
    std::vector<unsigned> next;
    for (unsigned d : num) {
      unsigned cur = rem * 256 + d;
      unsigned q = cur / 36;
      rem = cur % 36;
      if (!next.empty() || q != 0) next.push_back(q);
    }
    out.push_back("0123456789abcdefghijklmnopqrstuvwxyz"[rem]);
    num = std::move(next);
  }
  while (out.size() < width) out.push_back('0');
  std::reverse(out.begin(), out.end());
  return out;
}

std::string new_object_id() {
  // 16 random bytes fit in 25 base36 digits (36^25 > 2^128).
  return base36(random_bytes(16), 25);
}

std::string hex_encode(const std::string& bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string new_container_id() { return hex_encode(random_bytes(32)); }

}  // namespace shoal
