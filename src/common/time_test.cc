#include "common/time.h"

#include <gtest/gtest.h>

namespace shoal {

TEST(Time, Rfc3339RoundTrip) {
  auto t = parse_rfc3339("2026-11-25T02:56:52.123456789Z");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(format_rfc3339(*t), "2026-11-25T02:56:52.123456789Z");
  auto off = parse_rfc3339("2026-11-25T03:56:52+01:00");
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(format_rfc3339(*off), "2026-11-25T02:56:52.000000000Z");
  EXPECT_FALSE(parse_rfc3339("yesterday").ok());
  EXPECT_FALSE(parse_rfc3339("2026-11-25T02:56:52").ok());
}

TEST(Time, GoDurations) {
  using namespace std::chrono;
  EXPECT_EQ(*parse_go_duration("10s"), seconds(10));
  EXPECT_EQ(*parse_go_duration("1m30s"), seconds(90));
  EXPECT_EQ(*parse_go_duration("500ms"), milliseconds(500));
  EXPECT_EQ(*parse_go_duration("1.5h"), minutes(90));
  EXPECT_EQ(*parse_go_duration("0"), nanoseconds(0));
  EXPECT_FALSE(parse_go_duration("10").ok());
  EXPECT_FALSE(parse_go_duration("ten seconds").ok());
  EXPECT_EQ(format_go_duration(seconds(10)), "10s");
  EXPECT_EQ(format_go_duration(seconds(90)), "1m30s");
  EXPECT_EQ(format_go_duration(hours(2)), "2h0m0s");
  EXPECT_EQ(format_go_duration(milliseconds(1500)), "1.5s");
  EXPECT_EQ(format_go_duration(milliseconds(5)), "5ms");
}

TEST(Time, HumanDuration) {
  using namespace std::chrono;
  EXPECT_EQ(human_duration(milliseconds(300)), "Less than a second");
  EXPECT_EQ(human_duration(seconds(1)), "1 second");
  EXPECT_EQ(human_duration(seconds(5)), "5 seconds");
  EXPECT_EQ(human_duration(seconds(75)), "About a minute");
  EXPECT_EQ(human_duration(minutes(5)), "5 minutes");
  EXPECT_EQ(human_duration(minutes(61)), "About an hour");
  EXPECT_EQ(human_duration(hours(3)), "3 hours");
}

}  // namespace shoal
