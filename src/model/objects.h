// The cluster object model: Cluster (swarm), Node, Service, Task, Network.
//
// Field names follow SwarmKit/Docker. Two encodings, kept apart so that an
// internal field can never reach an API client by a forgotten filter:
//   - to_api(): exactly the Docker Engine API v1.41 shapes (PascalCase keys,
//     durations in nanoseconds, times in RFC 3339); it never writes an
//     internal field, as it does not know them.
//   - to_stored()/from_stored(): what etcd keeps and the session protocol
//     carries: the API shape plus internal fields (keys starting "Shoal").
// ServiceSpec, TaskSpec and TaskStatus have no internal fields; their JSON
// (to_json/from_json) is the API's.
//
// A ServiceSpec round-trips: fields left out stay out, and values the client
// gave at their defaults (e.g. "Init": false, "DNSConfig": {}, which the
// docker CLI always sends) come back as given (`given_defaults`). The only
// additions are Mode.Replicated.Replicas (the service's scale, as Docker
// shows it) and a generated Name.
//
// Versions: `version` is the etcd mod_revision of the object's key; it is set
// by the store on read and ignored on write.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace shoal {

using json = nlohmann::json;
using Nanos = std::chrono::nanoseconds;
using Time = std::chrono::system_clock::time_point;
using Labels = std::map<std::string, std::string>;

struct Meta {
  std::string id;
  uint64_t version = 0;  // etcd mod_revision; 0 = not yet stored
  Time created_at{};
  Time updated_at{};
};

// ---- Cluster (Docker: "Swarm") ----
// Not a field of Cluster: secrets are kept apart from objects (shoald seals
// them at rest, see docs/security.md); the API adds them to `GET /swarm`.
struct JoinTokens {
  std::string worker;
  std::string manager;
  // The stored tokens' version when read (shoald: the sealed key's etcd
  // mod revision; 0: none stored). set_join_tokens writes only over that
  // version (kConflict otherwise), so concurrent rotations never lose one.
  int64_t version = 0;
};

struct ClusterSpec {
  std::string name = "default";
  Labels labels;
  int64_t task_history_retention_limit = 5;
  Nanos heartbeat_period = std::chrono::seconds(5);
  Nanos node_cert_expiry = std::chrono::hours(24 * 90);
  uint64_t snapshot_interval = 10000;
  uint64_t election_tick = 10;
  uint64_t heartbeat_tick = 1;
  bool autolock_managers = false;
};

struct Cluster : Meta {
  ClusterSpec spec;
  std::string root_ca_cert;  // PEM; TLSInfo.TrustRoot
  std::vector<std::string> default_addr_pool = {"10.0.0.0/8"};
  uint32_t subnet_size = 24;
  uint32_t data_path_port = 4789;
  // Nodes removed with `node rm`, kept until their certificate would have
  // expired (node id -> that time): their sessions are refused, so a removed
  // node cannot come back with the certificate it still holds. Stored, never
  // shown by the API.
  std::map<std::string, Time> removed_nodes;
};
// True when `node_id` was removed and its certificate is still valid at `now`.
bool node_removed(const Cluster& c, const std::string& node_id, Time now);

// ---- Node ----
enum class NodeRole { kWorker, kManager };
enum class NodeAvailability { kActive, kPause, kDrain };
enum class NodeState { kUnknown, kDown, kReady, kDisconnected };

struct NodeSpec {
  std::string name;
  Labels labels;
  NodeRole role = NodeRole::kWorker;
  NodeAvailability availability = NodeAvailability::kActive;
};

struct NodeDescription {
  std::string hostname;
  std::string os;            // the host's, from uname: "linux"
  std::string architecture;  // the host's, from uname: "x86_64", "aarch64"
  int64_t nano_cpus = 0;
  int64_t memory_bytes = 0;
  std::string engine_version;
};

struct ManagerStatus {
  bool leader = false;
  std::string reachability = "reachable";  // unknown | unreachable | reachable
  std::string addr;                        // "ip:port"
};

