// The Docker Engine API v1.41 field lists of ServiceSpec and the swarm Spec,
// and the line between the fields shoal applies and those it does not yet.
//
// Decoding follows Go's encoding/json, which the Docker daemon uses: a JSON
// key matches a field without regard to case ("replicated" is
// Mode.Replicated), unknown keys are ignored, null leaves a field unset, and
// a value of the wrong JSON type for a known field is an error naming the
// field. Two spellings of one field in one object ("Mounts" and "mounts")
// are an error: Go keeps the later, which a parsed object cannot tell.
//
// Refusal: a field shoal does not apply yet (mounts, secrets, health checks,
// ...) given a non-empty value is refused with a message naming the field,
// instead of being stored and ignored. Empty and default values ({}, [],
// false, 0, "", and per-field defaults such as Isolation "default"), which
// the docker CLI and SDKs send on every request, pass.
//
// Pure functions over JSON; thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "model/objects.h"

namespace shoal {

// A ServiceSpec body with every key in its canonical spelling, unknown keys
// and nulls dropped. kInvalidArgument naming the field (e.g.
// "TaskTemplate.ContainerSpec.Env") for a value of the wrong type.
Result<nlohmann::json> canonical_service_spec(const nlohmann::json& in);
// The same for a swarm Spec (SwarmInitRequest.Spec, POST /swarm/update).
Result<nlohmann::json> canonical_swarm_spec(const nlohmann::json& in);
// The same for a SwarmInitRequest's own fields (ListenAddr, ..., Spec),
// its Spec left as sent (for canonical_swarm_spec).
Result<nlohmann::json> canonical_swarm_init_request(const nlohmann::json& in);
// The same for a NodeSpec (POST /nodes/{id}/update): Name, Labels, Role,
// Availability ({"availability":"drain"} is Availability, as Go decodes it).
Result<nlohmann::json> canonical_node_spec(const nlohmann::json& in);

// On a canonical ServiceSpec: kInvalidArgument "<field> is not supported by
// shoal yet ..." for the first known field shoal does not apply that has a
// non-empty, non-default value.
Status check_supported_service_spec(const nlohmann::json& canonical);
// The same for a canonical swarm Spec.
Status check_supported_swarm_spec(const nlohmann::json& canonical);

// Applies a canonical, supported swarm Spec to `spec`: Name, Labels,
// Orchestration.TaskHistoryRetentionLimit (>= 0), Dispatcher.HeartbeatPeriod
// (>= 1 ms). Fields not given keep their value. kInvalidArgument naming the
// field for a value out of range.
Status apply_swarm_spec(const nlohmann::json& canonical, ClusterSpec& spec);

}  // namespace shoal
