// Store: the typed, in-memory view of the cluster state kept in a Backend
// (etcd), and the only way to change it.
//
// Reads come from a cache loaded by one range read and kept current by a watch
// from revision+1 (re-listed on a compaction error). Writes are Batches of
// per-object operations committed as backend transactions of at most
// max_txn_ops operations each; each transaction is atomic, a batch as a whole
// is not (unless it has requirements: Batch::require). Every update carries
// a compare on the object's mod_revision (optimistic concurrency);
// conflicting updates given as mutation functions are retried on fresh
// state, so concurrent writers never lose each other's changes. commit()
// returns once the cache has caught up with the write (read-your-writes for
// the caller).
//
// Keys: /shoal/<kind>/<id> -> object JSON (objects.h). Service names are
// reserved atomically in /shoal/names/services/<name> -> id. A replicated
// task's slot is claimed in /shoal-slots/<service>/<slot> -> task id (a
// global task's node in /shoal-slots/<service>/node-<node id>; outside the
// watched /shoal/ prefix, as the cache never needs them), in the
// same transaction as the task's creation (compare: absent), and released in
// the transaction that moves the task's desired state past running or
// deletes it: two live tasks in one slot cannot both be created.
//
// Faults (backend.h): a transaction whose outcome is unknown (timeout,
// dropped connection) is never resent blindly: its keys are re-read first;
// if the re-read shows it applied, it counts as done, else it is rendered
// again on the fresh values and resent with a longer deadline
// (Backend::resend_txn). It may still be applied late (etcd commits it after
// the deadline): every later re-read of the write asks whether any attempt
// of unknown outcome landed, so a late one is our success, never reported
// as a conflict with ourselves (409 name in use by our own service). After a watch gap (error,
// compaction, etcd restart) the store re-lists and announces to listeners
// every difference it finds: creates, updates and deletes.
// Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "store/backend.h"
#include "model/objects.h"

namespace shoal {

enum class Kind { kCluster, kNode, kService, kTask, kNetwork };
const char* kind_name(Kind k);  // "clusters", "nodes", "services", "tasks", "networks"
std::string object_key(Kind k, const std::string& id);

// A change seen by the watch, delivered to subscribers after the cache applied it.
struct StoreEvent {
  enum class Type { kCreate, kUpdate, kDelete };
  Type type = Type::kUpdate;
  Kind kind = Kind::kTask;
  std::string id;
  int64_t revision = 0;
  // The object after the change (for kDelete: as it was before).
  std::variant<std::monostate, Cluster, Node, Service, Task, Network> object;
};

// Leader fencing: when set on a batch, every transaction of the batch also
// compares the leader key's create_revision, so a deposed leader's writes fail
// (kUnavailable, "not the leader any more").
struct Fence {
  std::string key;
  int64_t create_revision = 0;
};

// The read-only state of the cache, handed to view() callbacks under a shared
// lock. Do not keep references beyond the callback.
struct StoreSnapshot {
  std::optional<Cluster> cluster;
  std::unordered_map<std::string, Node> nodes;
  std::unordered_map<std::string, Service> services;
  std::unordered_map<std::string, Task> tasks;
  std::unordered_map<std::string, Network> networks;
  std::unordered_map<std::string, std::set<std::string>> tasks_by_service;
  std::unordered_map<std::string, std::set<std::string>> tasks_by_node;
  // service -> tasks whose observed state is running (on any node)
  std::unordered_map<std::string, size_t> running_by_service;
  int64_t revision = 0;
};

class Batch {
 public:
  // Mutation of one object: edit it in place and return true to write it,
  // false to leave it unchanged. Called again on fresh state after a conflict.
  template <typename T>
  using Mutator = std::function<bool(T&)>;

  // Creates fail with kAlreadyExists if the id (or a service's name) is taken.
  void create(const Cluster& v);
  void create(const Node& v);
  void create(const Service& v);
  void create(const Task& v);
  // A network reserves its name (/shoal/names/networks/<name>), its VNI
  // (/shoal-vnis/<vni>) and the address space of its subnets in /24 blocks
  // (/shoal-subnets/<a.b.c.0>): two networks can never share a name, a VNI
  // or an address, whichever manager creates them. kAlreadyExists when taken.
  void create(const Network& v);
  // Updates `id` through `fn`; a missing object is skipped (not an error).
  void update_cluster(const std::string& id, Mutator<Cluster> fn);
  void update_node(const std::string& id, Mutator<Node> fn);
  void update_service(const std::string& id, Mutator<Service> fn);
  void update_task(const std::string& id, Mutator<Task> fn);
  void update_network(const std::string& id, Mutator<Network> fn);
  // Writes `v` only if its version still matches (kConflict otherwise): for
  // API updates where the client's version must win or fail.
  void put_if_version(const Service& v);
  void put_if_version(const Node& v);
  void put_if_version(const Cluster& v);
  // Deletes; a missing object is skipped. Removing a service frees its name,
  // removing a network its name, VNI and subnets.
  void remove(Kind kind, const std::string& id);
  // remove() only while the object is still at `if_version` (the version
  // the caller checked something on): kConflict when it changed since,
  // kNotFound when it is gone; nothing is deleted then.
  void remove(Kind kind, const std::string& id, uint64_t if_version);

