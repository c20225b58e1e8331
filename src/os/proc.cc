#include "os/proc.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace shoal::os {

namespace {

// The fields of /proc/PID/stat after the command (which may hold spaces and
// parentheses: it ends at the last ')').
bool stat_fields(pid_t pid, std::vector<std::string>* out) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  auto close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 1));
  std::string f;
  while (rest >> f) out->push_back(f);
  return true;
}

// Undoes mountinfo's octal escapes (\040 for a space).
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out.push_back(static_cast<char>(std::strtol(s.substr(i + 1, 3).c_str(), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

Result<uint64_t> process_start_time(pid_t pid) {
  std::vector<std::string> f;
  // After the command: state is field 3, so starttime (22) is index 19.
  if (!stat_fields(pid, &f) || f.size() < 20) return not_found("no process " + std::to_string(pid));
  return std::stoull(f[19]);
}

char process_state(pid_t pid) {
  std::vector<std::string> f;
  if (!stat_fields(pid, &f) || f.empty() || f[0].empty()) return 0;
  return f[0][0];
}

bool same_process_alive(pid_t pid, uint64_t start_time) {
  if (pid <= 0) return false;
  auto st = process_start_time(pid);
  if (!st.ok() || *st != start_time) return false;
  char s = process_state(pid);
  return s != 0 && s != 'Z' && s != 'X';
}

std::vector<pid_t> child_pids(pid_t pid) {
  std::vector<pid_t> out;
  std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(task_dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(task_dir + "/" + e->d_name + "/children");
    pid_t c;
    while (in >> c) out.push_back(c);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string process_exe(pid_t pid) {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
  return ec ? "" : p.string();
}

Result<uint64_t> ns_inode(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return errno_status("stat " + path, errno);
  return static_cast<uint64_t>(st.st_ino);
}

std::vector<pid_t> pids_in_netns(uint64_t inode) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    auto ino = ns_inode("/proc/" + std::string(e->d_name) + "/ns/net");
    if (ino.ok() && *ino == inode) out.push_back(static_cast<pid_t>(pid));
  }
  closedir(d);
  return out;
}

std::vector<std::string> mounts_under(const std::string& dir) {
  std::vector<std::string> out;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  std::string prefix = dir.back() == '/' ? dir : dir + "/";
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, devno, root, point;
    if (!(f >> id >> parent >> devno >> root >> point)) continue;
    point = unescape(point);
    if (point == dir || point.rfind(prefix, 0) == 0) out.push_back(point);
  }
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

std::string find_in_path(const std::string& name) {
  std::error_code ec;
  if (name.find('/') != std::string::npos) {
    auto p = std::filesystem::canonical(name, ec);
    return ec ? "" : p.string();
  }
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string d;
  while (std::getline(dirs, d, ':')) {
    if (d.empty()) continue;
    std::string c = d + "/" + name;
    if (access(c.c_str(), X_OK) == 0) {
      auto p = std::filesystem::canonical(c, ec);
      if (!ec) return p.string();
    }
  }
  return "";
}

}  // namespace shoal::os
