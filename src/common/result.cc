#include "common/result.h"

#include <cstring>

namespace shoal {

const char* code_name(Code c) {
  switch (c) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kNotFound: return "not found";
    case Code::kAlreadyExists: return "already exists";
    case Code::kConflict: return "conflict";
    case Code::kFailedPrecondition: return "failed precondition";
    case Code::kUnavailable: return "unavailable";
    case Code::kDeadlineExceeded: return "deadline exceeded";
    case Code::kPermissionDenied: return "permission denied";
    case Code::kInternal: return "internal";
    case Code::kUnimplemented: return "not implemented";
  }
  return "unknown";
}

Status errno_status(const std::string& what, int err) {
  return Status(Code::kInternal, what + ": " + std::strerror(err));
}

}  // namespace shoal
