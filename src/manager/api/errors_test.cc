#include "manager/api/errors.h"

#include <gtest/gtest.h>

namespace shoal::api {
namespace {

std::string message_of(const http::Response& r) { return json::parse(r.body).value("message", ""); }

// Issue 6 point 6: a write the store cannot commit (quorum lost) is a 503
// that says so and how to recover, with etcd's own error kept.
TEST(StoreUnavailable, AnEtcdTimeoutOrRefusalIsA503SayingQuorumIsLostAndHowToRecover) {
  for (const Status& st :
       {Status(Code::kDeadlineExceeded, "etcd at https://127.0.0.1:2379: POST /v3/kv/txn: no answer within 2000 ms"),
        unavailable("etcd at https://127.0.0.1:2379: etcdserver: no leader")}) {
    http::Response r = error_response(st);
    EXPECT_EQ(r.status, 503) << st.message();
    std::string m = message_of(r);
    EXPECT_NE(m.find("lost quorum"), std::string::npos) << m;
    EXPECT_NE(m.find("--force-new-cluster"), std::string::npos) << m;
    EXPECT_NE(m.find(st.message()), std::string::npos) << "etcd's error is kept: " << m;
  }
}

TEST(StoreUnavailable, OtherErrorsKeepTheirStatusAndMessage) {
  EXPECT_EQ(error_response(Status(Code::kDeadlineExceeded, "request to x timed out")).status, 504);
  EXPECT_EQ(message_of(error_response(unavailable("another manager is joining"))), "another manager is joining");
  EXPECT_EQ(error_response(not_found("etcd holds no join tokens")).status, 404);
}

}  // namespace
}  // namespace shoal::api
