// Entry point of the `shoal` command: global flags (-H/--host, SHOAL_HOST),
// then dispatch to a command family. Returns the process exit code.
#pragma once

namespace shoal::cli {

int run(int argc, char** argv);

}  // namespace shoal::cli
