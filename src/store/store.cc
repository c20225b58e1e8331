#include "store/store.h"
#include "common/json_limits.h"

#include <algorithm>
#include <chrono>
#include <unordered_set>

#include "common/guard.h"
#include "common/ipv4.h"
#include "common/log.h"

namespace shoal {

namespace {

constexpr char kRoot[] = "/shoal/";
constexpr char kNamesPrefix[] = "/shoal/names/services/";
constexpr char kNetworkNamesPrefix[] = "/shoal/names/networks/";
constexpr char kVnisPrefix[] = "/shoal-vnis/";
constexpr char kSubnetsPrefix[] = "/shoal-subnets/";
constexpr char kPortsPrefix[] = "/shoal-ports/";
// Outside kRoot on purpose: the watch and the re-list cover kRoot, and a
// slot key is never read from the cache, so claims and releases (one each
// per task) do not cross the watch or fill a re-list.
constexpr char kSlotsPrefix[] = "/shoal-slots/";
constexpr int kMaxAttempts = 20;
constexpr int kMaxUnknownOutcomes = 3;  // writes of unknown outcome re-read and retried per chunk
// No resend after a timeout once this long has passed since the chunk's
// first send: with the growing resend deadlines (1, 2, 4 s) a commit would
// otherwise take up to ~11 s plus re-reads, longer than an agent waits for
// its registration (10 s) and than a deposed leader's loops should hold its
// elector thread. With it: a first attempt cut off at 1 s is resent once
// (2 s) and that is all (~3 s plus re-reads); only attempts that failed at
// once leave room for the 4 s one (at most ~2.5 + 4 s plus re-reads). Then
// the write is reported as of unknown outcome (503).
constexpr auto kResendBudget = std::chrono::milliseconds(2500);
constexpr int kRereadAttempts = 3;
constexpr size_t kParallelChunks = 4;  // transactions of one batch in flight at once

std::string name_key(const std::string& name) { return kNamesPrefix + name; }

bool has_prefix(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }

// The keys a network holds while it exists (Batch::create(Network)): its
// name, its VNI and each /24 block of its subnets' address space.
std::vector<std::string> network_reservations(const Network& n) {
  std::vector<std::string> keys = {kNetworkNamesPrefix + n.spec.name};
  if (n.vni) keys.push_back(kVnisPrefix + std::to_string(n.vni));
  for (const auto& c : n.ipam) {
    auto subnet = ipv4::parse_cidr(c.subnet);
    if (!subnet.ok()) continue;  // never stored: the API validates subnets
    for (const auto& block : ipv4::blocks24(*subnet)) keys.push_back(kSubnetsPrefix + ipv4::format(block.base));
  }
  return keys;
}

// The keys a service holds while it exists: its name and each port it
// publishes through the routing mesh (/shoal-ports/<protocol>/<port>), so
// two services can never publish the same one, even from two managers at
// the same moment. Host-mode ports are per node: not reserved.
std::vector<std::string> service_reservations(const Service& v) {
  std::vector<std::string> keys = {name_key(v.spec.name)};
  for (const auto& p : v.endpoint_ports)
    if (p.publish_mode == "ingress" && p.published_port != 0)
      keys.push_back(kPortsPrefix + p.protocol + "/" + std::to_string(p.published_port));
  return keys;
}

// Keys that hold the id of the object that reserved them.
bool is_reservation(const std::string& key) {
  return has_prefix(key, kNamesPrefix) || has_prefix(key, kSlotsPrefix) || has_prefix(key, kNetworkNamesPrefix) ||
         has_prefix(key, kVnisPrefix) || has_prefix(key, kSubnetsPrefix) || has_prefix(key, kPortsPrefix);
}


// The slot a task claims while it is live: a replicated task its slot
// number, a global one (slot 0) its node (/shoal-slots/<svc>/node-<id>).
std::string slot_key(const Task& t) {
  return std::string(kSlotsPrefix) + t.service_id + "/" +
         (t.slot > 0 ? std::to_string(t.slot) : "node-" + t.node_id);
}
bool claims_slot(const Task& t) {
  return (t.slot > 0 || !t.node_id.empty()) && !t.service_id.empty() && t.desired_state <= TaskState::kRunning;
}

// Releases t's claim on its slot: the delete is conditional on the key still
// holding t's id, so an old task never frees a claim a newer task took (a
// slot claimed before the store enforced slots, or written by hand). When
// the compare fails, render_chunk drops the release on the fresh values.
void release_slot(const Task& t, std::vector<Compare>* cmps, std::vector<TxnOp>* ops) {
  cmps->push_back({slot_key(t), Compare::Target::kValue, 0, t.id});
  ops->push_back({TxnOp::Type::kDelete, slot_key(t), "", 0});
}

// A task update that takes a live task out of its slot releases the claim.
template <typename T>
void add_release(const T& before, const T& after, std::vector<Compare>* cmps, std::vector<TxnOp>* ops) {
  if constexpr (std::is_same_v<T, Task>) {
    if (claims_slot(before) && !claims_slot(after)) release_slot(before, cmps, ops);
  }
}

// On values read from the backend: a release whose slot no longer holds the
// releasing task (another task's claim, or none) is dropped, compare and
// delete, so the rest of the write goes through. A slot released by two
// tasks of one write keeps the release whose compare holds.
void drop_stale_releases(std::unordered_map<std::string, std::optional<KeyValue>>& fresh,
                         std::vector<Compare>* cmps, std::vector<TxnOp>* ops) {
  std::unordered_set<std::string> held, stale;
  auto is_stale = [&](const Compare& c) {
    if (c.target != Compare::Target::kValue || !has_prefix(c.key, kSlotsPrefix)) return false;
    const auto& cur = fresh[c.key];
    bool holds = cur && cur->value == c.text;
    (holds ? held : stale).insert(c.key);
    return !holds;
  };
  std::erase_if(*cmps, is_stale);
  if (stale.empty()) return;
  std::erase_if(*ops, [&](const TxnOp& op) {
    return op.type == TxnOp::Type::kDelete && stale.count(op.key) && !held.count(op.key);
  });
}

bool parse_key(const std::string& key, Kind* kind, std::string* id) {
  static const std::pair<const char*, Kind> kKinds[] = {{"clusters", Kind::kCluster},
                                                         {"nodes", Kind::kNode},
                                                         {"services", Kind::kService},
                                                         {"tasks", Kind::kTask},
                                                         {"networks", Kind::kNetwork}};
  if (key.compare(0, sizeof(kRoot) - 1, kRoot) != 0) return false;
  std::string rest = key.substr(sizeof(kRoot) - 1);
  auto slash = rest.find('/');
  if (slash == std::string::npos) return false;
  std::string k = rest.substr(0, slash);
  for (const auto& [name, value] : kKinds) {
    if (k == name) {
      *kind = value;
      *id = rest.substr(slash + 1);
      return !id->empty();
    }
  }
  return false;
}

template <typename T>
Result<T> decode(const KeyValue& kv) {
  try {
    T v = from_stored<T>(json::parse(kv.value));
    v.version = static_cast<uint64_t>(kv.mod_revision);
    return v;
  } catch (const std::exception& e) {
    return internal_error("corrupt object at " + kv.key + ": " + e.what());
  }
}

template <typename T>
std::string encode(const T& v) {
  return to_stored(v).dump();
}

}  // namespace

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kCluster: return "clusters";
    case Kind::kNode: return "nodes";
    case Kind::kService: return "services";
    case Kind::kTask: return "tasks";
    case Kind::kNetwork: return "networks";
  }
  return "unknown";
}

