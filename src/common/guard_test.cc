#include "common/guard.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace shoal {
namespace {

TEST(Guarded, PassesTheStatusThrough) {
  EXPECT_TRUE(guarded("test", "a step", [] { return ok_status(); }).ok());
  Status st = guarded("test", "a step", [] { return unavailable("etcd down"); });
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_EQ(st.message(), "etcd down");
}

TEST(Guarded, AnExceptionBecomesAnInternalStatusNamingTheStep) {
  Status st = guarded("test", "the pass", []() -> Status { throw std::out_of_range("map::at"); });
  EXPECT_EQ(st.code(), Code::kInternal);
  EXPECT_EQ(st.message(), "unexpected exception in the pass: map::at");
  st = guarded("test", "the pass", []() -> Status { throw 42; });
  EXPECT_EQ(st.code(), Code::kInternal);
  EXPECT_NE(st.message().find("not a std::exception"), std::string::npos);
}

}  // namespace
}  // namespace shoal
