// sessions_bench: how fast a real manager (etcd, store, control loops,
// dispatcher, Docker API over HTTP) gets T tasks running on N simulated nodes.
//
// The parent process is the manager, built by the composition root as shoald
// builds it (node::SwarmNode over an etcd member, `swarm init` through the
// Docker API, fenced control loops under the elected leader); its own node is
// drained so that it runs no tasks. A forked child runs N agents (the real
// agent code: sessions, long polls, status batches) over a fake executor that
// "runs" tasks at once. Services are created through the Docker API. Reported:
// seconds until every task is reported running, tasks/s, the manager's CPU
// time and peak memory, and `service ls` / `service ps` latency meanwhile.
//
// Usage: sessions_bench [--nodes 1000] [--tasks 20000] [--services 20]
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "agent/agent.h"
#include "agent/fake_executor.h"
#include "daemon/manager_role.h"
#include "http/client.h"
#include "http/server.h"
#include "manager/api/api.h"
#include "model/session_messages.h"
#include "node/swarm_node.h"

using namespace shoal;
using Clk = std::chrono::steady_clock;

namespace {

long peak_rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int run_agents(const std::string& endpoint, int nodes, int nice_level) {
  rlimit rl{65536, 65536};
  setrlimit(RLIMIT_NOFILE, &rl);
  // The simulated nodes stand for other machines: here they share the
  // manager's two cores, so they may yield to it (--agents-nice).
  if (nice_level != 0 && setpriority(PRIO_PROCESS, 0, nice_level) != 0) perror("setpriority");
  RealClock clock;
  std::vector<std::unique_ptr<agent::FakeExecutor>> execs;
  std::vector<std::unique_ptr<agent::Agent>> agents;
  for (int i = 0; i < nodes; ++i) {
    execs.push_back(std::make_unique<agent::FakeExecutor>());
    agent::AgentOptions o;
    o.dispatcher = endpoint;
    o.node_id = "simnode" + std::to_string(i);
    o.description.hostname = o.node_id;
    o.description.nano_cpus = 4000000000;
    o.description.memory_bytes = 8LL << 30;
    o.worker.parallel_ops = 1;
    o.worker.poll_interval = std::chrono::milliseconds(2000);
    agents.push_back(std::make_unique<agent::Agent>(*execs.back(), clock, o));
    agents.back()->start();
  }
  pause();  // the parent kills us when done
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int nodes = 1000, total = 20000, services = 20, agents_nice = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string f = argv[i];
    int v = std::atoi(argv[i + 1]);
    if (f == "--nodes") nodes = v;
    else if (f == "--tasks") total = v;
    else if (f == "--services") services = v;
    else if (f == "--agents-nice") agents_nice = v;
  }
  rlimit rl{65536, 65536};
  setrlimit(RLIMIT_NOFILE, &rl);
  signal(SIGPIPE, SIG_IGN);
  std::string dir = "/tmp/shoal-sessions-bench-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  std::string sock = "unix://" + dir + "/manager.sock";

  // The manager, composed as in shoald: its etcd member (daemon::ManagerRole)
  // is the backend; the manager's own node runs no containers (fake executor).
  RealClock clock;
  std::string dsock = "unix://" + dir + "/dispatcher.sock";
  int etcd_port = 20000 + getpid() % 20000;
  node::NodeParts parts;
  parts.clock = &clock;
  parts.open_storage = [&](const node::Membership& m,
                           const node::SwarmCredentials* fresh) -> Result<std::unique_ptr<node::ManagerStorage>> {
    daemon::ManagerOptions mo{dir, m.node_id, etcd_port, etcd_port + 1};
    if (fresh) {  // as shoald: swarm init makes the etcd-only CA and its certificates
      mo.new_swarm_ca = &fresh->root_ca;
      mo.advertise_ip = "127.0.0.1";
    }
    auto role = std::make_unique<daemon::ManagerRole>(mo);
    SHOAL_RETURN_IF_ERROR(role->start());
    return std::unique_ptr<node::ManagerStorage>(std::move(role));
  };
  parts.make_executor = [](const node::Membership&) { return std::make_unique<agent::FakeExecutor>(); };
  parts.dispatcher_endpoint = dsock;
  node::SwarmNode swarm(parts);
  api::Api api(swarm, nullptr, clock);
  // As shoald: the Docker API and the agent sessions on separate listeners.
  http::Server server({{sock}, 2, 16}, [&](http::Exchange ex) { api.serve(std::move(ex)); });
  if (!server.start().ok()) return 1;
  http::ServerOptions dso{{dsock}, 2, 8};
  dso.max_connections = http::kSessionMaxConnections;  // as shoald's session listener
  http::Server dserver(dso, [&](http::Exchange ex) { swarm.serve_session(std::move(ex)); });
  if (!dserver.start().ok()) return 1;
  {
    http::Client cl(sock);
    auto r = cl.request("POST", "/v1.41/swarm/init", R"({"ListenAddr":"127.0.0.1:2377"})");
    if (!r.ok() || r->status != 200) {
      std::cerr << "swarm init failed: " << (r.ok() ? r->body : r.status().message()) << "\n";
      return 1;
    }
    // The manager's node takes no tasks: all of them go to the simulated nodes.
    Batch drain;
    drain.update_node(swarm.node_id(), [](Node& n) {
      n.spec.availability = NodeAvailability::kDrain;
      return true;
    });
    if (Status st = swarm.store()->commit(drain); !st.ok()) {
      std::cerr << "draining the manager's node failed: " << st.message() << "\n";
      return 1;
    }
  }
  std::shared_ptr<Store> store_ref = swarm.store();
  Store& store = *store_ref;