std::string object_key(Kind k, const std::string& id) {
  return std::string(kRoot) + kind_name(k) + "/" + id;
}

// One operation of a batch. `render` turns the current stored value (absent
// when create_revision == 0) into the txn compares and ops to send, or an
// error; it returns false in `*write` when there is nothing to do.
struct Batch::Op {
  Kind kind = Kind::kTask;
  std::string id;
  std::function<Status(const std::optional<KeyValue>& current, std::vector<Compare>*,
                       std::vector<TxnOp>*, bool* write)>
      render;
  // Fast path for updates rendered against the cache: gets the cached typed
  // object (a const T*) and its mod_revision, skipping a JSON round trip.
  std::function<Status(const void* cached, int64_t mod_revision, std::vector<Compare>*, std::vector<TxnOp>*,
                       bool* write)>
      render_cached;
  bool create = false;  // a create (committed after the batch's other ops, see commit())
  // Batch::require: its put rewrites the object unchanged, so it witnesses
  // nothing of this write (applied()), and the batch is one transaction.
  bool require = false;
};

namespace {

// `reserve`: keys created with the object, holding its id (a service's
// name, a task's slot); taken ones make the create fail.
template <typename T>
std::shared_ptr<Batch::Op> make_create(Kind kind, const T& v, std::vector<std::string> reserve) {
  auto op = std::make_shared<Batch::Op>();
  op->kind = kind;
  op->id = v.id;
  op->create = true;
  std::string key = object_key(kind, v.id);
  std::string value = encode(v);
  op->render = [key, value, reserve, id = v.id](const std::optional<KeyValue>& cur,
                                                std::vector<Compare>* cmps,
                                                std::vector<TxnOp>* ops, bool* write) {
    if (cur) return already_exists("object " + id + " already exists");
    cmps->push_back({key, Compare::Target::kCreateRevision, 0});
    ops->push_back({TxnOp::Type::kPut, key, value, 0});
    for (const auto& r : reserve) {
      cmps->push_back({r, Compare::Target::kCreateRevision, 0});
      ops->push_back({TxnOp::Type::kPut, r, id, 0});
    }
    *write = true;
    return ok_status();
  };
  return op;
}

template <typename T>
std::shared_ptr<Batch::Op> make_update(Kind kind, const std::string& id,
                                       std::function<bool(T&)> fn) {
  auto op = std::make_shared<Batch::Op>();
  op->kind = kind;
  op->id = id;
  std::string key = object_key(kind, id);
  op->render = [key, fn](const std::optional<KeyValue>& cur, std::vector<Compare>* cmps,
                         std::vector<TxnOp>* ops, bool* write) -> Status {
    *write = false;
    if (!cur) return ok_status();  // gone: nothing to update
    auto obj = decode<T>(*cur);
    if (!obj.ok()) return obj.status();
    T before = *obj;
    if (!fn(*obj)) return ok_status();
    cmps->push_back({key, Compare::Target::kModRevision, cur->mod_revision});
    ops->push_back({TxnOp::Type::kPut, key, encode(*obj), 0});
    add_release(before, *obj, cmps, ops);
    *write = true;
    return ok_status();
  };
  op->render_cached = [key, fn](const void* cached, int64_t rev, std::vector<Compare>* cmps,
                                std::vector<TxnOp>* ops, bool* write) -> Status {
    *write = false;
    const T& before = *static_cast<const T*>(cached);
    T obj = before;
    if (!fn(obj)) return ok_status();
    cmps->push_back({key, Compare::Target::kModRevision, rev});
    ops->push_back({TxnOp::Type::kPut, key, encode(obj), 0});
    add_release(before, obj, cmps, ops);
    *write = true;
    return ok_status();
  };
  return op;
}

template <typename T>
std::shared_ptr<Batch::Op> make_put_if_version(Kind kind, const T& v, std::string old_name,
                                               std::string new_name) {
  auto op = std::make_shared<Batch::Op>();
  op->kind = kind;
  op->id = v.id;
  std::string key = object_key(kind, v.id);
  std::string value = encode(v);
  int64_t version = static_cast<int64_t>(v.version);
  op->render = [=](const std::optional<KeyValue>& cur, std::vector<Compare>* cmps,
                   std::vector<TxnOp>* ops, bool* write) -> Status {
    if (!cur) return not_found("object " + v.id + " not found");
    if (cur->mod_revision != version) {
      return conflict("update out of sequence: the object was changed since version " +
                      std::to_string(version) + " (now " + std::to_string(cur->mod_revision) +
                      "); inspect it again and retry");
    }
    cmps->push_back({key, Compare::Target::kModRevision, version});
    ops->push_back({TxnOp::Type::kPut, key, value, 0});
    if (old_name != new_name) {
      cmps->push_back({name_key(new_name), Compare::Target::kCreateRevision, 0});
      ops->push_back({TxnOp::Type::kPut, name_key(new_name), v.id, 0});
      ops->push_back({TxnOp::Type::kDelete, name_key(old_name), "", 0});
    }
    *write = true;
    return ok_status();
  };
  return op;
}

}  // namespace

