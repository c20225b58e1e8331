// The fixture the dispatcher's tests share: a started Store over an
// in-memory backend (behind a FaultBackend a test may arm), a FakeClock and a
// started Dispatcher, with helpers to send session requests in-process.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "manager/dispatcher/dispatcher.h"
#include "store/fault_backend.h"
#include "store/memory_backend.h"

namespace shoal::dispatcher {

class DispatcherFixture : public ::testing::Test {
 protected:
  // `long_poll`: how long an assignments poll waits for a change.
  explicit DispatcherFixture(std::chrono::milliseconds long_poll) : long_poll_(long_poll) {}
  void SetUp() override {
    ASSERT_TRUE(store.start().ok());
    DispatcherOptions o = options;
    o.long_poll_timeout = long_poll_;
    d = std::make_unique<Dispatcher>(store, clock, o);
    d->start();
  }
  void TearDown() override { d->stop(); }

  // Sends one request, from the trusted local transport or (with `peer`) from
  // a caller whose certificate names node `peer`; returns a future of the
  // response (long polls resolve later). A client-gone callback the
  // dispatcher registers is kept for hang_up().
  std::future<http::Response> send(const std::string& method, const std::string& op, const std::string& body,
                                   std::map<std::string, std::string> query = {},
                                   const std::optional<std::string>& peer = std::nullopt) {
    auto p = std::make_shared<std::promise<http::Response>>();
    http::Exchange ex;
    ex.request.method = method;
    ex.request.path = std::string(session::kPrefix) + op;
    ex.request.body = body;
    ex.request.query = std::move(query);
    ex.respond = [p](http::Response r) { p->set_value(std::move(r)); };
    ex.on_client_gone = [this](std::function<void()> fn) {
      std::lock_guard lk(gone_mu_);
      client_gone_.push_back(std::move(fn));
    };
    if (peer) {
      d->serve(std::move(ex), *peer);
    } else {
      d->serve(std::move(ex));
    }
    return p->get_future();
  }

  // The client of the i-th request that registered a client-gone callback
  // hangs up: runs that callback (as the HTTP server does). False if there
  // is no such callback.
  bool hang_up(size_t i) {
    std::function<void()> fn;
    {
      std::lock_guard lk(gone_mu_);
      if (i >= client_gone_.size() || !client_gone_[i]) return false;
      fn = std::move(client_gone_[i]);
      client_gone_[i] = nullptr;
    }
    fn();
    return true;
  }

  DispatcherOptions options;  // a derived fixture may set it in its constructor (not long_poll_timeout)
  MemoryBackend backend;
  FaultBackend faults{backend};
  Store store{faults};
  FakeClock clock;
  std::unique_ptr<Dispatcher> d;

 private:
  std::chrono::milliseconds long_poll_;
  std::mutex gone_mu_;
  std::vector<std::function<void()>> client_gone_;  // under gone_mu_, in registration order
};

}  // namespace shoal::dispatcher
