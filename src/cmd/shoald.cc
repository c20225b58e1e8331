// shoald: the node daemon. main() only wires: see src/daemon/.
#include "daemon/main.h"

int main(int argc, char** argv) { return shoal::daemon::daemon_main(argc, argv); }
