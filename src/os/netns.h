// Running programs inside a network namespace given by its file
// (/run/netns/NAME, as `ip netns add` makes it): the child is forked, joins
// the namespace with setns(2) and execs, so it shares every other namespace
// (mounts included) with the caller. Thread-safe (no shared state).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/result.h"
#include "os/process.h"

namespace shoal::os {

// Starts o.argv in the network namespace `netns_path`; when `hostname` is not
// empty the child also gets a UTS namespace of its own with that hostname.
// Honours o.stdout_path/stderr_path/append/new_session/env_add (not
// pdeathsig). Returns once the program was exec'd: a failure to join the
// namespace or to exec is returned as an error, never as a child that exits.
Result<pid_t> spawn_in_netns(const std::string& netns_path, const std::string& hostname, const SpawnOptions& o);
// Runs argv in the network namespace with this process's stdin/stdout/stderr
// and waits for it: returns its exit status (128+signal when killed; 127
// when it could not be exec'd, with the reason on stderr).
Result<int> run_in_netns(const std::string& netns_path, const std::vector<std::string>& argv);

}  // namespace shoal::os
