// spawn_shim's contract: it returns only once the shim runs our binary, and
// says so when it cannot (no root needed: nothing is started).
#include "agent/runtime/shim.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace shoal::runtime {
namespace {

namespace fs = std::filesystem;

TEST(SpawnShim, AMissingBinaryIsAnErrorNotAPid) {
  const std::string dir = fs::temp_directory_path() / ("shoal-shim-test-" + std::to_string(getpid()));
  fs::create_directories(dir);
  auto pid = spawn_shim(dir + "/no-such-shoald", dir, "runc", dir + "/state", "c1");
  ASSERT_FALSE(pid.ok());
  EXPECT_NE(pid.status().message().find("starting the container supervisor"), std::string::npos)
      << pid.status().message();
  EXPECT_NE(pid.status().message().find("No such file"), std::string::npos) << pid.status().message();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace shoal::runtime
