// Reading /proc: a process's identity (start time, executable), its children
// and namespace, and the mounts under a directory. Every function reads the
// kernel's current view; a process may exit between two calls, so callers
// treat "not found" as "gone". Thread-safe (no shared state).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace shoal::os {

// Field 22 of /proc/PID/stat (clock ticks since boot): with the pid it names
// one process for good, since a reused pid gets a later start time.
Result<uint64_t> process_start_time(pid_t pid);
// The process's state letter (R, S, D, T, Z, ...), or 0 when it is gone.
char process_state(pid_t pid);
// True when pid runs and started at `start_time` (not a zombie).
bool same_process_alive(pid_t pid, uint64_t start_time);
// The children of pid (all its threads' /proc/PID/task/TID/children).
std::vector<pid_t> child_pids(pid_t pid);
// The resolved path of /proc/PID/exe ("" when gone or unreadable).
std::string process_exe(pid_t pid);
// The inode of a namespace file (/run/netns/NAME, /proc/PID/ns/net).
Result<uint64_t> ns_inode(const std::string& path);
// Every process whose network namespace has this inode.
std::vector<pid_t> pids_in_netns(uint64_t inode);
// Mount points at or below dir (from /proc/self/mountinfo), deepest first.
std::vector<std::string> mounts_under(const std::string& dir);
// Resolves a command name through $PATH to its real path ("" if not found).
std::string find_in_path(const std::string& name);

}  // namespace shoal::os
