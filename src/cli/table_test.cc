#include "cli/table.h"

#include <gtest/gtest.h>

namespace shoal::cli {
namespace {

TEST(Table, DockerServiceLsLayout) {
  std::string in =
      "ID\tNAME\tMODE\tREPLICAS\tIMAGE\tPORTS\n"
      "abc123def456\tweb\treplicated\t3/3\tnginx:latest\t*:80->80/tcp\n";
  EXPECT_EQ(tabwrite(in),
            "ID             NAME      MODE         REPLICAS   IMAGE          PORTS\n"
            "abc123def456   web       replicated   3/3        nginx:latest   *:80->80/tcp\n");
}

TEST(Table, EmptyTrailingCellsKeepPadding) {
  EXPECT_EQ(tabwrite("A\tB\tC\nxx\t\t\n"), "A         B         C\nxx                  \n");
}

TEST(Table, LinesWithoutTabsBreakColumnBlocks) {
  // Like Go's tabwriter: a line with no cell in a column ends that column's block.
  EXPECT_EQ(tabwrite("aaaaaaaaaaaaaa\tb\nheader\nc\td\n"), "aaaaaaaaaaaaaa   b\nheader\nc         d\n");
}

TEST(Table, CountsRunesNotBytes) {
  EXPECT_EQ(tabwrite("\"abcdefghijklmnopqrstuvwxyz0123…\"\tX\nid\tY\n"),
            "\"abcdefghijklmnopqrstuvwxyz0123…\"   X\nid                                  Y\n");
  EXPECT_EQ(rune_count("…"), 1u);
}

}  // namespace
}  // namespace shoal::cli