  // Ties the batch to the object `id`: its write commits only while the
  // object exists, in one transaction that also compares the object's
  // mod_revision (as the cache has it; after a conflict, as read afresh) and
  // rewrites the object unchanged, so its revision moves. So a writer that
  // decided on an older version of it and compares that version (remove
  // with if_version, put_if_version) fails whichever of the two commits
  // second, and looks again: e.g. a service create that requires its
  // networks and a `network rm` that removes the network at the version it
  // found unused (api/network_routes.cc). kNotFound when the object is gone;
  // a conflict with another writer of the object is retried on fresh state.
  // A batch with requirements is committed as one transaction (its ops in
  // one, not in the two phases and chunks of commit(); kInvalidArgument if
  // it does not fit one), so it must not also write the required object or
  // release and claim one task slot. A required object's rewrite shows as an
  // update of it to listeners.
  void require(Kind kind, const std::string& id);

  size_t size() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }

  struct Op;  // internal
 private:
  friend class Store;
  std::vector<std::shared_ptr<Op>> ops_;
};

class Store {
 public:
  explicit Store(Backend& backend);
  ~Store();

  // Loads everything and starts the watch. Call once.
  Status start();
  // Ends the watch and the re-list thread, and wakes every thread blocked in
  // wait_for_revision() / commit() / sync() (they return false / kUnavailable).
  void stop();

  // ---- reads (cache) ----
  std::optional<Cluster> cluster() const;
  std::optional<Node> node(const std::string& id) const;
  std::vector<Node> nodes() const;
  std::optional<Service> service(const std::string& id) const;
  // Resolves a service by full id, name, or unique id prefix (Docker's rules).
  Result<Service> find_service(const std::string& id_or_name) const;
  std::vector<Service> services() const;
  std::optional<Task> task(const std::string& id) const;
  std::vector<Task> tasks() const;
  std::vector<Task> tasks_of_service(const std::string& service_id) const;
  std::vector<Task> tasks_of_node(const std::string& node_id) const;
  std::vector<Network> networks() const;
  // Resolves a network by full id, name, or unique id prefix (Docker's rules:
  // an exact id first, then an exact name, then a unique id prefix).
  Result<Network> find_network(const std::string& id_or_name) const;
  // Runs fn under the cache's shared lock: cheap aggregate reads over many objects.
  void view(const std::function<void(const StoreSnapshot&)>& fn) const;
  int64_t revision() const;

  // ---- writes ----
  // Commits the batch. Errors: kAlreadyExists (create), kConflict
  // (put_if_version), kUnavailable (backend down, or fence lost). A batch
  // larger than one transaction is several; when they touch distinct objects
  // they are sent concurrently. On error, the other transactions of the
  // batch may have committed. A batch with requirements (Batch::require) is
  // one transaction: all of it commits or none.
  Status commit(Batch& batch, const std::optional<Fence>& fence = std::nullopt);
  // Waits until the cache has applied `revision`; false on timeout, or at
  // once when stop() is called (waiters are woken, not left to time out).
  bool wait_for_revision(int64_t revision, std::chrono::milliseconds timeout) const;
  // Reads the backend's current revision and waits until the cache (and the
  // listeners) caught up with it: after a failed or unknown write, a caller
  // that plans from the cache calls this first, so it sees whatever did
  // commit. kUnavailable if the backend cannot be read or the cache lags.
  Status sync(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // ---- subscriptions ----
  // fn is called on the watch thread for every change, after the cache
  // applied it; keep it short (queue work elsewhere). Events of one backend
  // batch are delivered before the next batch. After a watch gap the
  // differences the re-list found are delivered as events (revision: the
  // re-list's), kDelete ones with the object as the cache last had it.
  using Listener = std::function<void(const StoreEvent&)>;
  uint64_t subscribe(Listener fn);
  void unsubscribe(uint64_t id);

  Backend& backend() { return backend_; }

 private:
  // Loads everything; with announce, the differences to the cache are
  // applied one by one and delivered to listeners (a re-list after a gap).
  Status load(bool announce);
  void start_watch(int64_t from_revision);
  void resync_loop();
  void request_resync(const char* why);
  void on_events(const std::vector<WatchEvent>& events);
  static std::optional<StoreEvent> decode_event(const KeyValue& kv, bool deleted);
  bool apply_locked(StoreEvent& ev);
  Status commit_phase(std::vector<std::shared_ptr<Batch::Op>>& ops, const std::optional<Fence>& fence,
                      int64_t* revision);
  Status commit_chunk(std::vector<std::shared_ptr<Batch::Op>>& ops,
                      const std::optional<Fence>& fence, int64_t* revision);
  Status render_chunk(std::vector<std::shared_ptr<Batch::Op>>& ops, const std::optional<Fence>& fence,
                      bool use_fresh, std::unordered_map<std::string, std::optional<KeyValue>>& fresh,
                      std::vector<Compare>* cmps, std::vector<TxnOp>* txn_ops);
  Status reread(const std::vector<std::shared_ptr<Batch::Op>>& ops, const std::vector<Compare>& cmps,
                std::unordered_map<std::string, std::optional<KeyValue>>* fresh, int64_t* revision);
  Status check_reservations(const std::vector<Compare>& cmps,
                            std::unordered_map<std::string, std::optional<KeyValue>>& fresh);

  Backend& backend_;
  mutable std::shared_mutex mu_;
  StoreSnapshot snap_;
  mutable std::mutex rev_mu_;
  mutable std::condition_variable rev_cv_;
  int64_t notified_revision_ = 0;  // guarded by rev_mu_
  std::mutex listeners_mu_;
  std::map<uint64_t, Listener> listeners_;
  uint64_t next_listener_ = 1;
  std::unique_ptr<WatchHandle> watch_;
  std::mutex watch_mu_;
  std::atomic<bool> stopped_{false};
  std::mutex resync_mu_;
  std::condition_variable resync_cv_;
  bool resync_needed_ = false;  // guarded by resync_mu_
  std::thread resync_thread_;   // re-lists after a watch gap
};

}  // namespace shoal
