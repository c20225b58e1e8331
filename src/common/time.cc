#include "common/time.h"

#include <cstdio>
#include <ctime>

namespace shoal {

std::string format_rfc3339(SysTimePoint t) {
  using namespace std::chrono;
  auto ns = duration_cast<nanoseconds>(t.time_since_epoch()).count();
  time_t secs = static_cast<time_t>(ns / 1000000000);
  long frac = static_cast<long>(ns % 1000000000);
  if (frac < 0) {
    frac += 1000000000;
    secs -= 1;
  }
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

Result<SysTimePoint> parse_rfc3339(const std::string& s) {
  int y, mo, d, h, mi, sec;
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &consumed) != 6) {
    return invalid_argument("invalid time \"" + s + "\": expected RFC 3339, e.g. 2026-11-25T02:56:52Z");
  }
  size_t i = static_cast<size_t>(consumed);
  long long frac_ns = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int digits = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      if (digits < 9) {
        frac_ns = frac_ns * 10 + (s[i] - '0');
        ++digits;
      }
      ++i;
    }
    while (digits++ < 9) frac_ns *= 10;
  }
  long offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh, om;
    if (std::sscanf(s.c_str() + i + 1, "%2d:%2d", &oh, &om) != 2) {
      return invalid_argument("invalid time zone offset in \"" + s + "\"");
    }
    offset = (oh * 3600L + om * 60L) * (s[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return invalid_argument("invalid time \"" + s + "\": missing time zone (Z or +hh:mm)");
  }
  if (i != s.size()) return invalid_argument("invalid time \"" + s + "\": trailing characters");
  struct tm tm {};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  time_t secs = timegm(&tm) - offset;
  // Nanoseconds since the epoch in 64 bits: years 1678-2261 (no overflow).
  constexpr time_t kMaxSecs = 9223372035;
  if (secs < -kMaxSecs || secs > kMaxSecs) {
    return invalid_argument("invalid time " + s.substr(0, 40) + ": out of range (years 1678 to 2261)");
  }
  return SysTimePoint(std::chrono::duration_cast<SysTimePoint::duration>(
      std::chrono::seconds(secs) + std::chrono::nanoseconds(frac_ns)));
}

Result<std::chrono::nanoseconds> parse_go_duration(const std::string& s) {
  if (s.empty()) return invalid_argument("invalid duration \"\": use e.g. 10s, 1m30s, 500ms");
  size_t i = 0;
  bool neg = false;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    ++i;
  }
  if (s.substr(i) == "0") return std::chrono::nanoseconds(0);
  long double total = 0;
  bool any = false;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (start == i) return invalid_argument("invalid duration \"" + s + "\": use e.g. 10s, 1m30s, 500ms");
    long double v = std::stold(s.substr(start, i - start));
    size_t ustart = i;
    while (i < s.size() && !std::isdigit(static_cast<unsigned char>(s[i])) && s[i] != '.') ++i;
    std::string unit = s.substr(ustart, i - ustart);
    long double mult;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs") mult = 1e3;
    else if (unit == "ms") mult = 1e6;
    else if (unit == "s") mult = 1e9;
    else if (unit == "m") mult = 60e9;
    else if (unit == "h") mult = 3600e9;
    else if (unit.empty()) return invalid_argument("invalid duration \"" + s + "\": missing unit (ns, us, ms, s, m, h)");
    else return invalid_argument("invalid duration \"" + s + "\": unknown unit \"" + unit + "\"");
    total += v * mult;
    any = true;
  }
  if (!any) return invalid_argument("invalid duration \"" + s + "\"");
  auto ns = std::chrono::nanoseconds(static_cast<int64_t>(total + 0.5L));
  return neg ? -ns : ns;
}

std::string format_go_duration(std::chrono::nanoseconds d) {
  int64_t ns = d.count();
  if (ns == 0) return "0s";
  std::string sign = ns < 0 ? "-" : "";
  uint64_t u = ns < 0 ? static_cast<uint64_t>(-ns) : static_cast<uint64_t>(ns);
  auto frac = [](uint64_t v, uint64_t unit) {
    std::string s = std::to_string(v / unit);
    uint64_t rem = v % unit;
    if (rem) {
      std::string f = std::to_string(rem + unit).substr(1);
      while (!f.empty() && f.back() == '0') f.pop_back();
      s += "." + f;
    }
    return s;
  };
  if (u < 1000) return sign + std::to_string(u) + "ns";
  if (u < 1000000) return sign + frac(u, 1000) + "\xc2\xb5s";
  if (u < 1000000000) return sign + frac(u, 1000000) + "ms";
  std::string out;
  uint64_t h = u / 3600000000000ULL;
  u -= h * 3600000000000ULL;
  uint64_t m = u / 60000000000ULL;
  u -= m * 60000000000ULL;
  if (h) out += std::to_string(h) + "h";
  if (h || m) out += std::to_string(m) + "m";
  out += frac(u, 1000000000) + "s";
  return sign + out;
}

std::string human_duration(std::chrono::nanoseconds d) {
  // Mirrors github.com/docker/go-units HumanDuration.
  using namespace std::chrono;
  int64_t secs = duration_cast<seconds>(d).count();
  if (secs < 1) return "Less than a second";
  if (secs == 1) return "1 second";
  if (secs < 60) return std::to_string(secs) + " seconds";
  int64_t mins = duration_cast<minutes>(d).count();
  if (mins == 1) return "About a minute";
  if (mins < 60) return std::to_string(mins) + " minutes";
  int64_t hours = static_cast<int64_t>(duration_cast<seconds>(d).count() / 3600.0 + 0.5);
  if (hours == 1) return "About an hour";
  if (hours < 48) return std::to_string(hours) + " hours";
  if (hours < 24 * 7 * 2) return std::to_string(hours / 24) + " days";
  if (hours < 24 * 30 * 2) return std::to_string(hours / 24 / 7) + " weeks";
  if (hours < 24 * 365 * 2) return std::to_string(hours / 24 / 30) + " months";
  return std::to_string(hours / 24 / 365) + " years";
}

}  // namespace shoal
