// Errors and JSON responses at the API edge: every error body is
// {"message": "..."} (Docker's shape) with the HTTP status of its Code.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "http/message.h"

namespace shoal::api {

using json = nlohmann::json;

// Docker's wording (moby daemon/cluster/errors.go).
constexpr char kNotSwarmManager[] =
    "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to "
    "swarm and try again.";
constexpr char kAlreadyInSwarm[] =
    "This node is already part of a swarm. Use \"docker swarm leave\" to leave this swarm and join another one.";
constexpr char kNotInSwarm[] = "This node is not part of a swarm";
// The answer (503) when the cluster store (etcd) cannot commit or read: most
// often a lost quorum. error_response(Status) uses it for etcd's kUnavailable
// and kDeadlineExceeded errors.
constexpr char kStoreUnavailable[] =
    "The swarm's cluster store did not answer: the swarm has no leader or has lost quorum (more than half of "
    "the managers are down or cut off). Bring the managers back online; if they are gone for good, run "
    "\"docker swarm init --force-new-cluster\" on a surviving manager to recover a one-manager swarm that keeps "
    "every service, task and worker";

// The status of an error Code: http::status_for (message.h) is the one
// mapping.
http::Response json_response(int status, const json& body);
// A response whose body is JSON text already (a newline is appended, as
// json_response does).
http::Response json_text_response(int status, std::string body);
// The status of st's Code and its message; a store that does not answer
// (etcd unavailable or timed out) is a 503 with kStoreUnavailable first.
http::Response error_response(const Status& st);
http::Response error_response(int status, const std::string& message);
// A response without a body (Docker answers some POST/DELETE so).
http::Response empty_response(int status);

// Parses a request body as JSON (parse_untrusted_json: nesting bounded,
// messages bounded); a parse error is kInvalidArgument naming what was
// expected and where the text went wrong (line, column).
Result<json> parse_json_body(const std::string& body, const std::string& what);
// nlohmann's exception text without its "[json.exception.x.y] " prefix, cut
// to a bounded length.
std::string json_error_text(const std::exception& e);

}  // namespace shoal::api
