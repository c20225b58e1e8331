#include "cli/template.h"

#include <gtest/gtest.h>

namespace shoal::cli {
namespace {

using nlohmann::json;

std::string run(const std::string& t, const json& data) {
  auto tpl = Template::parse(t);
  EXPECT_TRUE(tpl.ok()) << tpl.status().message();
  if (!tpl.ok()) return "";
  auto r = tpl->execute(data);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : "";
}

TEST(Template, FieldsLiteralsAndJson) {
  json d = {{"ID", "abc"}, {"Spec", {{"Name", "web"}, {"Labels", {{"a", "b"}}}}}, {"N", 3}, {"L", {"x", "y"}}};
  EXPECT_EQ(run("{{.ID}}: {{.Spec.Name}}", d), "abc: web");
  EXPECT_EQ(run("{{.ID}}{{\"\\t\"}}{{.N}}", d), "abc\t3");
  EXPECT_EQ(run("{{json .Spec.Labels}}", d), "{\"a\":\"b\"}");
  EXPECT_EQ(run("{{.L}} {{.Spec.Labels}}", d), "[x y] map[a:b]");
  EXPECT_EQ(run("{{.Missing}}", d), "<no value>");
  EXPECT_EQ(run("{{.Spec.Name | upper}} {{lower \"AB\"}} {{join .L \",\"}}", d), "WEB ab x,y");
  EXPECT_EQ(run("{{if .ID}}yes{{else}}no{{end}} {{if .Nope}}yes{{else}}no{{end}}", d), "yes no");
  EXPECT_EQ(run("a {{- .ID -}} b", d), "aabcb");
}

TEST(Template, StrictModeReportsUnknownField) {
  auto t = Template::parse("{{.Foo}}");
  ASSERT_TRUE(t.ok());
  auto r = t->execute(json{{"ID", "x"}}, true);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("can't evaluate field Foo"), std::string::npos);
}

TEST(Template, ParseErrors) {
  EXPECT_FALSE(Template::parse("{{.ID").ok());
  EXPECT_FALSE(Template::parse("{{if .ID}}x").ok());
  EXPECT_FALSE(Template::parse("{{end}}").ok());
}

TEST(Template, FormatRowsTableAndPlain) {
  std::vector<json> rows = {{{"ID", "abc"}, {"Name", "web"}}, {{"ID", "defghijklmnop"}, {"Name", "db"}}};
  json headers = {{"ID", "ID"}, {"Name", "NAME"}};
  auto t = format_rows("", "table {{.ID}}\t{{.Name}}", rows, headers);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, "ID              NAME\nabc             web\ndefghijklmnop   db\n");
  auto custom = format_rows("table {{.Name}}\\t{{.ID}}", "", rows, headers);
  ASSERT_TRUE(custom.ok());
  EXPECT_EQ(*custom, "NAME      ID\nweb       abc\ndb        defghijklmnop\n");
  auto plain = format_rows("{{.Name}}={{.ID}}", "", rows, headers);
  EXPECT_EQ(*plain, "web=abc\ndb=defghijklmnop\n");
  auto js = format_rows("json", "", rows, headers);
  EXPECT_EQ(*js, "{\"ID\":\"abc\",\"Name\":\"web\"}\n{\"ID\":\"defghijklmnop\",\"Name\":\"db\"}\n");
  auto bad = format_rows("{{.Nope}}", "", rows, headers);
  EXPECT_FALSE(bad.ok());
}

TEST(Template, NodeDefaultFormatSelfMarker) {
  std::vector<json> rows = {{{"ID", "n1"}, {"Self", true}, {"Hostname", "h1"}},
                            {{"ID", "n2"}, {"Self", false}, {"Hostname", "h2"}}};
  json headers = {{"ID", "ID"}, {"Self", ""}, {"Hostname", "HOSTNAME"}};
  auto t = format_rows("", "table {{.ID}} {{if .Self}}*{{else}} {{ end }}\t{{.Hostname}}", rows, headers);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(*t, "ID        HOSTNAME\nn1 *      h1\nn2        h2\n");
}


// `{{index .Spec.Labels "com.docker.stack.namespace"}}` is how Docker users
// read a label whose name has dots.
TEST(Template, IndexMapsAndListsAsGo) {
  json d = {{"Labels", {{"a.b", "x"}}}, {"L", {"p", "q"}}, {"M", {{"k", {"v0", "v1"}}}}};
  EXPECT_EQ(run("{{index .Labels \"a.b\"}}", d), "x");
  EXPECT_EQ(run("[{{index .Labels \"nope\"}}]", d), "[]");
  EXPECT_EQ(run("{{index .L 1}}", d), "q");
  EXPECT_EQ(run("{{index .M \"k\" 0}}", d), "v0");
  auto t = Template::parse("{{index .L 5}}");
  ASSERT_TRUE(t.ok());
  auto r = t->execute(d);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("index out of range: 5"), std::string::npos);
  auto t2 = Template::parse("{{index .L \"x\"}}");
  ASSERT_TRUE(t2.ok());
  EXPECT_FALSE(t2->execute(d).ok());
}
}  // namespace
}  // namespace shoal::cli
