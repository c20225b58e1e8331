// `shoal lab`: a multi-node swarm on one Linux host. Each node is a network
// namespace with one veth into a bridge that lives in a namespace of its
// own (so no lab address or route ever appears on the host), its own data
// dir and its own shoald, whose API is a unix socket under the lab dir.
// Everything made is recorded in DIR/lab.json before it is made, so `down`
// removes it all even after a crash. See docs/lab.md.
//
// Needs root. One lab per dir. Commands may run concurrently on one dir:
// each holds a flock on it while it reads and rewrites lab.json.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "common/result.h"

namespace shoal::lab {

// $SHOAL_LAB_DIR, else /run/shoal-lab.
std::string default_lab_dir();

struct UpOptions {
  std::string dir;
  int managers = 3;
  int workers = 2;
  std::string subnet;  // a /24; empty: the first free one of 198.18.0.0/15
  std::string shoald;  // the binary; empty: beside this program, else $PATH
  // The example images pushed to the lab's registry; empty: $SHOAL_IMAGES_DIR,
  // else images/out of the source tree above this program's build dir.
  std::string images_dir;
};

// Builds the lab, starts every shoald, inits the swarm on m1 and joins the
// others (as far as shoald supports joining). Progress goes to out. On a
// failure before the shoalds answer, what was made is removed again.
Status up(const UpOptions& o, std::ostream& out);
// Removes every process, namespace, mount and file the lab made. Idempotent:
// no lab at dir is success.
Status down(const std::string& dir, std::ostream& out);
Status list(const std::string& dir, std::ostream& out);
Status env(const std::string& dir, const std::string& node, std::ostream& out);
// Runs argv in the node's network namespace; returns its exit status.
Result<int> exec(const std::string& dir, const std::string& node, const std::vector<std::string>& argv);

// Faults, on one node. kill: SIGKILL to its shoald and etcd; stop: SIGTERM
// and wait; start: a new shoald on the same data dir; pause/resume:
// SIGSTOP/SIGCONT to shoald and etcd; partition/heal: its link to the bridge
// down/up.
enum class Fault { kKill, kStop, kStart, kPause, kResume, kPartition, kHeal };
Status fault(const std::string& dir, const std::string& node, Fault f, std::ostream& out);

}  // namespace shoal::lab
