// A catch-all for background loops (control loops, election, store re-list,
// dispatcher threads): an exception escaping one of their steps would end
// shoald, and since every manager replays the same step on the same state,
// the next leader would die the same way. With the guard the step fails
// like any other (its loop logs, backs off and retries; the caller decides
// what state to distrust), and the process keeps serving.
// Thread-safe (no state).
#pragma once

#include <functional>
#include <string_view>

#include "common/result.h"

namespace shoal {

// fn's Status; if fn throws, a kInternal Status "unexpected exception in
// WHAT: <what()>" (logged as an error under `component`).
Status guarded(std::string_view component, std::string_view what, const std::function<Status()>& fn);

}  // namespace shoal