struct Node : Meta {
  NodeSpec spec;
  NodeDescription description;
  NodeState state = NodeState::kUnknown;
  std::string status_message;
  std::string addr;  // Status.Addr
  std::optional<ManagerStatus> manager_status;
  // The node's own address on the ingress network ("10.0.0.3/24"), given by
  // the leader's allocator while some service publishes through the routing
  // mesh: the source of the mesh's traffic to tasks on other nodes, so their
  // replies come back to this node. Internal (not in the API).
  std::string ingress_addr;
};

// ---- Service / Task specs ----
struct ContainerSpec {
  std::string image;
  Labels labels;
  std::vector<std::string> command;
  std::vector<std::string> args;
  std::string hostname;
  std::vector<std::string> env;  // "K=V"
  std::string dir;
  std::string user;
  std::vector<std::string> groups;
  bool tty = false;
  bool open_stdin = false;
  bool read_only = false;
  std::string stop_signal;                  // empty = SIGTERM
  std::optional<Nanos> stop_grace_period;   // empty = 10s default
  bool init = false;
  std::string isolation = "default";
  // Privileges.Seccomp (API 1.44 names): mode "" (not given), "default",
  // "unconfined" or "custom"; profile as the client sent it (JSON text or
  // base64 of it), custom only. And Privileges.NoNewPrivileges.
  std::string seccomp_mode;
  std::string seccomp_profile;
  bool no_new_privileges = false;
};

struct RestartPolicy {
  std::string condition = "any";  // none | on-failure | any
  std::optional<Nanos> delay;     // empty = 5s default
  uint64_t max_attempts = 0;      // 0 = unlimited
  Nanos window{0};
};

struct ResourceLimits {
  int64_t nano_cpus = 0;
  int64_t memory_bytes = 0;
  int64_t pids = 0;
};

struct Resources {
  ResourceLimits limits;
  ResourceLimits reservations;
};

// One entry of Placement.Platforms: an empty field matches any node.
struct PlacementPlatform {
  std::string architecture;  // "amd64", "arm64", ... (x86_64, aarch64 accepted)
  std::string os;            // "linux", ...
  bool operator==(const PlacementPlatform&) const = default;
};

struct Placement {
  std::vector<std::string> constraints;
  uint64_t max_replicas = 0;  // 0 = unlimited
  // Empty: any platform. Else the task runs only on a node matching one entry.
  std::vector<PlacementPlatform> platforms;
};

struct NetworkAttachmentConfig {
  std::string target;
  std::vector<std::string> aliases;
};

struct TaskSpec {
  ContainerSpec container_spec;
  Resources resources;
  RestartPolicy restart_policy;
  Placement placement;
  std::vector<NetworkAttachmentConfig> networks;
  uint64_t force_update = 0;
  std::string runtime = "container";
};

struct UpdateConfig {
  uint64_t parallelism = 1;
  Nanos delay{0};
  std::string failure_action = "pause";  // pause | continue | rollback
  Nanos monitor = std::chrono::seconds(5);
  double max_failure_ratio = 0;
  std::string order = "stop-first";  // stop-first | start-first
};

struct PortConfig {
  bool operator==(const PortConfig&) const = default;
  std::string name;
  std::string protocol = "tcp";
  uint32_t target_port = 0;
  uint32_t published_port = 0;
  std::string publish_mode = "ingress";  // ingress | host
};

struct EndpointSpec {
  std::string mode = "vip";  // vip | dnsrr
  std::vector<PortConfig> ports;
};

enum class ServiceModeKind { kReplicated, kGlobal };

struct ServiceSpec {
  std::string name;
  Labels labels;
  TaskSpec task_template;
  ServiceModeKind mode = ServiceModeKind::kReplicated;
  uint64_t replicas = 1;  // replicated only
  std::optional<UpdateConfig> update_config;
  std::optional<UpdateConfig> rollback_config;
  EndpointSpec endpoint_spec;
  // The fields the client gave with their default value (or empty: "Init":
  // false, "DNSConfig": {}), as a JSON object in the spec's shape; merged back
  // into the JSON so the spec reads back as it was sent. Holds only defaults,
  // so it never changes what is applied. Set by from_json.
  json given_defaults = json::object();
};

