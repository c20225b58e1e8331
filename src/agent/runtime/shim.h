// The per-container supervisor ("shim"). shoald re-executes itself as
//   shoald __shim <container-dir> <oci-runtime> <container-id>
// detached in its own session. The shim runs `<runtime> run` in the
// foreground with the container's stdout/stderr piped to it, writes every line
// to <container-dir>/container.log (Docker's json-file format), and when the
// container exits records {"ExitCode": N, "FinishedAt": ...} in
// <container-dir>/exit.json (atomically). It outlives shoald, so containers
// survive a daemon restart and their exit codes are never lost.
#pragma once

namespace shoal::runtime {
int shim_main(int argc, char** argv);
}
