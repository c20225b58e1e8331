#include "store/etcd_grpc_backend.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "store/proto/rpc.grpc.pb.h"

namespace shoal {

namespace pb = etcdserverpb;

namespace {

// etcd's require-leader metadata: a member without a raft leader fails the
// call at once with "etcdserver: no leader" (UNAVAILABLE).
void require_leader(grpc::ClientContext& ctx, bool on) {
  if (on) ctx.AddMetadata("hasleader", "true");
}

// channel: when given and not connected, the message says etcd is unreachable.
Status to_status(const grpc::Status& s, const std::string& url, const char* call, grpc::Channel* channel = nullptr) {
  std::string m = "etcd at " + url + " (" + call + "): " + s.error_message();
  if (channel && s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
      channel->GetState(false) != GRPC_CHANNEL_READY) {
    m += " (no connection to etcd: is it running and reachable?)";
  }
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return unavailable(m);
    case grpc::StatusCode::INVALID_ARGUMENT:
      return invalid_argument(m + " (refused, not applied)");
    case grpc::StatusCode::NOT_FOUND:
      return not_found(m);
    default:
      return internal_error(m);
  }
}

// The first key after every key starting with `prefix` (etcd's range_end).
std::string range_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    unsigned char c = static_cast<unsigned char>(end.back());
    if (c < 0xff) {
      end.back() = static_cast<char>(c + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

KeyValue kv_from(const mvccpb::KeyValue& p) {
  KeyValue kv;
  kv.key = p.key();
  kv.value = p.value();
  kv.create_revision = p.create_revision();
  kv.mod_revision = p.mod_revision();
  kv.lease = p.lease();
  return kv;
}

void op_to(const TxnOp& op, pb::RequestOp* out) {
  switch (op.type) {
    case TxnOp::Type::kPut: {
      pb::PutRequest* p = out->mutable_request_put();
      p->set_key(op.key);
      p->set_value(op.value);
      p->set_lease(op.lease);
      return;
    }
    case TxnOp::Type::kDelete:
      out->mutable_request_delete_range()->set_key(op.key);
      return;
    case TxnOp::Type::kGet:
      out->mutable_request_range()->set_key(op.key);
      return;
  }
}

void compare_to(const Compare& c, pb::Compare* out) {
  out->set_key(c.key);
  out->set_result(pb::Compare::EQUAL);
  switch (c.target) {
    case Compare::Target::kValue:
      out->set_target(pb::Compare::VALUE);
      out->set_value(c.text);
      return;
    case Compare::Target::kCreateRevision:
      out->set_target(pb::Compare::CREATE);
      out->set_create_revision(c.value);
      return;
    case Compare::Target::kModRevision:
      out->set_target(pb::Compare::MOD);
      out->set_mod_revision(c.value);
      return;
  }
}

Result<std::string> pem(const std::string& text, const std::string& file, const char* what) {
  if (!text.empty() || file.empty()) return text;
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in || ss.str().empty()) {
    return failed_precondition(std::string("cannot read the etcd client's ") + what + " file " + file +
                               ": check that it exists and is readable by shoald");
  }
  return ss.str();
}

struct Target {
  std::string address;  // HOST:PORT
  bool tls = false;
};

Result<Target> parse_url(const std::string& url) {
  Target t;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    t.tls = true;
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else {
    return failed_precondition("etcd URL " + url + " must start with https:// or http://");
  }
  if (size_t slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  if (rest.empty() || rest.find(':') == std::string::npos) {
    return failed_precondition("etcd URL " + url + " must name a host and a port (https://HOST:PORT)");
  }
  t.address = rest;
  return t;
}

// Reads a watch stream until it ends, etcd cancels it or the handle goes.
class GrpcWatch : public WatchHandle {
 public:
  GrpcWatch(const std::shared_ptr<grpc::Channel>& channel, std::string url, bool leader, pb::WatchRequest create,
            std::function<void(const std::vector<WatchEvent>&)> on_events,
            std::function<void(const Status&)> on_error)
      : stub_(pb::Watch::NewStub(channel)), url_(std::move(url)) {
    require_leader(ctx_, leader);
    thread_ = std::thread([this, create = std::move(create), on_events = std::move(on_events),
                           on_error = std::move(on_error)] {
      Status st = run(create, on_events);
      if (!stopping_) on_error(st);
    });
  }
  ~GrpcWatch() override {
    stopping_ = true;
    ctx_.TryCancel();  // ends a Read blocked on etcd at once
    if (thread_.joinable()) thread_.join();
  }

 private:
  // Returns why the watch ended (never OK).
  Status run(const pb::WatchRequest& create, const std::function<void(const std::vector<WatchEvent>&)>& on_events) {
    auto stream = stub_->Watch(&ctx_);
    Status result;
    pb::WatchResponse resp;
    if (stream->Write(create)) {
      while (result.ok() && stream->Read(&resp)) result = deliver(resp, on_events);
    }
    if (!result.ok()) ctx_.TryCancel();  // etcd keeps the stream open after cancelling the watch
    grpc::Status fin = stream->Finish();
    if (!result.ok()) return result;
    return fin.ok() ? unavailable("etcd at " + url_ + " closed the watch stream") : to_status(fin, url_, "Watch");
  }

  Status deliver(const pb::WatchResponse& resp, const std::function<void(const std::vector<WatchEvent>&)>& on_events) {
    if (resp.compact_revision() > 0 || resp.canceled()) {
      std::string why = resp.compact_revision() > 0
                            ? "compacted at " + std::to_string(resp.compact_revision())
                            : (resp.cancel_reason().empty() ? "by etcd" : resp.cancel_reason());
      return unavailable("etcd at " + url_ + " canceled the watch (" + why + ")");
    }
    if (resp.events_size() == 0) return ok_status();  // created, or a progress notice
    std::vector<WatchEvent> evs;
    evs.reserve(static_cast<size_t>(resp.events_size()));
    for (const auto& e : resp.events()) {
      WatchEvent we;
      we.type = e.type() == mvccpb::Event::DELETE ? WatchEvent::Type::kDelete : WatchEvent::Type::kPut;
      we.kv = kv_from(e.kv());
      evs.push_back(std::move(we));
    }
    if (!stopping_) on_events(evs);
    return ok_status();
  }

  std::unique_ptr<pb::Watch::Stub> stub_;
  std::string url_;
  grpc::ClientContext ctx_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;  // last: started once every other member exists
};

}  // namespace

struct EtcdGrpcBackend::Impl {
  std::string url;
  EtcdGrpcTimeouts timeouts;
  Status config_error;  // not OK: every call fails with it (bad URL or TLS files)
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::KV::Stub> kv;
  std::unique_ptr<pb::Lease::Stub> lease;

  std::mutex mu;                           // guards live and cancelled
  std::set<grpc::ClientContext*> live;     // calls in flight
  bool cancelled = false;

  // One call's context: its deadline, the require-leader metadata, and its
  // place in `live` for cancel(). admitted() is false (and nothing may be
  // sent) while a cancel() is in effect.
  class Call {
   public:
    Call(Impl& impl, std::chrono::milliseconds timeout) : impl_(impl) {
      ctx_.set_deadline(std::chrono::system_clock::now() + timeout);
      // Wait for a connection (up to the deadline) rather than fail fast:
      // with gRPC's synchronous API only a waiting call drives a reconnect
      // (otherwise the channel notices a restarted etcd only when its 5 s
      // backup poller runs, and fail-fast calls keep failing meanwhile).
      ctx_.set_wait_for_ready(true);
      require_leader(ctx_, impl_.timeouts.require_leader);
      std::lock_guard lk(impl_.mu);
      admitted_ = !impl_.cancelled;
      if (admitted_) impl_.live.insert(&ctx_);
    }
    ~Call() {
      std::lock_guard lk(impl_.mu);
      impl_.live.erase(&ctx_);
    }
    Status refusal(const char* call) const {
      if (!impl_.config_error.ok()) return impl_.config_error;
      if (!admitted_) return unavailable("etcd call " + std::string(call) + " not sent: its owner is stopping");
      return ok_status();
    }
    grpc::ClientContext* ctx() { return &ctx_; }

   private:
    Impl& impl_;
    grpc::ClientContext ctx_;
    bool admitted_ = false;
  };

  // One unary call `name` (Range, Txn, LeaseGrant, ...) within `timeout`:
  // `rpc` sends it on the context it is given (once, unless a cancel() or
  // the configuration refuses it) and fills its own answer.
  Status unary(std::chrono::milliseconds timeout, const char* name,
               const std::function<grpc::Status(grpc::ClientContext*)>& rpc) {
    Call call(*this, timeout);
    SHOAL_RETURN_IF_ERROR(call.refusal(name));
    grpc::Status st = rpc(call.ctx());
    return st.ok() ? ok_status() : to_status(st, url, name, channel.get());
  }
};

EtcdGrpcBackend::EtcdGrpcBackend(std::string url, size_t max_txn_ops, http::TlsOptions tls,
                                 EtcdGrpcTimeouts timeouts)
    : max_txn_ops_(max_txn_ops), impl_(std::make_unique<Impl>()) {
  impl_->url = url;
  impl_->timeouts = timeouts;
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);  // ranges of the whole state exceed gRPC's 4 MiB default
  // Reconnect soon after etcd restarts (gRPC's default backoff grows to
  // 120 s). GRPC_ARG_MIN_RECONNECT_BACKOFF_MS stays at its default: it is
  // also the time a connection attempt may take (20 s).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // No transparent retries: gRPC's retry filter aborts the process on
  // trailing metadata without a status (grpc/grpc#34683), which a promoted
  // manager's shoald hit at once (tests/system/promote.sh). A failed call is
  // the store's to retry (outcome unknown: re-read).
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  // gRPC honours http_proxy/grpc_proxy even for 127.0.0.1: shoald's etcd
  // traffic (mTLS to its own member) must never go through a proxy.
  args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
  std::shared_ptr<grpc::ChannelCredentials> creds;
  auto target = parse_url(url);
  if (!target.ok()) {
    impl_->config_error = target.status();
  } else if (!target->tls) {
    creds = grpc::InsecureChannelCredentials();
  } else if (tls.insecure_skip_verify) {
    impl_->config_error = failed_precondition("etcd at " + url +
                                              ": insecure_skip_verify is not supported over gRPC; give the CA "
                                              "that signed etcd's certificate");
  } else {
    auto ca = pem(tls.ca_pem, tls.ca_file, "CA certificate");
    auto cert = pem(tls.cert_pem, tls.cert_file, "certificate");
    auto key = pem(tls.key_pem, tls.key_file, "key");
    for (const Status& st : {ca.status(), cert.status(), key.status()}) {
      if (!st.ok() && impl_->config_error.ok()) impl_->config_error = st;
    }
    if (impl_->config_error.ok()) {
      grpc::SslCredentialsOptions o;
      o.pem_root_certs = *ca;
      o.pem_cert_chain = *cert;
      o.pem_private_key = *key;
      creds = grpc::SslCredentials(o);
      if (!tls.server_name.empty()) args.SetSslTargetNameOverride(tls.server_name);
    }
  }
  if (!creds) return;
  impl_->channel = grpc::CreateCustomChannel(target->address, creds, args);
  impl_->kv = pb::KV::NewStub(impl_->channel);
  impl_->lease = pb::Lease::NewStub(impl_->channel);
}

EtcdGrpcBackend::~EtcdGrpcBackend() = default;

void EtcdGrpcBackend::cancel() {
  std::lock_guard lk(impl_->mu);
  impl_->cancelled = true;
  for (grpc::ClientContext* c : impl_->live) c->TryCancel();  // never blocks on etcd
}

void EtcdGrpcBackend::resume() {
  std::lock_guard lk(impl_->mu);
  impl_->cancelled = false;
}

Result<RangeResult> EtcdGrpcBackend::range(const std::string& key, bool prefix) {
  return range_until(key, prefix, impl_->timeouts.read);
}

Result<RangeResult> EtcdGrpcBackend::list(const std::string& prefix) {
  return range_until(prefix, true, std::max(impl_->timeouts.list, impl_->timeouts.read));
}

Result<RangeResult> EtcdGrpcBackend::range_until(const std::string& key, bool prefix,
                                                 std::chrono::milliseconds timeout) {
  pb::RangeRequest req;
  req.set_key(key);
  if (prefix) req.set_range_end(range_end(key));
  pb::RangeResponse resp;
  SHOAL_RETURN_IF_ERROR(
      impl_->unary(timeout, "Range", [&](grpc::ClientContext* ctx) { return impl_->kv->Range(ctx, req, &resp); }));
  RangeResult out;
  out.revision = resp.header().revision();
  out.kvs.reserve(static_cast<size_t>(resp.kvs_size()));
  for (const auto& kv : resp.kvs()) out.kvs.push_back(kv_from(kv));
  return out;
}

Result<TxnResult> EtcdGrpcBackend::txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                                       const std::vector<TxnOp>& failure) {
  return txn_until(compares, success, failure, impl_->timeouts.write);
}

