#include "cli/flags.h"

#include <gtest/gtest.h>

namespace shoal::cli {
namespace {

FlagSet make() {
  FlagSet fs("shoal service create", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new service");
  fs.add_bool("detach", 'd', "Exit immediately");
  fs.add_bool("quiet", 'q', "Quiet");
  fs.add("env", 'e', "list", "Set environment variables");
  fs.add("replicas", 0, "uint", "Number of tasks");
  fs.add("name", 0, "string", "Service name");
  fs.add("mode", 0, "string", "Service mode", "replicated");
  return fs;
}

TEST(Flags, LongShortAndRepeated) {
  FlagSet fs = make();
  ASSERT_TRUE(fs.parse({"--name=web", "-e", "A=1", "--env", "B=2", "-eC=3", "-dq", "--replicas", "3", "img"}).ok());
  EXPECT_EQ(fs.str("name"), "web");
  EXPECT_EQ(fs.list("env"), (std::vector<std::string>{"A=1", "B=2", "C=3"}));
  EXPECT_TRUE(fs.boolean("detach"));
  EXPECT_TRUE(fs.boolean("quiet"));
  EXPECT_EQ(fs.str("replicas"), "3");
  EXPECT_TRUE(fs.changed("replicas"));
  EXPECT_FALSE(fs.changed("mode"));
  EXPECT_EQ(fs.str("mode"), "replicated");
  EXPECT_EQ(fs.args(), (std::vector<std::string>{"img"}));
}

TEST(Flags, BoolWithValueAndDoubleDash) {
  FlagSet fs = make();
  ASSERT_TRUE(fs.parse({"--detach=false", "--", "--name", "x"}).ok());
  EXPECT_FALSE(fs.boolean("detach"));
  EXPECT_TRUE(fs.changed("detach"));
  EXPECT_EQ(fs.args(), (std::vector<std::string>{"--name", "x"}));
}

TEST(Flags, NotInterspersedStopsAtFirstArg) {
  FlagSet fs = make();
  fs.set_interspersed(false);
  ASSERT_TRUE(fs.parse({"-d", "busybox", "sleep", "-d", "--name", "x"}).ok());
  EXPECT_EQ(fs.args(), (std::vector<std::string>{"busybox", "sleep", "-d", "--name", "x"}));
  EXPECT_FALSE(fs.changed("name"));
}

TEST(Flags, InterspersedCollectsArgsBetweenFlags) {
  FlagSet fs = make();
  ASSERT_TRUE(fs.parse({"a", "-d", "b"}).ok());
  EXPECT_EQ(fs.args(), (std::vector<std::string>{"a", "b"}));
}

TEST(Flags, Errors) {
  FlagSet fs = make();
  Status st = fs.parse({"--foo"});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(fs.flag_error_text(st), "unknown flag: --foo\nSee 'shoal service create --help'.\n");
  FlagSet fs2 = make();
  st = fs2.parse({"--replicas", "-3"});
  EXPECT_EQ(st.message(), "invalid argument \"-3\" for \"--replicas\" flag: strconv.ParseUint: parsing \"-3\": invalid syntax");
  FlagSet fs3 = make();
  EXPECT_EQ(fs3.parse({"--name"}).message(), "flag needs an argument: --name");
  FlagSet fs4 = make();
  EXPECT_EQ(fs4.parse({"-x"}).message(), "unknown shorthand flag: 'x' in -x");
}

TEST(Flags, Help) {
  FlagSet fs = make();
  ASSERT_TRUE(fs.parse({"--help"}).ok());
  EXPECT_TRUE(fs.help_requested());
  std::string h = fs.help_text();
  EXPECT_NE(h.find("Usage:  shoal service create [OPTIONS] IMAGE [COMMAND] [ARG...]"), std::string::npos);
  EXPECT_NE(h.find("  -d, --detach          Exit immediately\n"), std::string::npos) << h;
  EXPECT_NE(h.find("      --mode string     Service mode (default replicated)\n"), std::string::npos) << h;
}

TEST(Flags, ArgCountMessages) {
  FlagSet fs = make();
  ASSERT_TRUE(fs.parse({}).ok());
  EXPECT_EQ(fs.requires_min(1),
            "\"shoal service create\" requires at least 1 argument.\nSee 'shoal service create --help'.\n\n"
            "Usage:  shoal service create [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nCreate a new service\n");
  EXPECT_EQ(fs.requires_none(), "");
  EXPECT_NE(fs.requires_exact(2).find("requires exactly 2 arguments."), std::string::npos);
}

}  // namespace
}  // namespace shoal::cli