void Batch::create(const Cluster& v) { ops_.push_back(make_create(Kind::kCluster, v, {})); }
void Batch::create(const Node& v) { ops_.push_back(make_create(Kind::kNode, v, {})); }
void Batch::create(const Service& v) {
  ops_.push_back(make_create(Kind::kService, v, service_reservations(v)));
}
void Batch::create(const Task& v) {
  std::vector<std::string> reserve;
  if (claims_slot(v)) reserve.push_back(slot_key(v));
  ops_.push_back(make_create(Kind::kTask, v, std::move(reserve)));
}
void Batch::create(const Network& v) {
  ops_.push_back(make_create(Kind::kNetwork, v, network_reservations(v)));
}
void Batch::update_network(const std::string& id, Mutator<Network> fn) {
  ops_.push_back(make_update<Network>(Kind::kNetwork, id, std::move(fn)));
}
void Batch::update_cluster(const std::string& id, Mutator<Cluster> fn) {
  ops_.push_back(make_update<Cluster>(Kind::kCluster, id, std::move(fn)));
}
void Batch::update_node(const std::string& id, Mutator<Node> fn) {
  ops_.push_back(make_update<Node>(Kind::kNode, id, std::move(fn)));
}
void Batch::update_service(const std::string& id, Mutator<Service> fn) {
  ops_.push_back(make_update<Service>(Kind::kService, id, std::move(fn)));
}
void Batch::update_task(const std::string& id, Mutator<Task> fn) {
  ops_.push_back(make_update<Task>(Kind::kTask, id, std::move(fn)));
}
void Batch::put_if_version(const Node& v) {
  ops_.push_back(make_put_if_version(Kind::kNode, v, "", ""));
}
void Batch::put_if_version(const Cluster& v) {
  ops_.push_back(make_put_if_version(Kind::kCluster, v, "", ""));
}
void Batch::put_if_version(const Service& v) {
  // The old name is looked up at render time from the stored object.
  auto op = std::make_shared<Batch::Op>();
  op->kind = Kind::kService;
  op->id = v.id;
  std::string key = object_key(Kind::kService, v.id);
  op->render = [key, v](const std::optional<KeyValue>& cur, std::vector<Compare>* cmps,
                        std::vector<TxnOp>* ops, bool* write) -> Status {
    auto inner = make_put_if_version(Kind::kService, v, "", "");
    SHOAL_RETURN_IF_ERROR(inner->render(cur, cmps, ops, write));
    // Reservations (name, mesh ports): the new ones taken, the old ones
    // that are not kept released, in the same transaction.
    std::vector<std::string> before;
    if (cur) {
      auto old = decode<Service>(*cur);
      if (old.ok()) before = service_reservations(*old);
    }
    std::vector<std::string> after = service_reservations(v);
    for (const auto& r : after) {
      if (std::find(before.begin(), before.end(), r) != before.end()) continue;
      cmps->push_back({r, Compare::Target::kCreateRevision, 0});
      ops->push_back({TxnOp::Type::kPut, r, v.id, 0});
    }
    for (const auto& r : before)
      if (std::find(after.begin(), after.end(), r) == after.end()) ops->push_back({TxnOp::Type::kDelete, r, "", 0});
    return ok_status();
  };
  ops_.push_back(op);
}

namespace {

// Batch::remove; with if_version, only while the object is at that version.
std::shared_ptr<Batch::Op> make_remove(Kind kind, const std::string& id, std::optional<int64_t> if_version) {
  auto op = std::make_shared<Batch::Op>();
  op->kind = kind;
  op->id = id;
  std::string key = object_key(kind, id);
  op->render = [key, kind, id, if_version](const std::optional<KeyValue>& cur, std::vector<Compare>* cmps,
                                           std::vector<TxnOp>* ops, bool* write) -> Status {
    *write = false;
    if (!cur) {
      if (if_version) return not_found("object " + id + " not found");
      return ok_status();
    }
    if (if_version && cur->mod_revision != *if_version) {
      return conflict("remove out of sequence: the object was changed since version " + std::to_string(*if_version) +
                      " (now " + std::to_string(cur->mod_revision) + "); check it again");
    }
    cmps->push_back({key, Compare::Target::kModRevision, cur->mod_revision});
    ops->push_back({TxnOp::Type::kDelete, key, "", 0});
    if (kind == Kind::kService) {
      auto old = decode<Service>(*cur);
      if (old.ok()) {
        for (const auto& r : service_reservations(*old)) ops->push_back({TxnOp::Type::kDelete, r, "", 0});
      }
    }
    if (kind == Kind::kNetwork) {
      auto old = decode<Network>(*cur);
      if (old.ok()) {
        for (const auto& r : network_reservations(*old)) ops->push_back({TxnOp::Type::kDelete, r, "", 0});
      }
    }
    if (kind == Kind::kTask) {
      auto old = decode<Task>(*cur);
      if (old.ok() && claims_slot(*old)) release_slot(*old, cmps, ops);
    }
    *write = true;
    return ok_status();
  };
  return op;
}

}  // namespace

void Batch::remove(Kind kind, const std::string& id) { ops_.push_back(make_remove(kind, id, std::nullopt)); }

void Batch::remove(Kind kind, const std::string& id, uint64_t if_version) {
  ops_.push_back(make_remove(kind, id, static_cast<int64_t>(if_version)));
}

void Batch::require(Kind kind, const std::string& id) {
  auto op = std::make_shared<Batch::Op>();
  op->kind = kind;
  op->id = id;
  op->require = true;
  std::string key = object_key(kind, id);
  std::string what = kind_name(kind);
  what.pop_back();  // "networks" -> "network"
  op->render = [key, id, what](const std::optional<KeyValue>& cur, std::vector<Compare>* cmps,
                               std::vector<TxnOp>* ops, bool* write) -> Status {
    *write = false;
    if (!cur) return not_found(what + " " + id + " not found (removed meanwhile?)");
    // The value as it is: the cache's encoding of the object, or the bytes
    // just read. Its lease, if any, is kept.
    cmps->push_back({key, Compare::Target::kModRevision, cur->mod_revision});
    ops->push_back({TxnOp::Type::kPut, key, cur->value, cur->lease});
    *write = true;
    return ok_status();
  };
  ops_.push_back(op);
}

// ---------------------------------------------------------------- Store

Store::Store(Backend& backend) : backend_(backend) {}

Store::~Store() { stop(); }

Status Store::start() {
  SHOAL_RETURN_IF_ERROR(load(false));
  start_watch(revision() + 1);
  resync_thread_ = std::thread([this] { resync_loop(); });
  return ok_status();
}

void Store::stop() {
  {
    std::lock_guard lk(resync_mu_);
    stopped_ = true;
  }
  resync_cv_.notify_all();
  {
    std::lock_guard lk(rev_mu_);  // wait_for_revision() checks stopped_ under it
  }
  rev_cv_.notify_all();
  if (resync_thread_.joinable()) resync_thread_.join();
  std::unique_ptr<WatchHandle> w;
  {
    std::lock_guard lk(watch_mu_);
    w = std::move(watch_);
  }
  w.reset();
}

namespace {

// The cached version of an object, if the cache has it.
std::optional<uint64_t> cached_version(const StoreSnapshot& snap, Kind kind, const std::string& id) {
  auto find = [&](const auto& map) -> std::optional<uint64_t> {
    auto it = map.find(id);
    if (it == map.end()) return std::nullopt;
    return it->second.version;
  };
  switch (kind) {
    case Kind::kCluster:
      if (snap.cluster && snap.cluster->id == id) return snap.cluster->version;
      return std::nullopt;
    case Kind::kNode: return find(snap.nodes);
    case Kind::kService: return find(snap.services);
    case Kind::kTask: return find(snap.tasks);
    case Kind::kNetwork: return find(snap.networks);
  }
  return std::nullopt;
}

uint64_t event_version(const StoreEvent& ev) {
  return std::visit(
      [](const auto& o) -> uint64_t {
        if constexpr (std::is_same_v<std::decay_t<decltype(o)>, std::monostate>) return 0;
        else return o.version;
      },
      ev.object);
}

}  // namespace