Result<TxnResult> EtcdGrpcBackend::resend_txn(int retry, const std::vector<Compare>& compares,
                                              const std::vector<TxnOp>& success, const std::vector<TxnOp>& failure) {
  auto cap = std::max(impl_->timeouts.write_max, impl_->timeouts.write);
  auto timeout = impl_->timeouts.write;
  for (int i = 0; i < retry && timeout < cap; ++i) timeout *= 2;
  return txn_until(compares, success, failure, std::min(timeout, cap));
}

Result<TxnResult> EtcdGrpcBackend::txn_until(const std::vector<Compare>& compares, const std::vector<TxnOp>& success,
                                             const std::vector<TxnOp>& failure, std::chrono::milliseconds timeout) {
  pb::TxnRequest req;
  for (const auto& c : compares) compare_to(c, req.add_compare());
  for (const auto& op : success) op_to(op, req.add_success());
  for (const auto& op : failure) op_to(op, req.add_failure());
  pb::TxnResponse resp;
  SHOAL_RETURN_IF_ERROR(impl_->unary(timeout, "Txn",
                                     [&](grpc::ClientContext* ctx) { return impl_->kv->Txn(ctx, req, &resp); }));
  TxnResult out;
  out.succeeded = resp.succeeded();
  out.revision = resp.header().revision();
  for (const auto& r : resp.responses()) {
    if (!r.has_response_range()) continue;
    for (const auto& kv : r.response_range().kvs()) out.get_results.push_back(kv_from(kv));
  }
  return out;
}

