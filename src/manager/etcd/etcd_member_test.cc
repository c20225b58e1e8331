#include "manager/etcd/etcd_member.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "store/etcd_backend.h"
#include "store/store.h"

namespace shoal::etcd {
namespace {

int free_port() {
  static int next = 30000 + (getpid() % 5000) * 4;
  return next++;
}

class EtcdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("shoal-etcd-test-" + std::to_string(getpid()));
    opts_.data_dir = dir_ + "/etcd";
    opts_.log_file = dir_ + "/etcd.log";
    opts_.client_port = free_port();
    opts_.peer_port = free_port();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
  EtcdMemberOptions opts_;
};

TEST_F(EtcdTest, BackendOperationsAgainstRealEtcd) {
  EtcdMember m(opts_);
  ASSERT_TRUE(m.start().ok());
  EtcdBackend b(m.client_url(), 1024);
  auto put = b.txn({{"/t/a", Compare::Target::kCreateRevision, 0}}, {{TxnOp::Type::kPut, "/t/a", "1", 0}}, {});
  ASSERT_TRUE(put.ok()) << put.status().message();
  EXPECT_TRUE(put->succeeded);
  auto again = b.txn({{"/t/a", Compare::Target::kCreateRevision, 0}}, {{TxnOp::Type::kPut, "/t/a", "2", 0}},
                     {{TxnOp::Type::kGet, "/t/a", "", 0}});
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->succeeded);
  ASSERT_EQ(again->get_results.size(), 1u);
  EXPECT_EQ(again->get_results[0].value, "1");
  auto r = b.range("/t/", true);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->kvs.size(), 1u);
  // Leases: a key bound to a revoked lease disappears.
  auto lease = b.lease_grant(10);
  ASSERT_TRUE(lease.ok());
  EXPECT_TRUE(b.lease_keepalive(*lease).ok());
  ASSERT_TRUE(b.txn({}, {{TxnOp::Type::kPut, "/t/l", "x", *lease}}, {}).ok());
  ASSERT_TRUE(b.lease_revoke(*lease).ok());
  EXPECT_TRUE(b.range("/t/l", false)->kvs.empty());
  // The typed store over real etcd: watch-fed cache, read-your-writes.
  Store store(b);
  ASSERT_TRUE(store.start().ok());
  Batch batch;
  for (int i = 0; i < 1000; ++i) {
    Task t;
    t.id = "task" + std::to_string(i);
    t.service_id = "svc";
    batch.create(t);
  }
  ASSERT_TRUE(store.commit(batch).ok());
  EXPECT_EQ(store.tasks_of_service("svc").size(), 1000u);
  m.stop();
  // Restart keeps the data.
  EtcdMember again_member(opts_);
  ASSERT_TRUE(again_member.start().ok());
  EtcdBackend b2(again_member.client_url(), 1024);
  EXPECT_EQ(b2.range("/shoal/tasks/", true)->kvs.size(), 1000u);
}

TEST_F(EtcdTest, PortInUseIsAClearError) {
  EtcdMember m(opts_);
  ASSERT_TRUE(m.start().ok());
  EtcdMemberOptions o2 = opts_;
  o2.data_dir = dir_ + "/other";
  EtcdMember m2(o2);
  Status st = m2.start();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("--etcd-client-port"), std::string::npos);
}

}  // namespace
}  // namespace shoal::etcd
