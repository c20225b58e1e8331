#include "cli/units.h"

#include <gtest/gtest.h>

namespace shoal::cli {
namespace {

TEST(Units, Durations) {
  EXPECT_EQ(*parse_duration_ns("10s"), 10000000000);
  EXPECT_EQ(*parse_duration_ns("1m30s"), 90000000000);
  EXPECT_EQ(*parse_duration_ns("500ms"), 500000000);
  EXPECT_FALSE(parse_duration_ns("10").ok());
  EXPECT_FALSE(parse_duration_ns("abc").ok());
}

TEST(Units, Memory) {
  EXPECT_EQ(*parse_memory_bytes("512M"), 536870912);
  EXPECT_EQ(*parse_memory_bytes("512m"), 536870912);
  EXPECT_EQ(*parse_memory_bytes("1g"), 1073741824);
  EXPECT_EQ(*parse_memory_bytes("1.5GiB"), 1610612736);
  EXPECT_EQ(*parse_memory_bytes("1024"), 1024);
  EXPECT_EQ(*parse_memory_bytes("64k"), 65536);
  EXPECT_FALSE(parse_memory_bytes("lots").ok());
  EXPECT_FALSE(parse_memory_bytes("1x").ok());
}

TEST(Units, Cpus) {
  EXPECT_EQ(*parse_nano_cpus("1.5"), 1500000000);
  EXPECT_EQ(*parse_nano_cpus("0.25"), 250000000);
  EXPECT_EQ(*parse_nano_cpus("2"), 2000000000);
  EXPECT_EQ(*parse_nano_cpus(".5"), 500000000);
  EXPECT_FALSE(parse_nano_cpus("0.0000000001").ok());
  EXPECT_FALSE(parse_nano_cpus("x").ok());
}

TEST(Units, Sizes) {
  EXPECT_EQ(human_size(1240000), "1.24MB");
  EXPECT_EQ(human_size(512), "512B");
  EXPECT_EQ(bytes_size(536870912), "512MiB");
}

}  // namespace
}  // namespace shoal::cli
