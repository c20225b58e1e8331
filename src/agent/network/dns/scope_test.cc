#include "agent/network/dns/scope.h"

#include <gtest/gtest.h>

namespace shoal::netdns {
namespace {

using Ips = std::vector<std::string>;

std::vector<ServiceEntry> services() {
  ServiceEntry web{"Web", false, {}};
  web.networks["front"] = {"10.0.1.2", {"10.0.1.5", "10.0.1.6"}, {"www"}};
  web.networks["back"] = {"10.0.2.2", {"10.0.2.5"}, {}};
  ServiceEntry db{"db", true, {}};
  db.networks["back"] = {"", {"10.0.2.9", "10.0.2.10"}, {"Postgres"}};
  return {web, db};
}

TEST(Scope, VipModeNameIsTheVipOnEachSharedNetwork) {
  Scope s = build_scope({"front"}, services());
  EXPECT_EQ(s->at("web"), Ips{"10.0.1.2"});
  EXPECT_EQ(s->at("www"), Ips{"10.0.1.2"});
  EXPECT_EQ(s->at("tasks.web"), (Ips{"10.0.1.5", "10.0.1.6"}));
  EXPECT_EQ(s->count("db"), 0u);  // not on a network we share
  EXPECT_EQ(s->count("tasks.db"), 0u);

  Scope both = build_scope({"front", "back"}, services());
  EXPECT_EQ(both->at("web"), (Ips{"10.0.2.2", "10.0.1.2"}));  // networks in id order
  EXPECT_EQ(both->at("www"), Ips{"10.0.1.2"});                // an alias lives on its network only
}

TEST(Scope, DnsrrNameIsTheTaskIps) {
  Scope s = build_scope({"back"}, services());
  EXPECT_EQ(s->at("db"), (Ips{"10.0.2.9", "10.0.2.10"}));
  EXPECT_EQ(s->at("postgres"), (Ips{"10.0.2.9", "10.0.2.10"}));
  EXPECT_EQ(s->at("tasks.db"), (Ips{"10.0.2.9", "10.0.2.10"}));
  EXPECT_EQ(s->count("www"), 0u);
}

TEST(Scope, NoSharedNetworkNoNames) { EXPECT_TRUE(build_scope({"other"}, services())->empty()); }

TEST(Scope, NormalizeName) {
  EXPECT_EQ(normalize_name("Web.Example."), "web.example");
  EXPECT_EQ(normalize_name("web"), "web");
  EXPECT_EQ(normalize_name("."), "");
  EXPECT_EQ(make_scope({{"A.", {"1.2.3.4", "1.2.3.4"}}})->at("a"), Ips{"1.2.3.4"});
}

}  // namespace
}  // namespace shoal::netdns