Status Store::load(bool announce) {
  auto r = backend_.list(kRoot);
  if (!r.ok()) return r.status().with_context("loading cluster state");
  std::vector<StoreEvent> decoded;
  for (const auto& kv : r->kvs) {
    if (auto ev = decode_event(kv, false)) decoded.push_back(std::move(*ev));
  }
  std::vector<StoreEvent> out;
  {
    std::unique_lock lk(mu_);
    if (!announce) {
      snap_ = StoreSnapshot{};
      for (auto& ev : decoded) apply_locked(ev);
    } else {
      // Apply only the differences, so listeners hear of each one.
      std::unordered_set<std::string> present;
      for (auto& ev : decoded) {
        present.insert(object_key(ev.kind, ev.id));
        if (cached_version(snap_, ev.kind, ev.id) == event_version(ev)) continue;
        if (apply_locked(ev)) out.push_back(std::move(ev));
      }
      std::vector<std::pair<Kind, std::string>> gone;
      auto collect = [&](Kind kind, const auto& map) {
        for (const auto& [id, _] : map)
          if (!present.count(object_key(kind, id))) gone.push_back({kind, id});
      };
      if (snap_.cluster && !present.count(object_key(Kind::kCluster, snap_.cluster->id)))
        gone.push_back({Kind::kCluster, snap_.cluster->id});
      collect(Kind::kNode, snap_.nodes);
      collect(Kind::kService, snap_.services);
      collect(Kind::kTask, snap_.tasks);
      collect(Kind::kNetwork, snap_.networks);
      for (auto& [kind, id] : gone) {
        StoreEvent ev{StoreEvent::Type::kDelete, kind, id, r->revision, {}};
        if (apply_locked(ev)) out.push_back(std::move(ev));
      }
    }
    snap_.revision = std::max(snap_.revision, r->revision);
  }
  if (!out.empty()) {
    LOG_INFO("store", "re-list after a watch gap found " << out.size() << " changes");
    std::lock_guard lk(listeners_mu_);
    for (const auto& e : out)
      for (auto& [_, fn] : listeners_) fn(e);
  }
  {
    std::lock_guard lk(rev_mu_);
    notified_revision_ = std::max(notified_revision_, r->revision);
  }
  rev_cv_.notify_all();
  return ok_status();
}

void Store::start_watch(int64_t from_revision) {
  if (stopped_) return;
  auto handle = backend_.watch(
      kRoot, from_revision, [this](const std::vector<WatchEvent>& evs) { on_events(evs); },
      [this](const Status& st) {
        // Possibly on the watch's own thread, or inside watch(): only signal.
        std::lock_guard lk(resync_mu_);
        if (stopped_) return;
        LOG_WARN("store", "watch ended (" << st.message() << "); re-listing");
        resync_needed_ = true;
        resync_cv_.notify_all();
      });
  std::lock_guard lk(watch_mu_);
  watch_ = std::move(handle);
}

// Re-lists and re-watches after a watch gap, retrying every 500 ms while
// the backend cannot be read.
void Store::resync_loop() {
  std::unique_lock lk(resync_mu_);
  while (!stopped_) {
    resync_cv_.wait(lk, [&] { return stopped_ || resync_needed_; });
    if (stopped_) break;
    resync_needed_ = false;
    lk.unlock();
    std::unique_ptr<WatchHandle> old;
    {
      std::lock_guard wl(watch_mu_);
      old = std::move(watch_);
    }
    old.reset();  // no event of the dead watch after this
    Status st = guarded("store", "the re-list after a watch gap", [this] {
      Status s = load(true);
      if (s.ok()) start_watch(revision() + 1);
      return s;
    });
    lk.lock();
    if (!st.ok()) {
      LOG_WARN("store", "re-list failed (" << st.message() << "); retrying");
      resync_needed_ = true;
      resync_cv_.wait_for(lk, std::chrono::milliseconds(500), [&] { return stopped_.load(); });
    }
  }
}

// Decodes a watched or listed key-value into an event (no lock needed: the
// JSON work happens before the cache is locked). nullopt: not one of ours.
std::optional<StoreEvent> Store::decode_event(const KeyValue& kv, bool deleted) {
  StoreEvent ev;
  if (!parse_key(kv.key, &ev.kind, &ev.id)) return std::nullopt;
  ev.revision = kv.mod_revision;
  ev.type = deleted ? StoreEvent::Type::kDelete : StoreEvent::Type::kUpdate;
  if (deleted) return ev;
  auto take = [&](auto decoded) -> std::optional<StoreEvent> {
    if (!decoded.ok()) {
      LOG_ERROR("store", decoded.status().message());
      return std::nullopt;
    }
    ev.object = std::move(decoded).value();
    return ev;
  };
  switch (ev.kind) {
    case Kind::kCluster: return take(decode<Cluster>(kv));
    case Kind::kNode: return take(decode<Node>(kv));
    case Kind::kService: return take(decode<Service>(kv));
    case Kind::kTask: return take(decode<Task>(kv));
    case Kind::kNetwork: return take(decode<Network>(kv));
  }
  return std::nullopt;
}

// Applies a decoded event to the cache and completes it (create or update,
// or for a delete the object as it was). Returns false if nothing changed.
bool Store::apply_locked(StoreEvent& ev) {
  const std::string& id = ev.id;
  bool deleted = ev.type == StoreEvent::Type::kDelete;
  auto handle = [&](auto& map, auto* decoded) {
    auto it = map.find(id);
    if (deleted) {
      if (it == map.end()) return false;
      ev.object = std::move(it->second);
      map.erase(it);
      return true;
    }
    ev.type = it == map.end() ? StoreEvent::Type::kCreate : StoreEvent::Type::kUpdate;
    if (it == map.end()) map.emplace(id, *decoded);
    else it->second = *decoded;
    return true;
  };
  switch (ev.kind) {
    case Kind::kCluster:
      if (deleted) {
        if (!snap_.cluster || snap_.cluster->id != id) return false;
        ev.object = std::move(*snap_.cluster);
        snap_.cluster.reset();
        return true;
      }
      ev.type = snap_.cluster ? StoreEvent::Type::kUpdate : StoreEvent::Type::kCreate;
      snap_.cluster = std::get<Cluster>(ev.object);
      return true;
    case Kind::kNode: return handle(snap_.nodes, std::get_if<Node>(&ev.object));
    case Kind::kService: return handle(snap_.services, std::get_if<Service>(&ev.object));
    case Kind::kNetwork: return handle(snap_.networks, std::get_if<Network>(&ev.object));
    case Kind::kTask: {
      std::string old_service, old_node;
      bool old_running = false;
      if (auto it = snap_.tasks.find(id); it != snap_.tasks.end()) {
        old_service = it->second.service_id;
        old_node = it->second.node_id;
        old_running = it->second.status.state == TaskState::kRunning;
      }
      if (!handle(snap_.tasks, std::get_if<Task>(&ev.object))) return false;
      auto unindex = [&](auto& index, const std::string& k) {
        if (k.empty()) return;
        auto it = index.find(k);
        if (it == index.end()) return;
        it->second.erase(id);
        if (it->second.empty()) index.erase(it);
      };
      unindex(snap_.tasks_by_service, old_service);
      unindex(snap_.tasks_by_node, old_node);
      if (old_running) {
        auto it = snap_.running_by_service.find(old_service);
        if (it != snap_.running_by_service.end() && --it->second == 0) snap_.running_by_service.erase(it);
      }
      if (!deleted) {
        const Task& t = std::get<Task>(ev.object);
        if (!t.service_id.empty()) snap_.tasks_by_service[t.service_id].insert(id);
        if (!t.node_id.empty()) snap_.tasks_by_node[t.node_id].insert(id);
        if (t.status.state == TaskState::kRunning) ++snap_.running_by_service[t.service_id];
      }
      return true;
    }
  }
  return false;
}