// Docker's UpdateStatus: state is updating | paused | completed |
// rollback_started | rollback_paused | rollback_completed.
struct UpdateStatus {
  std::string state;
  std::optional<Time> started_at;
  std::optional<Time> completed_at;
  std::string message;
};

// A service's address on one network (endpoint mode vip): connections to it
// are balanced over the service's running tasks on that network.
struct VirtualIp {
  std::string network_id;
  std::string addr;  // "10.0.1.2/24"
  bool operator==(const VirtualIp&) const = default;
};

struct Service : Meta {
  ServiceSpec spec;
  // Endpoint.VirtualIPs, written by the leader's allocator (one per attached
  // network, and the ingress network when a port is published in ingress
  // mode); empty until allocated and in dnsrr mode.
  std::vector<VirtualIp> virtual_ips;
  // Endpoint.Ports: the spec's ports with their published numbers, those the
  // spec leaves at 0 in ingress mode assigned by the manager (30000-32767).
  // An ingress port holds /shoal-ports/<protocol>/<port> in the store while
  // the service has it: published ports are unique in the swarm.
  std::vector<PortConfig> endpoint_ports;
  std::optional<ServiceSpec> previous_spec;
  std::optional<UpdateStatus> update_status;
  // Internal: bumped each time the spec changes; tasks record the spec
  // version they were made from, so the updater knows which are out of date.
  uint64_t spec_version = 1;
  // Internal, stored only ("ShoalRegistryAuth", base64): the credentials of
  // --with-registry-auth (an X-Registry-Auth header value) sealed with the
  // swarm's data key (manager/ca/sealed.h, context "registry-auth:<id>");
  // empty: none. Never in to_api(). The dispatcher unseals them into the
  // assignments of the nodes that run the service's tasks.
  std::string registry_auth_sealed;
};

// ---- Network (overlay) ----
// One IPAM pool entry: as the client asked for it (NetworkSpec::ipam) or as
// allocated (Network::ipam: subnet and gateway always set).
struct IpamConfig {
  std::string subnet;    // CIDR, "10.0.1.0/24"
  std::string ip_range;  // CIDR inside subnet: task addresses come from it; empty = the whole subnet
  std::string gateway;   // empty in a request = the subnet's first address
  bool operator==(const IpamConfig&) const = default;
};

struct NetworkSpec {
  std::string name;
  Labels labels;
  std::string driver = "overlay";
  std::map<std::string, std::string> driver_opts;  // Options
  std::vector<IpamConfig> ipam;                    // IPAM.Config as given (empty: default pool)
  bool internal = false;
  bool attachable = false;
  bool ingress = false;  // the routing mesh's network (one per swarm)
};

struct Network : Meta {
  NetworkSpec spec;
  uint32_t vni = 0;               // VXLAN id, from 4096 (Docker's range)
  std::vector<IpamConfig> ipam;   // as allocated: what IPAM.Config shows
};

// The VXLAN id option Docker shows in a swarm network's Options.
inline constexpr const char* kVxlanIdOption = "com.docker.network.driver.overlay.vxlanid_list";

// ---- Task ----
// Ordered: a task's observed state only moves forward (SwarmKit's TaskState).
enum class TaskState {
  kNew = 0,
  kPending = 64,
  kAssigned = 192,
  kAccepted = 256,
  kPreparing = 320,
  kReady = 384,
  kStarting = 448,
  kRunning = 512,
  kComplete = 576,
  kShutdown = 640,
  kFailed = 704,
  kRejected = 768,
  kRemove = 800,
  kOrphaned = 832,
};

const char* task_state_name(TaskState s);  // "new", "pending", ... (Docker's lowercase)
bool parse_task_state(const std::string& s, TaskState* out);
// True for complete, shutdown, failed, rejected, remove, orphaned.
inline bool is_terminal(TaskState s) { return s >= TaskState::kComplete; }

struct ContainerStatus {
  std::string container_id;
  int pid = 0;
  int exit_code = 0;
};

