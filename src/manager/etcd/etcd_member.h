// EtcdMember: supervises this manager's etcd member as a child process. The
// child gets PR_SET_PDEATHSIG, so it never outlives shoald; its data dir
// persists, so a restarted shoald restarts it with the same state. If it exits
// unexpectedly it is restarted with backoff.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"

namespace shoal::etcd {

struct EtcdMemberOptions {
  std::string data_dir;
  std::string name = "default";
  std::string host = "127.0.0.1";
  int client_port = 2379;
  int peer_port = 2380;
  int max_txn_ops = 1024;
  int64_t max_request_bytes = 16 * 1024 * 1024;
  std::string log_file;
  std::string binary = "etcd";
};

class EtcdMember {
 public:
  explicit EtcdMember(EtcdMemberOptions options);
  ~EtcdMember();
  // Starts etcd and waits (up to 20 s) until it answers.
  Status start();
  void stop();
  std::string client_url() const;

 private:
  Status launch();
  void supervise();
  std::string log_tail() const;

  EtcdMemberOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  int pid_ = -1;
  bool stopping_ = false;
  std::thread supervisor_;
};

}  // namespace shoal::etcd
