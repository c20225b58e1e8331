// The exec, container inspect and container logs routes over a fake node:
// what they accept, refuse and answer (the hijacked stream itself is
// server_test's Hijack tests and tests/system/exec.sh).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "manager/api/api.h"
#include "manager/api/api_test_util.h"

namespace shoal::api {
namespace {

using testing::FakeContainers;
using testing::FakeControl;
using testing::make_request;

class ExecRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ContainerSummary c;
    c.id = std::string(64, 'a');
    c.names = {"/box.1.x"};
    c.state = "running";
    containers.containers.push_back(c);
  }
  http::Response call(const std::string& method, const std::string& target, const std::string& body = "",
                      http::Headers headers = {}) {
    auto req = make_request(method, target, body);
    req.headers = std::move(headers);
    return api.handle(req);
  }
  FakeClock clock;
  FakeControl control{clock};
  FakeContainers containers;
  Api api{control, &containers, clock};
  const std::string exec_id = std::string(64, 'e');
};

TEST_F(ExecRoutesTest, CreateTakesDockersExecConfig) {
  auto r = call("POST", "/v1.41/containers/aaaa/exec",
                R"({"Cmd":["sh","-c","id"],"Env":["K=v"],"User":"1000","WorkingDir":"/tmp","Tty":true,
                    "AttachStdin":true,"AttachStdout":true,"AttachStderr":true,"DetachKeys":"","Privileged":false,
                    "ConsoleSize":[24,80]})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(nlohmann::json::parse(r.body)["Id"], exec_id);
  ASSERT_EQ(containers.execs.size(), 1u);
  const ExecOptions& o = containers.execs[0];
  EXPECT_EQ(o.cmd, (std::vector<std::string>{"sh", "-c", "id"}));
  EXPECT_EQ(o.env, (std::vector<std::string>{"K=v"}));
  EXPECT_EQ(o.user, "1000");
  EXPECT_EQ(o.workdir, "/tmp");
  EXPECT_TRUE(o.tty && o.attach_stdin && o.attach_stdout && o.attach_stderr);
  EXPECT_EQ(o.console_rows, 24);
  EXPECT_EQ(o.console_cols, 80);
}

TEST_F(ExecRoutesTest, CreateRefusesWhatItCannotHonour) {
  auto status = [&](const std::string& body) { return call("POST", "/v1.41/containers/aaaa/exec", body).status; };
  EXPECT_EQ(status(R"({})"), 400);  // no command
  EXPECT_EQ(status(R"({"Cmd":[]})"), 400);
  EXPECT_EQ(status(R"({"Cmd":"id"})"), 400);
  EXPECT_EQ(status(R"({"Cmd":["id"],"Privileged":true})"), 400);
  EXPECT_EQ(status(R"({"Cmd":["id"],"DetachKeys":"ctrl-x"})"), 400);
  EXPECT_EQ(status(R"({"Cmd":["id"],"WorkingDir":"relative"})"), 400);
  EXPECT_EQ(status(R"({"Cmd":["id"],"Bogus":1})"), 400);
  EXPECT_EQ(status(R"({"Cmd":["id"],"Env":["=x"]})"), 400);
  EXPECT_EQ(status(R"({"Cmd":["id"],"ConsoleSize":[1]})"), 400);
  EXPECT_EQ(status("not json"), 400);
  EXPECT_EQ(call("POST", "/v1.41/containers/nosuch/exec", R"({"Cmd":["id"]})").status, 404);
  EXPECT_TRUE(containers.execs.empty());
}

TEST_F(ExecRoutesTest, StartUpgradesWhenAskedAndHandsTheStreamOver) {
  auto r = call("POST", "/v1.41/exec/" + exec_id + "/start", R"({"Detach":false,"Tty":true})",
                {{"Upgrade", "tcp"}, {"Connection", "Upgrade"}});
  EXPECT_EQ(r.status, 101);
  EXPECT_EQ(r.headers["Upgrade"], "tcp");
  EXPECT_EQ(r.headers["Content-Type"], "application/vnd.docker.raw-stream");
  EXPECT_NE(r.hijack, nullptr);
  EXPECT_EQ(containers.start_size, (std::pair<int, int>{0, 0}));  // none given at start
  r = call("POST", "/v1.41/exec/" + exec_id + "/start", R"({"ConsoleSize":[33,77]})");
  EXPECT_EQ(containers.start_size, (std::pair<int, int>{33, 77}));
  EXPECT_EQ(call("POST", "/v1.41/exec/" + exec_id + "/start", R"({"Tty":"yes"})").status, 400);
  r = call("POST", "/v1.41/exec/" + exec_id + "/start", R"({})");
  EXPECT_EQ(r.status, 200);  // no upgrade asked: 200, then the stream
  EXPECT_NE(r.hijack, nullptr);
  r = call("POST", "/v1.41/exec/" + exec_id + "/start", R"({"Detach":true})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.hijack, nullptr);
  EXPECT_EQ(call("POST", "/v1.41/exec/" + exec_id + "/start", R"({"Bogus":1})").status, 400);
  EXPECT_EQ(call("POST", "/v1.41/exec/short/start", "{}").status, 404);
  EXPECT_EQ(call("POST", "/v1.41/exec/" + std::string(64, 'f') + "/start", "{}").status, 404);
}

TEST_F(ExecRoutesTest, ResizeNeedsTwoSmallWholeNumbers) {
  EXPECT_EQ(call("POST", "/v1.41/exec/" + exec_id + "/resize?h=x&w=1").status, 400);
  EXPECT_EQ(call("POST", "/v1.41/exec/" + exec_id + "/resize?h=70000&w=1").status, 400);
  EXPECT_EQ(call("POST", "/v1.41/exec/" + exec_id + "/resize?w=1").status, 400);
  EXPECT_EQ(call("POST", "/v1.41/exec/" + exec_id + "/resize?h=10&w=20").status, 404);  // the fake has none
}

TEST_F(ExecRoutesTest, ContainerInspectHasDockersShape) {
  auto r = call("GET", "/v1.41/containers/aaaa/json");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["Id"], std::string(64, 'a'));
  EXPECT_EQ(j["Name"], "/box.1.x");
  EXPECT_EQ(j["State"]["Running"], true);
  EXPECT_EQ(call("GET", "/v1.41/containers/nosuch/json").status, 404);
}