struct TaskStatus {
  Time timestamp{};
  TaskState state = TaskState::kNew;
  std::string message;  // e.g. "created", "started", "running"
  std::string err;      // non-empty on failure/rejection
  std::optional<ContainerStatus> container_status;
  // PortStatus.Ports: the host-mode ports the node maps to this task, set
  // by the agent once they answer.
  std::vector<PortConfig> port_status;
};

// Restart attempts (RestartPolicy.MaxAttempts) of a slot: `count` restarts,
// the newest of them at `at`. Internal (stored, never in the API).
struct RestartAttempt {
  Time at{};
  uint64_t count = 1;
};

// One network a task is attached to, with its address (NetworksAttachments).
struct NetworkAttachment {
  std::string network_id;
  std::string network_name;          // fixed for a network's life; shown in the API and used by agents
  std::vector<std::string> addresses;  // "10.0.1.5/24"; empty until allocated
  std::vector<std::string> aliases;  // the service's aliases on that network
  bool operator==(const NetworkAttachment&) const = default;
};

struct Task : Meta {
  Labels labels;
  // Written by the allocator when the task leaves new: one entry per network
  // of spec.networks (and ingress for a service publishing ingress ports).
  // The address of a task is in use until its observed state is terminal.
  std::vector<NetworkAttachment> networks;
  TaskSpec spec;
  std::string service_id;
  std::string service_name;  // internal, lets agents name containers without the store
  uint64_t slot = 0;         // replicated services; 0 for global
  std::string node_id;       // empty until scheduled
  TaskStatus status;
  TaskState desired_state = TaskState::kRunning;
  uint64_t spec_version = 0;  // Service::spec_version the task was made from
  // Internal: the service's host-mode ports (Service::endpoint_ports with
  // PublishMode host) when the task was made: its node maps each published
  // port to the task (the scheduler keeps two such tasks off one node).
  std::vector<PortConfig> host_ports;
  // Internal: the restarts of this slot, for this spec version, that led to
  // this task, oldest first (the orchestrator writes it; replicated.h).
  std::vector<RestartAttempt> restarts;
  // Neither stored nor in to_api(): the service's registry credentials (an
  // X-Registry-Auth header value) that came with this task's assignment
  // (session::AssignmentSet); held in the agent's memory only, for the
  // image pull. Empty: pull anonymously.
  std::string registry_auth;
};

// ---- JSON of the specs (no internal fields: the API and stored forms are
// one). from_json expects canonical key spelling (canonical_service_spec()
// in model/spec_schema.h makes it so for client input).
void to_json(json& j, const ServiceSpec& v);
void from_json(const json& j, ServiceSpec& v);
void to_json(json& j, const TaskSpec& v);
void from_json(const json& j, TaskSpec& v);
void to_json(json& j, const TaskStatus& v);  // a Task's "Status"
void from_json(const json& j, TaskStatus& v);

// ---- API form: what GET /swarm, /nodes, /services, /tasks serve.
json to_api(const Cluster& v);
json to_api(const Node& v);
json to_api(const Service& v);
json to_api(const Task& v);
json to_api(const Network& v);

// ---- Stored form (etcd values, session messages): the API form plus the
// internal fields. from_stored throws nlohmann::json::exception on a value
// of the wrong type (the store reports it as a corrupt object).
json to_stored(const Cluster& v);
json to_stored(const Node& v);
json to_stored(const Service& v);
json to_stored(const Task& v);
json to_stored(const Network& v);
void from_stored(const json& j, Cluster& v);
void from_stored(const json& j, Node& v);
void from_stored(const json& j, Service& v);
void from_stored(const json& j, Task& v);
void from_stored(const json& j, Network& v);
template <typename T>
T from_stored(const json& j) {
  T v;
  from_stored(j, v);
  return v;
}

const char* node_role_name(NodeRole r);            // "worker" | "manager"
const char* node_availability_name(NodeAvailability a);  // "active" | "pause" | "drain"
const char* node_state_name(NodeState s);          // "unknown" | "down" | "ready" | "disconnected"

}  // namespace shoal
