// Network namespaces kept alive by a bind mount on a file (as `ip netns add`
// does), and work done inside a namespace without moving the caller's thread.
//
// Every function that needs to be in another namespace runs that part in a
// short-lived thread of its own which joins the namespace (setns) or makes
// one (unshare) and then ends, so the calling thread never changes namespace
// and a failure half-way cannot leave it in the wrong one. Sockets keep the
// namespace they were created in, so a socket made by such a thread can be
// used from any thread afterwards: that is how the netlink code works on
// several namespaces from one thread.
//
// Used by the node's network datapath (src/agent/network). Thread-safe (no
// shared state).
#pragma once

#include <functional>
#include <string>

#include "common/result.h"
#include "os/safe_path.h"  // UniqueFd

namespace shoal::os {

// Opens a namespace file (O_RDONLY|O_CLOEXEC). `what` names it in errors.
// Follows symlinks, so /proc/PID/ns/net works: for paths the caller is given.
Result<UniqueFd> open_netns(const std::string& path, const std::string& what);
// Opens a namespace file that must be a namespace mounted on `path` itself:
// a trailing symlink is not followed (O_NOFOLLOW) and is kFailedPrecondition,
// as is a file with no namespace (nsfs) on it. For namespace files kept in a
// directory of our own (create_netns_file), which nothing may redirect.
Result<UniqueFd> open_netns_nofollow(const std::string& path, const std::string& what);
// The network namespace of the calling thread (/proc/thread-self/ns/net).
Result<UniqueFd> open_current_netns();

// Runs fn in a new thread that first joins the network namespace `ns_fd`;
// returns fn's Status (or why joining failed). `what` names the namespace.
Status run_in_netns_thread(int ns_fd, const std::string& what, const std::function<Status()>& fn);
// The same by the namespace file's path; an empty path runs fn on the
// calling thread, in its own namespace.
Status call_in_netns(const std::string& netns_path, const std::function<Status()>& fn);

// True when `path` is a bind mount of a namespace (nsfs), i.e. a namespace
// file that holds a namespace alive. A trailing symlink is not followed: a
// symlink to a namespace file is false.
bool is_netns_mount(const std::string& path);
// Makes a new, empty network namespace and bind-mounts it on `path`
// (creating the file, mode 0444, if needed). An existing netns mount there
// is an error (kAlreadyExists): callers check is_netns_mount first. `path`
// must be a regular file or missing: a trailing symlink is not followed and,
// like any other kind of file, is kFailedPrecondition. The namespace is
// mounted on the very file that was opened (through its fd), so swapping
// `path` meanwhile cannot redirect the mount.
Status create_netns_file(const std::string& path);
// Unmounts (lazily: MNT_DETACH, and UMOUNT_NOFOLLOW: a symlink is not
// followed) and unlinks `path`. A missing file or one that is not mounted is
// fine; a symlink is unlinked itself. The namespace itself goes away when
// its last user (process, open fd, socket) is gone.
Status remove_netns_file(const std::string& path);
// True when /proc/self/mountinfo lists `path` as a mount point.
bool is_mount_point(const std::string& path);

}  // namespace shoal::os
