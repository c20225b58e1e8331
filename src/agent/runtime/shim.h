// The per-container supervisor ("shim"). shoald starts itself with
// posix_spawn (own session, no parent-death signal) as
//   shoald __shim <container-dir> <oci-runtime> <runtime-state-root> <container-id> <report-fd>
// and that process forks the shim proper, writes its pid to <report-fd> and
// exits, so the shim is never shoald's child and outlives it. The shim:
//   - writes its pid to <dir>/shim.pid atomically before anything else (so
//     a shoald that crashed right after spawning it still finds it);
//   - runs `<oci-runtime> --root R run --bundle <dir>/bundle --pid-file
//     <dir>/container.pid <id>` in the foreground, stdin /dev/null,
//     stdout/stderr piped to itself, runtime errors to <dir>/runtime.log;
//   - writes every output line to <dir>/container.log in Docker's json-file
//     format: {"log":"line\n","stream":"stdout","time":"RFC3339Nano"};
//   - when the runtime exits, records {"ExitCode":N,"FinishedAt":T,"Error":E}
//     in <dir>/exit.json atomically, and exits. N is the container's exit
//     status, 128+signal if a signal killed it; if the runtime failed to
//     start the process, E says why and N is 127 (executable not found),
//     126 (not executable) or the runtime's own status.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <functional>
#include <string>

#include "common/result.h"

namespace shoal::runtime {

// Entry point for argv[1] == "__shim" (called by shoald's main, and by any
// test binary that starts containers).
int shim_main(int argc, char** argv);

// Starts `self_exe __shim ...` fully detached; its stdout/stderr go to
// <container_dir>/shim.log. Returns the shim's pid (not a child of ours),
// once it runs self_exe's code; an error if self_exe cannot be executed.
Result<pid_t> spawn_shim(const std::string& self_exe, const std::string& container_dir,
                         const std::string& oci_runtime, const std::string& state_root, const std::string& id);

// A readable form of the runtime's last error in <container_dir>/runtime.log,
// or "" if it logged none.
std::string runtime_error(const std::string& container_dir);

// The OCI runtime's last error in its JSON log at `log_path` (--log-format
// json), without runc's "runc <verb> failed: " prefix; "" if none.
std::string runtime_log_error(const std::string& log_path);

// One round of relaying a child's output pipes (the shim's and an exec's):
// reads what each of fds[0..n) whose poll said ready holds into `buf` and
// passes it to each(i, data, size); a pipe at its end (or failing) is
// closed and its fd set to -1. Returns how many were closed this round.
int read_ready_pipes(pollfd* fds, int n, char* buf, size_t size,
                     const std::function<void(int, const char*, size_t)>& each);

// Docker's exit status for a process the runtime failed to start: 127 when
// the executable was not found, 126 when it may not be run; else `code`.
int start_failure_code(const std::string& error, int code);

}  // namespace shoal::runtime