void Store::on_events(const std::vector<WatchEvent>& events) {
  std::vector<StoreEvent> decoded;
  decoded.reserve(events.size());
  for (const auto& e : events) {
    if (auto ev = decode_event(e.kv, e.type == WatchEvent::Type::kDelete)) decoded.push_back(std::move(*ev));
  }
  std::vector<StoreEvent> out;
  out.reserve(decoded.size());
  {
    std::unique_lock lk(mu_);
    for (auto& ev : decoded) {
      if (apply_locked(ev)) out.push_back(std::move(ev));
    }
    for (const auto& e : events) snap_.revision = std::max(snap_.revision, e.kv.mod_revision);
  }
  {
    std::lock_guard lk(listeners_mu_);
    for (const auto& e : out) {
      for (auto& [_, fn] : listeners_) fn(e);
    }
  }
  // Writers waiting in commit() resume only after listeners saw the change.
  {
    std::lock_guard lk(rev_mu_);
    if (!events.empty()) notified_revision_ = std::max(notified_revision_, events.back().kv.mod_revision);
  }
  rev_cv_.notify_all();
}

int64_t Store::revision() const {
  std::shared_lock lk(mu_);
  return snap_.revision;
}

bool Store::wait_for_revision(int64_t revision, std::chrono::milliseconds timeout) const {
  std::unique_lock lk(rev_mu_);
  bool caught_up = rev_cv_.wait_for(lk, timeout, [&] { return notified_revision_ >= revision || stopped_; });
  return caught_up && notified_revision_ >= revision;
}

std::optional<Cluster> Store::cluster() const {
  std::shared_lock lk(mu_);
  return snap_.cluster;
}

std::optional<Node> Store::node(const std::string& id) const {
  std::shared_lock lk(mu_);
  auto it = snap_.nodes.find(id);
  if (it == snap_.nodes.end()) return std::nullopt;
  return it->second;
}

std::vector<Node> Store::nodes() const {
  std::shared_lock lk(mu_);
  std::vector<Node> out;
  for (const auto& [_, n] : snap_.nodes) out.push_back(n);
  return out;
}

std::optional<Service> Store::service(const std::string& id) const {
  std::shared_lock lk(mu_);
  auto it = snap_.services.find(id);
  if (it == snap_.services.end()) return std::nullopt;
  return it->second;
}

namespace {

// Docker's rules for a reference to a named object: an exact id, then an
// exact name, then a unique id prefix. `what`: "service", "network".
template <typename T>
Result<T> find_by_ref(const std::unordered_map<std::string, T>& map, const std::string& ref, const char* what) {
  if (ref.empty()) return invalid_argument(std::string(what) + " name or id must not be empty");
  if (auto it = map.find(ref); it != map.end()) return it->second;
  for (const auto& [_, o] : map) {
    if (o.spec.name == ref) return o;
  }
  const T* match = nullptr;
  int matches = 0;
  for (const auto& [id, o] : map) {
    if (id.compare(0, ref.size(), ref) == 0) {
      match = &o;
      ++matches;
    }
  }
  if (matches == 1) return *match;
  if (matches > 1) {
    return invalid_argument(std::string(what) + " " + shown_input(ref) + " is ambiguous (" + std::to_string(matches) +
                            " matches found); give more of its id");
  }
  return not_found(std::string(what) + " " + shown_input(ref) + " not found");
}

}  // namespace

Result<Service> Store::find_service(const std::string& ref) const {
  std::shared_lock lk(mu_);
  return find_by_ref(snap_.services, ref, "service");
}

Result<Network> Store::find_network(const std::string& ref) const {
  std::shared_lock lk(mu_);
  return find_by_ref(snap_.networks, ref, "network");
}

std::vector<Network> Store::networks() const {
  std::shared_lock lk(mu_);
  std::vector<Network> out;
  for (const auto& [_, n] : snap_.networks) out.push_back(n);
  return out;
}

std::vector<Service> Store::services() const {
  std::shared_lock lk(mu_);
  std::vector<Service> out;
  for (const auto& [_, s] : snap_.services) out.push_back(s);
  return out;
}

std::optional<Task> Store::task(const std::string& id) const {
  std::shared_lock lk(mu_);
  auto it = snap_.tasks.find(id);
  if (it == snap_.tasks.end()) return std::nullopt;
  return it->second;
}

std::vector<Task> Store::tasks() const {
  std::shared_lock lk(mu_);
  std::vector<Task> out;
  out.reserve(snap_.tasks.size());
  for (const auto& [_, t] : snap_.tasks) out.push_back(t);
  return out;
}

std::vector<Task> Store::tasks_of_service(const std::string& service_id) const {
  std::shared_lock lk(mu_);
  std::vector<Task> out;
  auto it = snap_.tasks_by_service.find(service_id);
  if (it == snap_.tasks_by_service.end()) return out;
  for (const auto& id : it->second) out.push_back(snap_.tasks.at(id));
  return out;
}

std::vector<Task> Store::tasks_of_node(const std::string& node_id) const {
  std::shared_lock lk(mu_);
  std::vector<Task> out;
  auto it = snap_.tasks_by_node.find(node_id);
  if (it == snap_.tasks_by_node.end()) return out;
  for (const auto& id : it->second) out.push_back(snap_.tasks.at(id));
  return out;
}

void Store::view(const std::function<void(const StoreSnapshot&)>& fn) const {
  std::shared_lock lk(mu_);
  fn(snap_);
}

uint64_t Store::subscribe(Listener fn) {
  std::lock_guard lk(listeners_mu_);
  uint64_t id = next_listener_++;
  listeners_[id] = std::move(fn);
  return id;
}

void Store::unsubscribe(uint64_t id) {
  std::lock_guard lk(listeners_mu_);
  listeners_.erase(id);
}

// ---------------------------------------------------------------- commit

