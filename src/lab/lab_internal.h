// Pieces shared by the lab's commands (internal to src/lab).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <iosfwd>
#include <string>
#include <vector>

#include "common/result.h"
#include "lab/lab_state.h"

namespace shoal::lab {

// Runs `ip ARGS...`. The first version of the lab drives iproute2 rather
// than netlink (docs/lab.md says why); every call goes through here.
Status ip(const std::vector<std::string>& args);
Result<std::string> ip_output(const std::vector<std::string>& args);
bool netns_exists(const std::string& name);

// Starts the node's shoald in its namespace (own UTS namespace, hostname =
// node name) and records its pid. Does not wait for its API.
Status start_shoald(const LabState& lab, NodeState& n);
// True when the recorded shoald still runs.
bool shoald_alive(const NodeState& n);
// The etcd member(s) this node's shoald supervises: its children whose
// executable is the etcd binary (found by the process tree, never by name).
std::vector<pid_t> etcd_children(const NodeState& n);
// Waits until every pid has exited (or is a zombie), up to timeout; returns
// the ones still there.
std::vector<pid_t> wait_gone(const std::vector<pid_t>& pids, std::chrono::milliseconds timeout);
// Waits until each node's API answers /_ping; fails early, with the end of
// its log, when a shoald exits.
Status wait_answering(const std::vector<NodeState*>& nodes, std::chrono::milliseconds timeout);
// One API request to a node's socket: the body on 2xx, else an error with
// the daemon's message; *http_status (when given) gets the answer's status.
Result<std::string> api(const NodeState& n, const std::string& method, const std::string& path,
                        const std::string& body = "", int* http_status = nullptr);

// Joins every node but the first manager to the swarm the first manager
// leads, recording the outcome in each node's `swarm` field; prints what it
// did. A node shoald cannot join yet (swarm join answers 501 until it is
// implemented) stays un-joined, and that is reported, not hidden.
Status join_nodes(LabState& lab, std::ostream& out);

// A lab dir that exists already is used only if it is a directory (not a
// symlink) owned by root (this process's user) and not writable by group or
// others: anyone else could swap the nodes' data, sockets or lab.json under
// the lab. kFailedPrecondition naming the dir, its owner or mode and the fix.
Status check_lab_dir_trusted(const std::string& dir);

// The lab's registry (lab_registry.cc): docker-registry in the bridge
// namespace at registry_address() ("a.b.c.1:5000"), storage and log in
// registry_dir(). start_registry starts it, waits for it to answer and
// pushes the example images of images_dir (busybox.tar, whoami-rootfs.tar)
// as busybox:latest and whoami:latest; without /usr/bin/docker-registry it
// says so and does nothing. `lab down` kills it with the bridge namespace's
// processes and removes registry_dir().
constexpr int kRegistryPort = 5000;
std::string registry_dir(const std::string& lab_dir);
std::string registry_address(const LabState& lab);
Status start_registry(const LabState& lab, const std::string& images_dir, std::ostream& out);

// dir made absolute and normal, without a trailing slash.
std::string normal_dir(const std::string& dir);

std::string log_tail(const std::string& file, size_t max_bytes = 1500);

}  // namespace shoal::lab
