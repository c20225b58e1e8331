#include "cli/units.h"

#include <cctype>
#include <cmath>
#include <cstdio>

#include "common/time.h"

namespace shoal::cli {

Result<int64_t> parse_duration_ns(const std::string& s) {
  auto d = parse_go_duration(s);
  if (!d.ok()) return invalid_argument("time: invalid duration \"" + s + "\"");
  return static_cast<int64_t>(d->count());
}

Result<int64_t> parse_memory_bytes(const std::string& s) {
  // ^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  std::string num = s.substr(0, i);
  auto bad = [&] { return invalid_argument("invalid size: '" + s + "'"); };
  if (num.empty() || num[0] == '.' || num.back() == '.' || num.find("..") != std::string::npos) return bad();
  if (i < s.size() && s[i] == ' ') ++i;
  double mult = 1;
  if (i < s.size()) {
    switch (std::tolower(static_cast<unsigned char>(s[i]))) {
      case 'k': mult = 1024.0; ++i; break;
      case 'm': mult = 1024.0 * 1024; ++i; break;
      case 'g': mult = 1024.0 * 1024 * 1024; ++i; break;
      case 't': mult = 1024.0 * 1024 * 1024 * 1024; ++i; break;
      case 'p': mult = 1024.0 * 1024 * 1024 * 1024 * 1024; ++i; break;
      default: break;
    }
  }
  if (i < s.size() && (s[i] == 'i' || s[i] == 'I')) ++i;
  if (i < s.size() && (s[i] == 'b' || s[i] == 'B')) ++i;
  if (i != s.size()) return bad();
  double v = std::strtod(num.c_str(), nullptr);
  return static_cast<int64_t>(v * mult);
}

Result<int64_t> parse_nano_cpus(const std::string& s) {
  auto bad = [&] { return invalid_argument("failed to parse " + s + " as a rational number"); };
  size_t dot = s.find('.');
  std::string ip = s.substr(0, dot), fp = dot == std::string::npos ? "" : s.substr(dot + 1);
  if (ip.empty() && fp.empty()) return bad();
  for (char c : ip + fp)
    if (!std::isdigit(static_cast<unsigned char>(c))) return bad();
  while (!fp.empty() && fp.back() == '0') fp.pop_back();
  if (fp.size() > 9) return invalid_argument("value is too precise");
  if (ip.size() > 9) return bad();
  int64_t v = ip.empty() ? 0 : std::stoll(ip);
  v *= 1000000000;
  std::string frac = fp + std::string(9 - fp.size(), '0');
  v += std::stoll(frac);
  return v;
}

static std::string size_with(double size, double base, const char* const* units, int n, int prec) {
  int i = 0;
  while (size >= base && i < n - 1) {
    size /= base;
    ++i;
  }
  char buf[64];
  // "%.4g" then trimmed the way go-units does it ("%.*g" with precision 4).
  snprintf(buf, sizeof buf, "%.*g%s", prec, size, units[i]);
  return buf;
}

std::string human_size(double bytes) {
  static const char* const kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
  return size_with(bytes, 1000.0, kUnits, 9, 3);
}

std::string bytes_size(double bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
  return size_with(bytes, 1024.0, kUnits, 9, 4);
}

}  // namespace shoal::cli