Status Store::commit(Batch& batch, const std::optional<Fence>& fence) {
  // Two phases: first everything but creates (it releases the slots that
  // shut-down tasks held), then the creates (which claim slots). A create of
  // an object the batch also touches otherwise keeps its place in phase one.
  // A batch with requirements is one transaction (Batch::require).
  bool tied = std::any_of(batch.ops_.begin(), batch.ops_.end(), [](const auto& op) { return op->require; });
  std::unordered_map<std::string, int> named;
  for (const auto& op : batch.ops_) named[object_key(op->kind, op->id)]++;
  std::vector<std::shared_ptr<Batch::Op>> first, creates;
  for (const auto& op : batch.ops_) {
    bool late = !tied && op->create && named[object_key(op->kind, op->id)] == 1;
    (late ? creates : first).push_back(op);
  }
  int64_t last_revision = 0;
  Status st;
  if (tied) {
    if (first.size() > std::max<size_t>(1, backend_.max_txn_ops() / 3)) {
      return invalid_argument("a write tied to the objects it requires must fit one transaction (" +
                              std::to_string(first.size()) + " objects is too many)");
    }
    st = commit_chunk(first, fence, &last_revision);
  } else {
    st = commit_phase(first, fence, &last_revision);
    if (st.ok()) st = commit_phase(creates, fence, &last_revision);
  }
  // Whatever committed is in the cache before the caller goes on, failed or
  // not: a caller that plans again sees its partial writes.
  if (last_revision > 0 && !wait_for_revision(last_revision, std::chrono::seconds(10))) {
    if (stopped_) {
      return st.ok() ? unavailable("the store was stopped before its cache showed the write (it was committed)")
                     : st;
    }
    request_resync("the cache did not catch up with a commit within 10s");
    if (st.ok()) return unavailable("the write was committed but the local cache did not catch up within 10s");
  }
  return st;
}

// The watch lags or hangs without an error (a dead stream): re-list and
// re-watch as after a gap, so the cache cannot stay behind for good.
void Store::request_resync(const char* why) {
  std::lock_guard lk(resync_mu_);
  if (stopped_ || resync_needed_) return;
  LOG_WARN("store", why << "; re-listing");
  resync_needed_ = true;
  resync_cv_.notify_all();
}

Status Store::commit_phase(std::vector<std::shared_ptr<Batch::Op>>& ops, const std::optional<Fence>& fence,
                           int64_t* last_revision) {
  if (ops.empty()) return ok_status();
  // Each op renders to 1-3 etcd ops; keep chunks within the server's limit.
  size_t per_chunk = std::max<size_t>(1, backend_.max_txn_ops() / 3);
  std::vector<std::vector<std::shared_ptr<Batch::Op>>> chunks;
  for (size_t i = 0; i < ops.size(); i += per_chunk) {
    chunks.emplace_back(ops.begin() + i, ops.begin() + std::min(ops.size(), i + per_chunk));
  }
  // Chunks that touch distinct objects are independent: several in flight
  // at once let etcd commit them in one raft round and overlap our encoding
  // with its work. An object named twice keeps the batch's order instead.
  bool independent = chunks.size() > 1;
  if (independent) {
    std::unordered_set<std::string> seen;
    for (const auto& op : ops) {
      if (!seen.insert(object_key(op->kind, op->id)).second) {
        independent = false;
        break;
      }
    }
  }
  std::vector<Status> results(chunks.size(), ok_status());
  std::vector<int64_t> revisions(chunks.size(), 0);
  if (independent) {
    std::atomic<size_t> next{0};
    auto worker = [&] {
      for (size_t i; (i = next++) < chunks.size();) results[i] = commit_chunk(chunks[i], fence, &revisions[i]);
    };
    std::vector<std::thread> helpers;
    for (size_t h = 1; h < std::min(chunks.size(), kParallelChunks); ++h) helpers.emplace_back(worker);
    worker();
    for (auto& t : helpers) t.join();
  } else {
    for (size_t i = 0; i < chunks.size(); ++i) {
      results[i] = commit_chunk(chunks[i], fence, &revisions[i]);
      if (!results[i].ok()) break;
    }
  }
  for (int64_t r : revisions) *last_revision = std::max(*last_revision, r);
  for (const auto& st : results) SHOAL_RETURN_IF_ERROR(st);
  return ok_status();
}

namespace {

// Did a transaction whose outcome is unknown apply? `fresh` holds the
// involved keys as re-read afterwards. A transaction is atomic, so one
// witness settles it: a created object key that now exists (ids are fresh;
// a reservation must hold our value), a compared key that changed and holds
// exactly what we wrote, or, for a delete-only transaction, all deleted
// keys gone. Anything else is taken as not applied; rendering again on
// the fresh values is then what a retry after a failed compare does. The
// rewrite of a required object (`required`: Batch::require) is no witness:
// another writer's rewrite of it holds the same bytes; a transaction of
// requirements only is taken as not applied (sent again, it rewrites them
// once more: harmless).
bool applied(const std::vector<Compare>& cmps, const std::vector<TxnOp>& ops,
             std::unordered_map<std::string, std::optional<KeyValue>>& fresh,
             const std::unordered_set<std::string>& required) {
  std::unordered_map<std::string, const Compare*> by_key;
  for (const auto& c : cmps) by_key[c.key] = &c;
  bool any_put = false;
  for (const auto& op : ops) {
    if (op.type != TxnOp::Type::kPut) continue;
    if (required.count(op.key)) continue;
    any_put = true;
    const auto& cur = fresh[op.key];
    auto it = by_key.find(op.key);
    if (!cur || it == by_key.end()) continue;
    const Compare& c = *it->second;
    bool reservation = is_reservation(op.key);
    if (c.target == Compare::Target::kCreateRevision && c.value == 0) {
      if (!reservation || cur->value == op.value) return true;
    } else if (c.target == Compare::Target::kModRevision && cur->mod_revision != c.value && cur->value == op.value) {
      return true;
    }
  }
  if (any_put) return false;
  bool any_delete = false;
  for (const auto& op : ops) {
    if (op.type != TxnOp::Type::kDelete) continue;
    any_delete = true;
    if (fresh[op.key]) return false;
  }
  return any_delete;
}

// etcd refuses a txn naming one key twice: a second delete of a key (two
// tasks releasing one slot) is dropped; a put and another op is a conflict.
Status dedupe(std::vector<TxnOp>* ops) {
  std::unordered_map<std::string, TxnOp::Type> seen;
  std::vector<TxnOp> out;
  out.reserve(ops->size());
  for (auto& op : *ops) {
    auto [it, inserted] = seen.emplace(op.key, op.type);
    if (!inserted) {
      if (op.type == TxnOp::Type::kDelete && it->second == TxnOp::Type::kDelete) continue;
      return conflict("one write names " + op.key + " twice (two new tasks for one slot?); try again");
    }
    out.push_back(std::move(op));
  }
  ops->swap(out);
  return ok_status();
}

}  // namespace

