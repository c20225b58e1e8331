// `docker exec`'s process on the node: shoald starts itself as
//   shoald __exec <tty 0|1> <oci-runtime> <state-root> <container-id> <process.json> <streams>
// with fd 0 the process's input, fd 1 where its output goes, fd 3 a
// SOCK_SEQPACKET control socket. The helper runs `<oci-runtime> exec
// --process <process.json>` in the container (and removes the file) and
// relays (<streams>: "o" and/or "e" for the attached stdout and stderr,
// "-" alone for none):
//   - without a TTY: the process reads fd 0; its attached stdout and stderr go to
//     fd 1 in Docker's multiplexed stream format (an 8-byte header: stream
//     1 or 2, three zero bytes, the payload's length big-endian, then the
//     payload);
//   - with a TTY: the runtime makes the terminal (--tty --detach
//     --console-socket), the helper, a child subreaper, takes its master,
//     copies fd 0 to it and it to fd 1 raw, applies "resize ROWS COLS"
//     messages from fd 3, and reaps the process itself.
// It sends "pid N" on fd 3 once the process runs (TTY only) and "exit N"
// when it has ended and its output was relayed, then keeps fd 1 open until
// shoald answers "ack" (at most 5 s), so that a client that asks for the
// status when the stream ends finds it recorded; N is its exit status
// (128+signal if killed; 126 when it could not be started, as Docker's).
// The runtime's own error then goes to the output as well, as Docker shows
// it. The helper exits after "exit". A closed control socket (shoald gone)
// does not end the process; a client gone only stops the relaying.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/result.h"
#include "os/safe_path.h"  // UniqueFd

namespace shoal::runtime {

int exec_helper_main(int argc, char** argv);

struct ExecSpec {
  std::vector<std::string> cmd;  // not empty
  std::vector<std::string> env;  // K=V, added to the container's
  std::string cwd;               // "": the container's
  std::string user;              // "name[:group]" or "uid[:gid]"; "": the container's
  bool tty = false;
  int rows = 0, cols = 0;  // the terminal's size from the start (0: none given)
  bool stdin = false;      // false: the process reads /dev/null
  bool stdout = true, stderr = true;  // without a TTY: the streams relayed (the others dropped)
};

struct ExecChild {
  pid_t pid = -1;     // the helper (our child: reap it)
  os::UniqueFd input;     // write end of its fd 0 (invalid without stdin)
  os::UniqueFd output;    // read end of its fd 1
  os::UniqueFd control;   // our end of fd 3
};

// Starts the helper as `self_exe __exec ...` (posix_spawn; its stderr is
// ours) for the process in `process_file` (an OCI process, root-only; the
// helper removes it). Every returned descriptor is close-on-exec.
Result<ExecChild> spawn_exec_helper(const std::string& self_exe, const std::string& oci_runtime,
                                    const std::string& state_root, const std::string& container_id,
                                    const std::string& process_file, const ExecSpec& spec);

}  // namespace shoal::runtime
