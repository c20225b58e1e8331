// Validation of service specs as they arrive (from the raw JSON, so that
// values Go would refuse to decode — negative replicas, wrong types — are
// caught with a clear message before conversion), and Docker's defaults.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "model/objects.h"

namespace shoal::api {

// Most replicas one service may ask for. Docker sets no limit; shoal caps it
// so that one request cannot make the orchestrator create millions of tasks.
// Also the cap of UpdateConfig.Parallelism and Placement.MaxReplicas.
constexpr uint64_t kMaxReplicas = 10000;
// Smallest CPU limit (0.01 CPU, as Docker's --cpus): below it the CFS quota
// (NanoCPUs / 10,000 µs per 100 ms period) would be 0, which means no limit.
constexpr int64_t kMinNanoCpus = 10000000;
// Longest duration a spec may give (10 years, in nanoseconds), so that time
// arithmetic (now + delay) cannot overflow.
constexpr uint64_t kMaxDurationNanos = 10ULL * 366 * 24 * 3600 * 1000000000ULL;
// Largest uid or gid in ContainerSpec.User (runc's limit, 2^31-1).
constexpr uint64_t kMaxId = 2147483647;

// The checks the API applies to numbers and names; each error is
// kInvalidArgument naming `where` (the field) and quoting at most 64
// characters of the input. All run in linear time.
//
// A duration field of `obj` (absent or null passes): a non-negative integer
// of nanoseconds up to kMaxDurationNanos.
Status check_duration_field(const nlohmann::json& obj, const char* key, const std::string& where);
// "SIGTERM", "term", "15", "SIGRTMIN+3": a signal Linux has; empty passes.
Status validate_stop_signal(const std::string& sig, const std::string& where);
// The number of a Linux signal name or number as above; 0 when unknown.
int signal_number(const std::string& text);
// ContainerSpec.User: USER, UID, USER:GROUP or UID:GID; empty passes.
Status validate_user(const std::string& user, const std::string& where);
// Docker's DNS label rule, ^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$, without a
// regex (libstdc++'s backtracks exponentially).
bool is_dns_label(std::string_view name);

// Parses and checks a ServiceSpec body (everything but the name, which may be
// empty on create). Errors are kInvalidArgument naming the field and what to
// use instead. Unknown fields are ignored, as Docker does.
Result<ServiceSpec> parse_service_spec(const std::string& body);
// The checks on a converted spec, including the name (Docker's DNS label
// rule: ^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$, at most 63 characters).
Status validate_service_spec(const ServiceSpec& spec);
Status validate_service_name(const std::string& name);
// A random "adjective_name" like Docker's names generator, not taken
// according to `taken`.
std::string generate_service_name(const std::function<bool(const std::string&)>& taken);
// Defaults stored on create when the client sent none (what `docker service
// inspect` shows against Docker 20.10): UpdateConfig and RollbackConfig.
void apply_create_defaults(ServiceSpec& spec);
// GET /services/{id}?insertDefaults=true: every default made explicit.
void insert_defaults(ServiceSpec& spec);

}  // namespace shoal::api
