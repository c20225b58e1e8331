// Real containers with runc (needs root; skipped otherwise). The test binary
// doubles as the shim: main() dispatches argv[1] == "__shim".
#include "agent/runtime/runc_runtime.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent/runtime/image_store.h"
#include "agent/runtime/shim.h"
#include "common/files.h"
#include "common/ids.h"
#include "os/process.h"

namespace shoal::runtime {
namespace {

namespace fs = std::filesystem;
using std::chrono::steady_clock;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A minimal busybox root filesystem tarball, made from the host's busybox.
void make_busybox_tar(const std::string& work, const std::string& tar) {
  const std::string root = work + "/rootfs";
  for (const char* d : {"/bin", "/etc", "/tmp", "/root", "/var/www"}) fs::create_directories(root + d);
  fs::permissions(root + "/tmp", fs::perms::all | fs::perms::sticky_bit);
  fs::copy_file("/bin/busybox", root + "/bin/busybox");
  for (const char* applet : {"sh", "echo", "id", "pwd", "hostname", "sleep", "cat", "true", "ls", "wget", "timeout"}) {
    fs::create_symlink("busybox", root + "/bin/" + applet);
  }
  std::ofstream(root + "/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\n"
                                        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
                                        "app:x:1000:1000::/home/app:/bin/sh\n";
  std::ofstream(root + "/etc/group") << "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nstaff:x:50:app\n";
  std::string cmd = "tar --numeric-owner -C " + root + " -cf " + tar + " .";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

class RuncRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (mounts, namespaces, runc)";
    if (access("/bin/busybox", X_OK) != 0) GTEST_SKIP() << "needs /bin/busybox (apt-get install busybox-static)";
    root_ = fs::temp_directory_path() / ("shoal-runc-test-" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ + "/work");
    make_busybox_tar(root_ + "/work", root_ + "/work/busybox.tar");
    images_ = std::make_unique<ImageStore>(root_);
    ASSERT_TRUE(images_->open().ok());
    ImageConfig image;
    image.env = {"PATH=/bin", "FROM_IMAGE=1", "FOO=image"};
    auto id = images_->import_rootfs(root_ + "/work/busybox.tar", "busybox", image);
    ASSERT_TRUE(id.ok()) << id.status().message();
    runtime_ = std::make_unique<RuncRuntime>(RuncRuntimeOptions{root_, "", "", ""}, *images_);
  }
  void TearDown() override {
    if (!runtime_) return;
    auto all = runtime_->list();
    if (all.ok()) {
      for (const auto& c : *all) {
        (void)runtime_->kill(c.id, SIGKILL);
        (void)runtime_->stop(c.id, std::chrono::seconds(0));
        Status st = runtime_->remove(c.id);
        EXPECT_TRUE(st.ok()) << st.message();
      }
    }
    EXPECT_TRUE(runtime_->list()->empty());
    fs::remove_all(root_);
  }
  ContainerConfig config(std::vector<std::string> args) {
    ContainerConfig c;
    c.id = new_container_id();
    c.name = "test." + c.id.substr(0, 6);
    c.image = "busybox";
    c.args = std::move(args);
    return c;
  }
  ContainerState wait_exited(const std::string& id, std::chrono::seconds timeout = std::chrono::seconds(10)) {
    const auto deadline = steady_clock::now() + timeout;
    while (steady_clock::now() < deadline) {
      auto st = runtime_->state(id);
      if (st.ok() && st->status == ContainerStatus::kExited) return *st;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "container did not exit within " << timeout.count() << " s";
    return {};
  }
  void run(const ContainerConfig& c) {
    Status st = runtime_->create(c);
    ASSERT_TRUE(st.ok()) << st.message();
    st = runtime_->start(c.id);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  std::string root_;
  std::unique_ptr<ImageStore> images_;
  std::unique_ptr<RuncRuntime> runtime_;
};

TEST(DetectOciRuntime, PicksRuncOnHybridCgroups) {
  std::string r = detect_oci_runtime();
  EXPECT_TRUE(r == "runc" || r == "crun") << r;
}

TEST_F(RuncRuntimeTest, ExitCodeAndLogsAreRecorded) {
  auto c = config({"sh", "-c", "echo hi; echo oops >&2; exit 3"});
  run(c);
  auto st = wait_exited(c.id);
  EXPECT_EQ(st.exit_code, 3);
  EXPECT_EQ(st.error, "");
  EXPECT_EQ(st.name, c.name);
  EXPECT_EQ(st.command, (std::vector<std::string>{"sh", "-c", "echo hi; echo oops >&2; exit 3"}));
  EXPECT_GT(st.finished_at, st.started_at);
  std::string log = slurp(runtime_->log_path(c.id));
  EXPECT_NE(log.find(R"({"log":"hi\n","stream":"stdout","time":")"), std::string::npos) << log;
  EXPECT_NE(log.find(R"({"log":"oops\n","stream":"stderr","time":")"), std::string::npos) << log;
  std::istringstream lines(log);
  std::string line;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["time"].get<std::string>().back(), 'Z');
  }
}

TEST_F(RuncRuntimeTest, EnvUserWorkdirHostnameAndLoopback) {
  auto c = config({"sh", "-c", "echo $FOO $FROM_IMAGE; id -u; id -g; id -G; pwd; hostname; cat /sys/class/net/lo/flags; ls /sys/class/net"});
  c.env = {"FOO=bar"};
  c.user = "app";
  c.dir = "/tmp";
  run(c);
  EXPECT_EQ(wait_exited(c.id).exit_code, 0);
  std::string out;
  std::istringstream lines(slurp(runtime_->log_path(c.id)));
  std::string line;
  while (std::getline(lines, line)) out += nlohmann::json::parse(line)["log"].get<std::string>();
  EXPECT_EQ(out, "bar 1\n1000\n1000\n1000 50\n/tmp\n" + c.id.substr(0, 12) + "\n0x9\nlo\n");
}

TEST_F(RuncRuntimeTest, NumericUserAndExplicitHostname) {
  auto c = config({"sh", "-c", "id -u; id -g; hostname; cat /etc/hostname"});
  c.user = "4242";
  c.hostname = "web-1";
  run(c);
  EXPECT_EQ(wait_exited(c.id).exit_code, 0);
  std::string log = slurp(runtime_->log_path(c.id));
  for (const char* want : {"\"4242\\n\"", "\"0\\n\"", "\"web-1\\n\""}) EXPECT_NE(log.find(want), std::string::npos) << log;
}

TEST_F(RuncRuntimeTest, StopSendsTheStopSignalFirst) {
  auto c = config({"sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"});
  run(c);
  EXPECT_EQ(runtime_->state(c.id)->status, ContainerStatus::kRunning);
  EXPECT_GT(runtime_->state(c.id)->pid, 0);
  auto t0 = steady_clock::now();
  ASSERT_TRUE(runtime_->stop(c.id, std::chrono::seconds(20)).ok());
  EXPECT_LT(steady_clock::now() - t0, std::chrono::seconds(5));
  auto st = runtime_->state(c.id);
  EXPECT_EQ(st->status, ContainerStatus::kExited);
  EXPECT_EQ(st->exit_code, 0);
}

TEST_F(RuncRuntimeTest, StopKillsAfterTheGraceWhenTermIsIgnored) {
  auto c = config({"sh", "-c", "trap '' TERM; sleep 1000"});
  run(c);
  auto t0 = steady_clock::now();
  ASSERT_TRUE(runtime_->stop(c.id, std::chrono::milliseconds(800)).ok());
  auto took = steady_clock::now() - t0;
  EXPECT_GE(took, std::chrono::milliseconds(800));
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_EQ(runtime_->state(c.id)->exit_code, 137);
}

TEST_F(RuncRuntimeTest, ContainersSurviveARestartAndKillIsRecorded) {
  auto c = config({"sleep", "1000"});
  run(c);
  std::string shim = slurp(root_ + "/containers/" + c.id + "/shim.pid");
  // The shim is detached: not our child.
  std::string stat = slurp("/proc/" + shim + "/stat");
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string state;
  pid_t ppid = 0;
  fields >> state >> ppid;
  EXPECT_NE(ppid, getpid());
  // "shoald restarts": a new runtime over the same root sees it running.
  runtime_.reset();
  runtime_ = std::make_unique<RuncRuntime>(RuncRuntimeOptions{root_, "", "", ""}, *images_);
  auto listed = runtime_->list();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, c.id);
  EXPECT_EQ((*listed)[0].status, ContainerStatus::kRunning);
  ASSERT_GT((*listed)[0].pid, 0);
  ASSERT_EQ(::kill((*listed)[0].pid, SIGKILL), 0);
  EXPECT_EQ(wait_exited(c.id).exit_code, 137);
}

// Starts from several threads at once (as the agent does on a busy node):
// each start must see its own shim, even while the others are still forking.
TEST_F(RuncRuntimeTest, ConcurrentStartsAllRun) {
  std::vector<ContainerConfig> cs;
  for (int i = 0; i < 6; ++i) {
    cs.push_back(config({"sleep", "1000"}));
    ASSERT_TRUE(runtime_->create(cs.back()).ok());
  }
  std::vector<Status> results(cs.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < cs.size(); ++i) threads.emplace_back([&, i] { results[i] = runtime_->start(cs[i].id); });
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < cs.size(); ++i) {
    EXPECT_TRUE(results[i].ok()) << results[i].message();
    auto st = runtime_->state(cs[i].id);
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->status, ContainerStatus::kRunning);
  }
}

TEST_F(RuncRuntimeTest, MissingExecutableFailsToStartWith127) {
  auto c = config({"/no/such/binary"});
  ASSERT_TRUE(runtime_->create(c).ok());
  Status st = runtime_->start(c.id);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no such file or directory"), std::string::npos) << st.message();
  auto s = runtime_->state(c.id);
  EXPECT_EQ(s->status, ContainerStatus::kExited);
  EXPECT_EQ(s->exit_code, 127);
  EXPECT_EQ(s->error, st.message());

  auto c2 = config({"nosuchcmd"});
  ASSERT_TRUE(runtime_->create(c2).ok());
  st = runtime_->start(c2.id);
  EXPECT_NE(st.message().find("executable file not found"), std::string::npos) << st.message();
  EXPECT_EQ(runtime_->state(c2.id)->exit_code, 127);
}

TEST_F(RuncRuntimeTest, UnknownImageIsNotFoundWithAdvice) {
  auto c = config({"true"});
  c.image = "nosuch:1";
  Status st = runtime_->create(c);
  EXPECT_EQ(st.code(), Code::kNotFound);
  EXPECT_NE(st.message().find("No such image: nosuch:1"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("shoal image"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(root_ + "/containers/" + c.id));
  c.image = "busybox";
  c.user = "nosuchuser";
  st = runtime_->create(c);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("unable to find user nosuchuser"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(root_ + "/containers/" + c.id));
}

// The example whoami image (images/build.sh), reached from a second
// container that joins its network namespace.
TEST_F(RuncRuntimeTest, WhoamiAnswersInASharedNetworkNamespace) {
  std::string archive;
  for (std::string p : {"images/out/whoami.tar", "../images/out/whoami.tar", "../../images/out/whoami.tar"}) {
    if (fs::exists(p)) archive = p;
  }
  if (archive.empty()) GTEST_SKIP() << "run images/build.sh first";
  auto loaded = images_->load(archive);
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  auto server = config({});
  server.image = "whoami";
  run(server);
  const auto deadline = steady_clock::now() + std::chrono::seconds(10);
  while (slurp(runtime_->log_path(server.id)).find("listening") == std::string::npos && steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto client = config({"timeout", "5", "wget", "-q", "-O", "-", "http://127.0.0.1:8000/hello"});
  client.netns_path = "/proc/" + std::to_string(runtime_->state(server.id)->pid) + "/ns/net";
  run(client);
  EXPECT_EQ(wait_exited(client.id).exit_code, 0);
  std::string log = slurp(runtime_->log_path(client.id));
  EXPECT_NE(log.find("I'm " + server.id.substr(0, 12)), std::string::npos) << log;
  EXPECT_NE(log.find("GET /hello HTTP/1.1"), std::string::npos) << log;
  auto t0 = steady_clock::now();
  ASSERT_TRUE(runtime_->stop(server.id, std::chrono::seconds(20)).ok());
  EXPECT_LT(steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(runtime_->state(server.id)->exit_code, 0);
}

TEST_F(RuncRuntimeTest, LimitsAndNamespacesInTheSpec) {
  auto c = config({"true"});
  c.memory_bytes = 64 << 20;
  c.nano_cpus = 500000000;
  c.pids_limit = 100;
  ASSERT_TRUE(runtime_->create(c).ok());
  auto spec = nlohmann::json::parse(slurp(root_ + "/containers/" + c.id + "/bundle/config.json"));
  EXPECT_EQ(spec["linux"]["resources"]["memory"]["limit"], 64 << 20);
  EXPECT_EQ(spec["linux"]["resources"]["cpu"]["quota"], 50000);
  EXPECT_EQ(spec["linux"]["resources"]["pids"]["limit"], 100);
  EXPECT_EQ(spec["linux"]["namespaces"].size(), 5u);
  EXPECT_EQ(spec["process"]["args"], nlohmann::json({"true"}));
  EXPECT_EQ(runtime_->state(c.id)->status, ContainerStatus::kCreated);
}

TEST_F(RuncRuntimeTest, AHalfCreatedContainerIsRemovedAfterACrash) {
  // What create() leaves when shoald dies before config.json: dirs, a
  // mounted rootfs, some files, a temp file of an interrupted atomic write.
  const std::string id = new_container_id(), d = root_ + "/containers/" + id;
  fs::create_directories(d + "/bundle/rootfs");
  ASSERT_EQ(mount("tmpfs", (d + "/bundle/rootfs").c_str(), "tmpfs", 0, "size=1m"), 0) << strerror(errno);
  std::ofstream(d + "/hostname") << "h\n";
  std::ofstream(d + "/config.json.tmp-Ab12Cd") << "{";
  runtime_ = std::make_unique<RuncRuntime>(RuncRuntimeOptions{root_, "", "", ""}, *images_);
  EXPECT_FALSE(fs::exists(d));
  EXPECT_EQ(slurp("/proc/self/mounts").find(d), std::string::npos) << "rootfs unmounted";
  EXPECT_TRUE(runtime_->list()->empty());
}

TEST_F(RuncRuntimeTest, ACompleteContainerLosesOnlyItsTempFilesAfterACrash) {
  auto c = config({"true"});
  ASSERT_TRUE(runtime_->create(c).ok());
  const std::string d = root_ + "/containers/" + c.id;
  std::ofstream(d + "/shim.pid.tmp-XyZ123") << "1";
  runtime_ = std::make_unique<RuncRuntime>(RuncRuntimeOptions{root_, "", "", ""}, *images_);
  EXPECT_FALSE(fs::exists(d + "/shim.pid.tmp-XyZ123"));
  EXPECT_EQ(runtime_->state(c.id)->status, ContainerStatus::kCreated);
}

TEST_F(RuncRuntimeTest, AShimStartedWithoutItsPidFileWrittenIsAdopted) {
  auto c = config({"sleep", "1000"});
  ASSERT_TRUE(runtime_->create(c).ok());
  const std::string d = root_ + "/containers/" + c.id;
  // shoald "crashes" right after spawning the shim, before writing shim.pid.
  auto shim = spawn_shim(fs::read_symlink("/proc/self/exe"), d, runtime_->oci_runtime(), root_ + "/runc", c.id);
  ASSERT_TRUE(shim.ok()) << shim.status().message();
  runtime_ = std::make_unique<RuncRuntime>(RuncRuntimeOptions{root_, "", "", ""}, *images_);
  const auto deadline = steady_clock::now() + std::chrono::seconds(10);
  while (runtime_->state(c.id)->status != ContainerStatus::kRunning && steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto st = runtime_->state(c.id);
  ASSERT_EQ(st->status, ContainerStatus::kRunning) << "the shim recorded its own pid";
  EXPECT_EQ(slurp(d + "/shim.pid"), std::to_string(*shim));
  // start() again (the worker does after a restart that found it created):
  // the live shim is adopted and waited for, never a second one spawned.
  Status again = runtime_->start(c.id);
  EXPECT_TRUE(again.ok()) << again.message();
  EXPECT_EQ(slurp(d + "/shim.pid"), std::to_string(*shim)) << "never a second shim";
  EXPECT_EQ(runtime_->state(c.id)->status, ContainerStatus::kRunning);
}

// Live processes whose argv is a shim's (exe, "__shim", dir, runtime, root, id, ...) for container `id`.
std::vector<pid_t> shims_of(const std::string& id) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& p : fs::directory_iterator("/proc", ec)) {
    const std::string pid = p.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmd = slurp("/proc/" + pid + "/cmdline");
    std::vector<std::string> args;
    std::stringstream ss(cmd);
    for (std::string a; std::getline(ss, a, '\0');) args.push_back(a);
    if (args.size() >= 6 && args[1] == "__shim" && args[5] == id) out.push_back(std::stoi(pid));
  }
  return out;
}

// Starts of one container from several threads at once (the worker's retry
// racing the first start): exactly one shim, and every start succeeds.
TEST_F(RuncRuntimeTest, ConcurrentStartsOfOneContainerSpawnOneShim) {
  auto c = config({"sleep", "1000"});
  ASSERT_TRUE(runtime_->create(c).ok());
  std::vector<Status> results(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) threads.emplace_back([&, i] { results[i] = runtime_->start(c.id); });
  for (auto& t : threads) t.join();
  for (const Status& st : results) EXPECT_TRUE(st.ok()) << st.message();
  const std::string d = root_ + "/containers/" + c.id;
  EXPECT_FALSE(fs::exists(d + "/exit.json")) << slurp(d + "/exit.json");
  auto shims = shims_of(c.id);
  ASSERT_EQ(shims.size(), 1u) << "one shim per container";
  EXPECT_EQ(slurp(d + "/shim.pid"), std::to_string(shims[0]));
  EXPECT_EQ(runtime_->state(c.id)->status, ContainerStatus::kRunning);
}

// shoald died between spawning a shim and the shim recording itself, and the
// start is retried in that window: the retry adopts that shim (here a fake,
// see main(), that records itself only once the retry is under way) and
// spawns none of its own.
TEST_F(RuncRuntimeTest, AStartRetriedBeforeTheShimRecordedItselfAdoptsIt) {
  auto c = config({"sleep", "1000"});
  ASSERT_TRUE(runtime_->create(c).ok());
  const std::string d = root_ + "/containers/" + c.id;
  std::ofstream(d + "/shim.spawned").close();  // what the interrupted start left
  auto fake = os::spawn({{fs::read_symlink("/proc/self/exe").string(), "__shim", d, "fake-unrecorded", root_ + "/runc", c.id}});
  ASSERT_TRUE(fake.ok()) << fake.status().message();
  // Until it has exec'd, the child still has this binary's argv, not a shim's.
  const auto deadline = steady_clock::now() + std::chrono::seconds(10);
  while (slurp("/proc/" + std::to_string(*fake) + "/cmdline").find("fake-unrecorded") == std::string::npos &&
         steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  Status st = runtime_->start(c.id);
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(slurp(d + "/shim.pid"), std::to_string(*fake)) << "the fake shim adopted";
  EXPECT_FALSE(fs::exists(d + "/shim.log")) << "no second shim spawned";
  EXPECT_EQ(os::wait_pid(*fake, std::chrono::seconds(10)).value_or(-1), 0);
}

// Every file of the bundle, and the dirs holding them, reach the disk before
// config.json is renamed into place (traced with strace, over the create-only
// test above run in a child).
TEST_F(RuncRuntimeTest, CreateSyncsTheBundleBeforePublishingConfigJson) {
  if (access("/usr/bin/strace", X_OK) != 0) GTEST_SKIP() << "needs strace";
  const std::string trace = root_ + "/strace.log";
  std::string cmd = "strace -f -qq -e trace=openat,fsync,rename,renameat,renameat2 -o " + trace + " " +
                    fs::read_symlink("/proc/self/exe").string() +
                    " --gtest_filter=RuncRuntimeTest.ACompleteContainerLosesOnlyItsTempFilesAfterACrash >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::map<std::string, std::string> open_fds;  // "pid fd" -> path
  std::set<std::string> synced;
  std::string published;
  std::ifstream in(trace);
  for (std::string line; std::getline(in, line);) {
    std::string pid = line.substr(0, line.find(' '));
    std::smatch m;
    static const std::regex kOpen(R"re(openat\(AT_FDCWD, "([^"]+)".*\)\s+= (\d+)$)re");
    static const std::regex kSync(R"re(fsync\((\d+)\)\s+= 0)re");
    static const std::regex kRename(
        R"re(rename(?:at2?)?\((?:AT_FDCWD, )?"[^"]+", (?:AT_FDCWD, )?"(.+/containers/[^/"]+)/config.json")re");
    if (std::regex_search(line, m, kOpen)) {
      open_fds[pid + " " + m[2].str()] = m[1];
    } else if (std::regex_search(line, m, kSync)) {
      synced.insert(open_fds[pid + " " + m[1].str()]);
    } else if (std::regex_search(line, m, kRename)) {
      published = m[1];
      break;
    }
  }
  ASSERT_FALSE(published.empty()) << "no rename of config.json traced";
  for (const char* f : {"/hostname", "/hosts", "/resolv.conf", "/bundle/config.json", "/stopsignal", "/bundle", ""}) {
    EXPECT_TRUE(synced.count(published + f)) << published + f << " not synced before config.json";
  }
}

TEST_F(RuncRuntimeTest, SeccompAndNoNewPrivilegesReachTheProcess) {
  const char* probe = "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status";
  auto dflt = config({"sh", "-c", probe});
  run(dflt);
  auto unconfined = config({"sh", "-c", probe});
  unconfined.seccomp = ContainerConfig::Seccomp::kUnconfined;
  unconfined.no_new_privileges = true;
  run(unconfined);
  auto custom = config({"sh", "-c", "mkdir /tmp/x && echo made || echo refused"});
  custom.seccomp = ContainerConfig::Seccomp::kCustom;
  custom.seccomp_profile =
      R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]})";
  run(custom);
  for (const auto* c : {&dflt, &unconfined, &custom}) EXPECT_EQ(wait_exited(c->id).exit_code, 0);
  std::string log = slurp(runtime_->log_path(dflt.id));
  EXPECT_NE(log.find("Seccomp:\\t2"), std::string::npos) << log;
  EXPECT_NE(log.find("NoNewPrivs:\\t0"), std::string::npos) << log;
  log = slurp(runtime_->log_path(unconfined.id));
  EXPECT_NE(log.find("Seccomp:\\t0"), std::string::npos) << log;
  EXPECT_NE(log.find("NoNewPrivs:\\t1"), std::string::npos) << log;
  log = slurp(runtime_->log_path(custom.id));
  EXPECT_NE(log.find("refused"), std::string::npos) << log;
}

}  // namespace
}  // namespace shoal::runtime

// A stand-in for a shim that has not recorded itself yet (argv as a shim's,
// runtime "fake-unrecorded"): waits until a start() holds the container's
// start.lock (at most 5 s), then writes shim.pid and an exit.json as a shim
// whose container ran and exited, and exits.
int fake_unrecorded_shim(const std::string& dir) {
  namespace fs = std::filesystem;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = ::open((dir + "/start.lock").c_str(), O_RDONLY | O_CLOEXEC);
    bool held = fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    if (fd >= 0) close(fd);
    if (held) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (!shoal::write_file_atomic(dir + "/shim.pid", std::to_string(getpid())).ok()) return 1;
  return shoal::write_file_atomic(dir + "/exit.json", R"({"ExitCode":0,"FinishedAt":"2026-01-01T00:00:00Z"})").ok() ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc > 3 && std::strcmp(argv[1], "__shim") == 0 && std::strcmp(argv[3], "fake-unrecorded") == 0) {
    return fake_unrecorded_shim(argv[2]);
  }
  if (argc > 1 && std::strcmp(argv[1], "__shim") == 0) return shoal::runtime::shim_main(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