std::unique_ptr<WatchHandle> EtcdGrpcBackend::watch(const std::string& prefix, int64_t from_revision,
                                                    std::function<void(const std::vector<WatchEvent>&)> on_events,
                                                    std::function<void(const Status&)> on_error) {
  if (!impl_->config_error.ok()) {
    // Keep the contract (on_error once, from another thread than the caller's).
    struct Failed : WatchHandle {
      std::thread t;
      ~Failed() override { t.join(); }
    };
    auto f = std::make_unique<Failed>();
    f->t = std::thread([st = impl_->config_error, on_error = std::move(on_error)] { on_error(st); });
    return f;
  }
  pb::WatchRequest req;
  pb::WatchCreateRequest* c = req.mutable_create_request();
  c->set_key(prefix);
  c->set_range_end(range_end(prefix));
  c->set_start_revision(from_revision);
  return std::make_unique<GrpcWatch>(impl_->channel, impl_->url, impl_->timeouts.require_leader, std::move(req), std::move(on_events),
                                     std::move(on_error));
}

Result<int64_t> EtcdGrpcBackend::lease_grant(int64_t ttl_seconds) {
  pb::LeaseGrantRequest req;
  req.set_ttl(ttl_seconds);
  pb::LeaseGrantResponse resp;
  SHOAL_RETURN_IF_ERROR(impl_->unary(impl_->timeouts.lease, "LeaseGrant", [&](grpc::ClientContext* ctx) {
    return impl_->lease->LeaseGrant(ctx, req, &resp);
  }));
  if (!resp.error().empty() || resp.id() == 0) {
    return internal_error("etcd at " + impl_->url + " granted no lease: " + resp.error());
  }
  return resp.id();
}