// Renders a chunk's ops to compares and txn ops: against the cache, or
// (use_fresh) against values just read from the backend.
Status Store::render_chunk(std::vector<std::shared_ptr<Batch::Op>>& ops, const std::optional<Fence>& fence,
                           bool use_fresh, std::unordered_map<std::string, std::optional<KeyValue>>& fresh,
                           std::vector<Compare>* cmps, std::vector<TxnOp>* txn_ops) {
  if (fence && !fence->key.empty()) cmps->push_back({fence->key, Compare::Target::kCreateRevision, fence->create_revision});
  for (auto& op : ops) {
    std::string key = object_key(op->kind, op->id);
    std::optional<KeyValue> cur;
    if (!use_fresh && op->render_cached) {
      // Typed fast path: the mutator runs on a copy of the cached object.
      std::shared_lock lk(mu_);
      const void* cached = nullptr;
      int64_t rev = 0;
      auto pick = [&](const auto& map) {
        auto it = map.find(op->id);
        if (it != map.end()) {
          cached = &it->second;
          rev = static_cast<int64_t>(it->second.version);
        }
      };
      switch (op->kind) {
        case Kind::kCluster:
          if (snap_.cluster && snap_.cluster->id == op->id) {
            cached = &*snap_.cluster;
            rev = static_cast<int64_t>(snap_.cluster->version);
          }
          break;
        case Kind::kNode: pick(snap_.nodes); break;
        case Kind::kService: pick(snap_.services); break;
        case Kind::kTask: pick(snap_.tasks); break;
        case Kind::kNetwork: pick(snap_.networks); break;
      }
      if (!cached) continue;  // gone: nothing to update
      bool write = false;
      SHOAL_RETURN_IF_ERROR(op->render_cached(cached, rev, cmps, txn_ops, &write));
      continue;
    }
    if (use_fresh) {
      cur = fresh[key];
    } else {
      std::shared_lock lk(mu_);
      auto encode_cached = [&](const auto& obj) {
        KeyValue kv;
        kv.key = key;
        kv.value = encode(obj);
        kv.mod_revision = static_cast<int64_t>(obj.version);
        kv.create_revision = 1;
        cur = kv;
      };
      switch (op->kind) {
        case Kind::kCluster:
          if (snap_.cluster && snap_.cluster->id == op->id) encode_cached(*snap_.cluster);
          break;
        case Kind::kNode:
          if (auto it = snap_.nodes.find(op->id); it != snap_.nodes.end()) encode_cached(it->second);
          break;
        case Kind::kService:
          if (auto it = snap_.services.find(op->id); it != snap_.services.end()) encode_cached(it->second);
          break;
        case Kind::kTask:
          if (auto it = snap_.tasks.find(op->id); it != snap_.tasks.end()) encode_cached(it->second);
          break;
        case Kind::kNetwork:
          if (auto it = snap_.networks.find(op->id); it != snap_.networks.end()) encode_cached(it->second);
          break;
      }
    }
    bool write = false;
    SHOAL_RETURN_IF_ERROR(op->render(cur, cmps, txn_ops, &write));
  }
  if (use_fresh) drop_stale_releases(fresh, cmps, txn_ops);
  return dedupe(txn_ops);
}

// Reads every key a chunk involves (its objects, its compares) into fresh.
Status Store::reread(const std::vector<std::shared_ptr<Batch::Op>>& ops, const std::vector<Compare>& cmps,
                     std::unordered_map<std::string, std::optional<KeyValue>>* fresh, int64_t* revision) {
  std::set<std::string> keys;
  for (const auto& c : cmps) keys.insert(c.key);
  for (const auto& op : ops) keys.insert(object_key(op->kind, op->id));
  std::vector<TxnOp> gets;
  for (const auto& k : keys) gets.push_back({TxnOp::Type::kGet, k, "", 0});
  Status last;
  for (int i = 0; i < kRereadAttempts; ++i) {
    auto g = backend_.txn({}, gets, {});
    if (!g.ok()) {
      last = g.status();
      continue;
    }
    fresh->clear();
    for (const auto& k : keys) (*fresh)[k] = std::nullopt;
    for (const auto& kv : g->get_results) (*fresh)[kv.key] = kv;
    *revision = g->revision;
    return ok_status();
  }
  return last;
}

namespace {

// A slot claim whose holder no longer claims it (the task is gone, or shut
// down, and the claim's release was lost: written before the store enforced
// slots, or by hand) would block its slot forever: it is released, with a
// compare on the holder, so a claim someone took meanwhile stays. True when
// the claim is (or may now be) free: the caller tries its create again.
bool release_leaked_claim(Backend& backend, const std::string& key, const std::string& holder) {
  auto r = backend.range(object_key(Kind::kTask, holder), false);
  if (!r.ok()) return false;
  if (!r->kvs.empty()) {
    auto t = decode<Task>(r->kvs[0]);
    if (!t.ok() || (claims_slot(*t) && slot_key(*t) == key)) return false;  // a live holder: taken
  }
  auto d = backend.txn({{key, Compare::Target::kValue, 0, holder}}, {{TxnOp::Type::kDelete, key, "", 0}}, {});
  if (!d.ok()) return false;
  if (d->succeeded) LOG_WARN("store", "released slot claim " << key << ": its task " << holder << " no longer holds it");
  return true;
}

}  // namespace

// A reservation (a service name, a task slot) a failed compare found taken,
// by someone else: attempts of ours that landed were ruled out first
// (landed()). A slot claim whose holder is gone is released and the claim
// tried again (ok); anything else is the caller's conflict.
Status Store::check_reservations(const std::vector<Compare>& cmps,
                                 std::unordered_map<std::string, std::optional<KeyValue>>& fresh) {
  for (const auto& c : cmps) {
    if (c.target != Compare::Target::kCreateRevision || c.value != 0 || !fresh[c.key]) continue;
    if (has_prefix(c.key, kNamesPrefix)) {
      return already_exists("service name " + c.key.substr(sizeof(kNamesPrefix) - 1) +
                            " is already in use by service " + fresh[c.key]->value);
    }
    if (has_prefix(c.key, kNetworkNamesPrefix)) {
      return already_exists("network name " + c.key.substr(sizeof(kNetworkNamesPrefix) - 1) +
                            " is already in use by network " + fresh[c.key]->value);
    }
    if (has_prefix(c.key, kVnisPrefix)) {
      return already_exists("VXLAN id " + c.key.substr(sizeof(kVnisPrefix) - 1) + " is already in use by network " +
                            fresh[c.key]->value);
    }
    if (has_prefix(c.key, kSubnetsPrefix)) {
      return already_exists("the address block " + c.key.substr(sizeof(kSubnetsPrefix) - 1) +
                            "/24 is already in use by network " + fresh[c.key]->value);
    }
    if (has_prefix(c.key, kPortsPrefix)) {
      std::string what = c.key.substr(sizeof(kPortsPrefix) - 1);  // "tcp/8080"
      auto slash = what.find('/');
      return invalid_argument("port '" + what.substr(slash + 1) + "' (" + what.substr(0, slash) +
                              ") is already in use by service " + fresh[c.key]->value +
                              " as an ingress port; publish another one, or leave it out to get a free one");
    }
    if (has_prefix(c.key, kSlotsPrefix)) {
      if (release_leaked_claim(backend_, c.key, fresh[c.key]->value)) {
        fresh[c.key].reset();
        continue;
      }
      return conflict("slot " + c.key.substr(sizeof(kSlotsPrefix) - 1) + " already has a live task (" +
                      fresh[c.key]->value + "); a new task for it waits until that one is shut down");
    }
  }
  return ok_status();
}

