// shoald's entry point (called by src/cmd/shoald.cc).
#pragma once

namespace shoal::daemon {
int daemon_main(int argc, char** argv);
}
