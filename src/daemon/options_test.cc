#include "daemon/options.h"

#include <gtest/gtest.h>

#include "http/server.h"

namespace shoal::daemon {

TEST(DaemonOptions, Defaults) {
  auto o = parse_daemon_options({});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->hosts, std::vector<std::string>{"unix:///run/shoal/shoal.sock"});
  EXPECT_EQ(o->data_root, "/var/lib/shoal");
  EXPECT_EQ(o->etcd_client_port, 2379);
}

TEST(DaemonOptions, ParsesFlags) {
  auto o = parse_daemon_options({"-H", "unix:///tmp/x.sock", "--data-root=/tmp/d", "--etcd-client-port", "3000",
                                 "--etcd-peer-port=3001", "-l", "debug"});
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->hosts[0], "unix:///tmp/x.sock");
  EXPECT_EQ(o->data_root, "/tmp/d");
  EXPECT_EQ(o->etcd_client_port, 3000);
  EXPECT_EQ(o->etcd_peer_port, 3001);
}

TEST(DaemonOptions, RegistryCertsDir) {
  EXPECT_EQ(parse_daemon_options({})->registry_certs_dir, "/etc/shoal/certs.d");
  auto o = parse_daemon_options({"--registry-certs-dir", "/srv/certs.d"});
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->registry_certs_dir, "/srv/certs.d");
  for (std::string bad : {"", "certs.d", "./x"}) {
    auto b = parse_daemon_options({"--registry-certs-dir", bad});
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_NE(b.status().message().find("absolute directory path"), std::string::npos) << b.status().message();
  }
}

TEST(DaemonOptions, RejectsBadInput) {
  EXPECT_EQ(parse_daemon_options({"--bogus"}).status().code(), Code::kInvalidArgument);
  EXPECT_NE(parse_daemon_options({"--etcd-client-port", "99999"}).status().message().find("1-65535"),
            std::string::npos);
  EXPECT_FALSE(parse_daemon_options({"-H", "/tmp/x.sock"}).ok());
  EXPECT_FALSE(parse_daemon_options({"--data-root"}).ok());
  EXPECT_FALSE(parse_daemon_options({"--etcd-client-port", "5", "--etcd-peer-port", "5"}).ok());
}

TEST(DaemonOptions, TcpListenersOnlyOnLoopback) {
  for (const char* ok : {"tcp://127.0.0.1:2375", "tcp://127.1.2.3:1", "tcp://localhost:2375", "tcp://[::1]:2375"}) {
    auto o = parse_daemon_options({"-H", ok});
    EXPECT_TRUE(o.ok()) << ok << ": " << o.status().message();
  }
  for (const char* bad : {"tcp://0.0.0.0:2375", "tcp://10.1.2.3:2375", "tcp://[::]:2375", "tcp://example.com:2375",
                          "tcp://:2375", "tcp://128.0.0.1:2375"}) {
    auto o = parse_daemon_options({"-H", bad});
    ASSERT_FALSE(o.ok()) << bad;
    EXPECT_EQ(o.status().code(), Code::kInvalidArgument);
    EXPECT_NE(o.status().message().find("TLS with client certificates"), std::string::npos) << o.status().message();
    EXPECT_NE(o.status().message().find(bad), std::string::npos);
  }
}

// What passes the loopback check also listens: localhost is 127.0.0.1 (never
// what a resolver might answer), [::1] is the IPv6 loopback.
TEST(DaemonOptions, LoopbackTcpListenersListen) {
  struct Case {
    const char* flag;
    const char* bound;
  };
  for (Case c : {Case{"tcp://localhost:0", "tcp://127.0.0.1:0"}, Case{"tcp://[::1]:0", "tcp://[::1]:0"},
                 Case{"tcp://127.0.0.1:0", "tcp://127.0.0.1:0"}}) {
    auto o = parse_daemon_options({"-H", c.flag});
    ASSERT_TRUE(o.ok()) << c.flag << ": " << o.status().message();
    ASSERT_EQ(o->hosts.size(), 1u);
    EXPECT_EQ(o->hosts[0], c.bound);
    http::Server server({o->hosts, 1, 1}, [](http::Exchange ex) {
      http::Response r;
      r.status = 200;
      ex.respond(r);
    });
    Status st = server.start();
    EXPECT_TRUE(st.ok()) << c.flag << ": " << st.message();
    if (st.ok()) {
      EXPECT_GT(server.bound_ports().at(0), 0);
      server.stop();
    }
  }
  for (const char* bad : {"tcp://localhost", "tcp://[::1]", "tcp://[::1]2375", "tcp://127.0.0.1:x", "tcp://127.0.0.1:99999"}) {
    auto o = parse_daemon_options({"-H", bad});
    ASSERT_FALSE(o.ok()) << bad;
    EXPECT_EQ(o.status().message().find("TLS"), std::string::npos) << o.status().message();
  }
}

TEST(DaemonOptions, TlsFlagsAreRefusedAsNotImplemented) {
  for (const char* f : {"--tlsverify", "--tlscacert=/x", "--tlscert", "--tlskey", "--tls"}) {
    auto o = parse_daemon_options({f, "/x"});
    ASSERT_FALSE(o.ok()) << f;
    EXPECT_NE(o.status().message().find("not implemented"), std::string::npos) << o.status().message();
  }
}

}  // namespace shoal::daemon
