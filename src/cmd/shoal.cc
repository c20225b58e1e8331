// The shoal CLI: a client of the Docker Engine API served by shoald.
#include "cli/run.h"

int main(int argc, char** argv) { return shoal::cli::run(argc, argv); }