TEST_F(ExecRoutesTest, LogsFrameEachStreamAndHonourTail) {
  containers.log_path = "/tmp/shoal-exec-routes-test-" + std::to_string(getpid()) + ".log";
  {
    std::ofstream f(containers.log_path);
    f << R"({"log":"one\n","stream":"stdout","time":"2026-01-01T00:00:01.000000000Z"})" << "\n"
      << R"({"log":"oops\n","stream":"stderr","time":"2026-01-01T00:00:02.000000000Z"})" << "\n"
      << "{cut short\n"
      << R"({"log":"two\n","stream":"stdout","time":"2026-01-01T00:00:03.000000000Z"})" << "\n";
  }
  auto r = call("GET", "/v1.41/containers/aaaa/logs?stdout=1&stderr=1");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string want = std::string("\x01\0\0\0\0\0\0\x04one\n", 12) + std::string("\x02\0\0\0\0\0\0\x05oops\n", 13) +
                     std::string("\x01\0\0\0\0\0\0\x04two\n", 12);
  EXPECT_EQ(r.body, want);
  EXPECT_EQ(call("GET", "/v1.41/containers/aaaa/logs?stderr=1").body, std::string("\x02\0\0\0\0\0\0\x05oops\n", 13));
  EXPECT_EQ(call("GET", "/v1.41/containers/aaaa/logs?stdout=1&tail=1").body,
            std::string("\x01\0\0\0\0\0\0\x04two\n", 12));
  // since/until in unix seconds: 1767225602 is 2026-01-01T00:00:02Z.
  EXPECT_EQ(call("GET", "/v1.41/containers/aaaa/logs?stdout=1&stderr=1&since=1767225602&until=1767225602.5").body,
            std::string("\x02\0\0\0\0\0\0\x05oops\n", 13));
  std::string ts = call("GET", "/v1.41/containers/aaaa/logs?stdout=1&tail=1&timestamps=1").body;
  EXPECT_EQ(ts.substr(8), "2026-01-01T00:00:03.000000000Z two\n");
  EXPECT_EQ(call("GET", "/v1.41/containers/aaaa/logs").status, 400);  // no stream chosen
  EXPECT_EQ(call("GET", "/v1.41/containers/aaaa/logs?stdout=1&tail=-3").status, 400);
  // Following a container that has ended: everything, then the end.
  containers.containers[0].state = "exited";
  struct Recorder : http::Stream {
    std::string got;
    bool done = false;
    bool write(const std::string& chunk) override { return got += chunk, true; }
    void close() override { done = true; }
    bool closed() const override { return done; }
  };
  auto rec = std::make_shared<Recorder>();
  http::Exchange ex;
  ex.request = make_request("GET", "/v1.41/containers/aaaa/logs?stdout=1&follow=1");
  int status = 0;
  ex.start_stream = [&](int s, http::Headers) {
    status = s;
    return rec;
  };
  ex.respond = [&](http::Response r) { status = r.status; };
  api.serve(std::move(ex));
  EXPECT_EQ(status, 200);
  EXPECT_TRUE(rec->done);
  EXPECT_EQ(rec->got, std::string("\x01\0\0\0\0\0\0\x04one\n", 12) + std::string("\x01\0\0\0\0\0\0\x04two\n", 12));
  ::unlink(containers.log_path.c_str());
}

TEST_F(ExecRoutesTest, ATailOfALargeLogIsReadFromItsEnd) {
  containers.log_path = "/tmp/shoal-exec-routes-tail-" + std::to_string(getpid()) + ".log";
  {
    std::ofstream f(containers.log_path);
    for (int i = 0; i < 5000; ++i) {  // ~400 KB: several 64 KiB blocks back from the end
      f << R"({"log":"line )" << i << R"(\n","stream":")" << (i % 2 ? "stderr" : "stdout")
        << R"(","time":"2026-01-01T00:00:01.000000000Z"})" << "\n";
    }
    f << R"({"log":"cut sh)";  // a last record still being written
  }
  auto r = call("GET", "/v1.41/containers/aaaa/logs?stdout=1&tail=3");
  ASSERT_EQ(r.status, 200);
  std::string want;
  for (int i : {4994, 4996, 4998}) {
    std::string line = "line " + std::to_string(i) + "\n";
    want += std::string("\x01\0\0\0\0\0\0", 7) + static_cast<char>(line.size()) + line;
  }
  EXPECT_EQ(r.body, want);
  r = call("GET", "/v1.41/containers/aaaa/logs?stdout=1&stderr=1&tail=0");
  EXPECT_EQ(r.body, "");
  ::unlink(containers.log_path.c_str());
}

}  // namespace
}  // namespace shoal::api