  pid_t child = fork();
  if (child == 0) return run_agents(dsock, nodes, agents_nice);

  auto count_ready = [&] {
    size_t n = 0;
    store.view([&](const StoreSnapshot& s) {
      for (const auto& [_, node] : s.nodes) n += node.state == NodeState::kReady;
    });
    return n;
  };
  auto t_reg = Clk::now();
  // The simulated nodes and the manager's own.
  while (count_ready() < static_cast<size_t>(nodes) + 1 && Clk::now() - t_reg < std::chrono::seconds(120)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  double reg_s = std::chrono::duration<double>(Clk::now() - t_reg).count();
  std::cout << nodes << " agent sessions registered in " << reg_s << " s\n";

  double cpu0 = cpu_seconds();
  std::atomic<bool> done{false};
  std::vector<double> ls_ms, ps_ms;
  std::thread prober([&] {
    http::Client cl(sock);
    while (!done) {
      auto t0 = Clk::now();
      (void)cl.request("GET", "/v1.41/services?status=true");
      ls_ms.push_back(std::chrono::duration<double, std::milli>(Clk::now() - t0).count());
      t0 = Clk::now();
      (void)cl.request("GET", "/v1.41/tasks?filters=" + http::url_encode(R"({"service":{"bench0":true}})"));
      ps_ms.push_back(std::chrono::duration<double, std::milli>(Clk::now() - t0).count());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  auto t0 = Clk::now();
  http::Client client(sock);
  for (int i = 0; i < services; ++i) {
    json spec = {{"Name", "bench" + std::to_string(i)},
                 {"TaskTemplate", {{"ContainerSpec", {{"Image", "busybox:latest"}, {"Args", {"sleep", "1d"}}}}}},
                 {"Mode", {{"Replicated", {{"Replicas", total / services}}}}}};
    auto r = client.request("POST", "/v1.41/services/create", spec.dump());
    if (!r.ok() || r->status != 201) {
      std::cerr << "create failed: " << (r.ok() ? r->body : r.status().message()) << "\n";
      break;
    }
  }
  size_t running = 0;
  while (Clk::now() - t0 < std::chrono::seconds(600)) {
    running = 0;
    store.view([&](const StoreSnapshot& s) {
      for (const auto& [_, n] : s.running_by_service) running += n;
    });
    if (running >= static_cast<size_t>(total)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  double secs = std::chrono::duration<double>(Clk::now() - t0).count();
  done = true;
  prober.join();
  double cpu = cpu_seconds() - cpu0;
  auto pct = [](std::vector<double> v, double p) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
  };
  std::cout << "tasks running: " << running << " of " << total << "\n"
            << "seconds: " << secs << "\n"
            << "tasks/s: " << running / secs << "\n"
            << "manager cpu seconds (this process, excluding etcd): " << cpu << "\n"
            << "manager peak RSS MiB: " << peak_rss_kb() / 1024 << "\n"
            << "service ls p50/p99/max ms (" << ls_ms.size() << " calls): " << pct(ls_ms, 0.5) << " / "
            << pct(ls_ms, 0.99) << " / " << pct(ls_ms, 1.0) << "\n"
            << "service ps p50/p99/max ms (" << ps_ms.size() << " calls): " << pct(ps_ms, 0.5) << " / "
            << pct(ps_ms, 0.99) << " / " << pct(ps_ms, 1.0) << "\n";
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  rusage children{};
  getrusage(RUSAGE_CHILDREN, &children);  // the agents' process and etcd
  std::cout << "agents + etcd cpu seconds (whole run): "
            << children.ru_utime.tv_sec + children.ru_stime.tv_sec +
                   (children.ru_utime.tv_usec + children.ru_stime.tv_usec) / 1e6
            << "\n";
  swarm.stop();
  server.stop();
  dserver.stop();
  store_ref.reset();
  std::filesystem::remove_all(dir);
  return running >= static_cast<size_t>(total) ? 0 : 1;
}
