// Calling a function inside another network namespace without moving the
// caller: the function runs on a thread made for the call, which joins the
// namespace with setns(2) (that changes only the calling thread's namespace)
// and ends when the function returns. Whatever the function creates that is
// bound to a namespace at creation (sockets, netlink sockets, /proc/sys/net
// files opened) belongs to the joined namespace and stays so after the thread
// ends: a socket made here may be used from any thread. Thread-safe.
#pragma once

#include <functional>
#include <string>

#include "common/result.h"

namespace shoal::netlb {

// Runs fn in the namespace `netns_path` (empty: on the calling thread, in
// its own namespace) and returns its status; an error when the namespace
// cannot be opened or joined (fn does not run then).
Status call_in_netns(const std::string& netns_path, const std::function<Status()>& fn);

}  // namespace shoal::netlb