Status EtcdGrpcBackend::lease_keepalive(int64_t lease_id) {
  Impl::Call call(*impl_, impl_->timeouts.lease);
  SHOAL_RETURN_IF_ERROR(call.refusal("LeaseKeepAlive"));
  auto stream = impl_->lease->LeaseKeepAlive(call.ctx());
  pb::LeaseKeepAliveRequest req;
  req.set_id(lease_id);
  pb::LeaseKeepAliveResponse resp;
  bool answered = stream->Write(req) && stream->Read(&resp);
  stream->WritesDone();  // etcd then ends the stream with OK
  grpc::Status st = stream->Finish();
  if (!answered) {
    if (st.ok()) return unavailable("etcd at " + impl_->url + " ended the keepalive stream without an answer");
    return to_status(st, impl_->url, "LeaseKeepAlive", impl_->channel.get());
  }
  if (resp.ttl() <= 0) return not_found("lease expired");
  return ok_status();
}

Status EtcdGrpcBackend::lease_revoke(int64_t lease_id) {
  pb::LeaseRevokeRequest req;
  req.set_id(lease_id);
  pb::LeaseRevokeResponse resp;
  return impl_->unary(impl_->timeouts.lease, "LeaseRevoke",
                      [&](grpc::ClientContext* ctx) { return impl_->lease->LeaseRevoke(ctx, req, &resp); });
}

Status EtcdGrpcBackend::wait_healthy(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  Status last = unavailable("no answer yet");
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= std::chrono::milliseconds(0)) break;
    auto r = range_until("/shoal/health-probe", false, std::min(left, impl_->timeouts.read));
    if (r.ok()) return ok_status();
    last = r.status();
    if (last.code() == Code::kFailedPrecondition) return last;  // configuration: waiting cannot help
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return unavailable("etcd at " + impl_->url + " did not become healthy: " + last.message());
}

}  // namespace shoal