namespace {

// An attempt whose outcome is unknown (its txn timed out): etcd may still
// apply it after the client gave up (a slow fsync, a proposal caught in a
// leader change), so every later re-read asks whether it landed.
struct UnknownAttempt {
  std::vector<Compare> cmps;
  std::vector<TxnOp> ops;
  Status error;
  std::unordered_set<std::string> required;  // keys of its Batch::require ops
};

// The keys a re-read must cover, as compares (reread reads their keys): this
// attempt's compares and every unknown attempt's compares and op keys, so
// applied() sees each of them as it is now, not as absent.
std::vector<Compare> involved(const std::vector<Compare>& cmps, const std::vector<UnknownAttempt>& unknown) {
  std::vector<Compare> out = cmps;
  for (const auto& a : unknown) {
    out.insert(out.end(), a.cmps.begin(), a.cmps.end());
    for (const auto& op : a.ops) out.push_back({op.key, Compare::Target::kModRevision, 0});
  }
  return out;
}

// The first unknown attempt the re-read shows applied, or null. Attempts of
// one chunk exclude each other (each compares what the one before it would
// change), so at most one of them can have landed.
const UnknownAttempt* landed(const std::vector<UnknownAttempt>& unknown,
                             std::unordered_map<std::string, std::optional<KeyValue>>& fresh) {
  for (const auto& a : unknown) {
    if (applied(a.cmps, a.ops, fresh, a.required)) return &a;
  }
  return nullptr;
}

}  // namespace

Status Store::commit_chunk(std::vector<std::shared_ptr<Batch::Op>>& ops,
                           const std::optional<Fence>& fence, int64_t* revision) {
  // First attempt renders against the cache; after a failed compare or a
  // write of unknown outcome, against values freshly read from the backend.
  std::unordered_map<std::string, std::optional<KeyValue>> fresh;
  bool use_fresh = false;
  std::vector<UnknownAttempt> unknown;  // oldest first
  std::unordered_set<std::string> required;
  for (const auto& op : ops)
    if (op->require) required.insert(object_key(op->kind, op->id));
  const auto first_send = std::chrono::steady_clock::now();
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    // A stopped store sends nothing more (its owner may be waiting on this thread).
    if (stopped_) return unavailable("the store is stopping: the write was not sent");
    std::vector<Compare> cmps;
    std::vector<TxnOp> txn_ops;
    SHOAL_RETURN_IF_ERROR(render_chunk(ops, fence, use_fresh, fresh, &cmps, &txn_ops));
    if (txn_ops.empty()) return ok_status();
    // After a timeout, a longer deadline: the earlier attempt may just have been slow.
    auto r = unknown.empty() ? backend_.txn(cmps, txn_ops, {})
                             : backend_.resend_txn(static_cast<int>(unknown.size()), cmps, txn_ops, {});
    if (r.ok() && r->succeeded) {
      *revision = std::max(*revision, r->revision);
      return ok_status();
    }
    if (!r.ok() && r.status().code() == Code::kInvalidArgument) {
      return r.status().with_context("writing cluster state");  // refused, not applied
    }
    if (!r.ok()) unknown.push_back({cmps, txn_ops, r.status(), required});
    // A compare failed, or the outcome is unknown: read every involved key
    // and the fence before anything is sent again.
    int64_t read_revision = 0;
    Status rs = reread(ops, involved(cmps, unknown), &fresh, &read_revision);
    if (!rs.ok()) {
      if (unknown.empty()) return rs.with_context("re-reading cluster state after a conflict");
      return unavailable("writing cluster state: " + unknown.back().error.message() +
                         "; the write may or may not have been applied, and re-reading failed (" +
                         rs.message() + "): the store is unreachable, try again");
    }
    // A write of ours that landed late makes a later attempt's compare fail:
    // that is our success, not someone else's conflict.
    if (const UnknownAttempt* a = landed(unknown, fresh)) {
      LOG_INFO("store", "a write of unknown outcome (" << a->error.message() << ") was applied");
      *revision = std::max(*revision, read_revision);
      return ok_status();
    }
    if (!r.ok()) {
      if (unknown.size() > static_cast<size_t>(kMaxUnknownOutcomes)) {
        return r.status().with_context("writing cluster state");
      }
      if (std::chrono::steady_clock::now() - first_send > kResendBudget) {
        // Not the backend's text: a raft leader answered the re-read, so this
        // is a slow store, not a lost quorum (error_response reads "etcd" so).
        return unavailable("writing cluster state: no answer in time, and not sent again after " +
                           std::to_string(kResendBudget.count()) +
                           " ms; the write may or may not have been applied (a re-read did not show it yet): "
                           "the cluster store is slow, inspect and try again");
      }
      LOG_WARN("store", "a write of unknown outcome (" << r.status().message() << ") was not applied; retrying");
    }
    if (fence && !fence->key.empty()) {
      auto& f = fresh[fence->key];
      if (!f || f->create_revision != fence->create_revision) {
        return unavailable("this manager is not the leader any more; its write was refused");
      }
    }
    // Reservations taken by someone else are final.
    SHOAL_RETURN_IF_ERROR(check_reservations(cmps, fresh));
    use_fresh = true;
  }
  return unavailable("too many conflicting writes to the same objects; try again");
}

Status Store::sync(std::chrono::milliseconds timeout) {
  // A write under the watched prefix, not a read: a read's revision may be
  // that of a write outside kRoot (a session key, a slot key, a sealed key),
  // which the watch never delivers, so the wait would last until the next
  // write under kRoot or the timeout (a new leader's first pass: 10 s).
  auto r = backend_.txn({}, {{TxnOp::Type::kPut, std::string(kRoot) + "sync", "", 0}}, {});
  if (!r.ok()) return r.status().with_context("reading the store's revision");
  if (!wait_for_revision(r->revision, timeout)) {
    if (stopped_) return unavailable("the store was stopped while waiting for its cache to catch up");
    request_resync("the cache did not catch up with the store's revision");
    return unavailable("the local cache did not catch up with the store's revision " +
                       std::to_string(r->revision) + " in time");
  }
  return ok_status();
}

}  // namespace shoal
