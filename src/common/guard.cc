#include "common/guard.h"

#include <exception>
#include <string>

#include "common/log.h"

namespace shoal {

Status guarded(std::string_view component, std::string_view what, const std::function<Status()>& fn) {
  std::string why;
  try {
    return fn();
  } catch (const std::exception& e) {
    why = e.what();
  } catch (...) {
    why = "an exception that is not a std::exception";
  }
  std::string msg = "unexpected exception in " + std::string(what) + ": " + why;
  LOG_ERROR(std::string(component), msg);
  return internal_error(msg);
}

}  // namespace shoal
