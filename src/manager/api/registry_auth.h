// --with-registry-auth on service create/update: the docker CLI (and
// `shoal service create|update --with-registry-auth`) sends the registry
// credentials as an X-Registry-Auth header (base64url JSON: username,
// password, serveraddress, email, registrytoken, identitytoken, auth).
//
// The API checks the header here, then keeps it sealed with the swarm's data
// key in the service's stored-only field (Service::registry_auth_sealed,
// sealed by SwarmControl::seal_registry_auth): never in any API answer, log
// or error message. As Docker: an update without the header (or with an
// empty one) keeps the credentials stored before; one with the header
// replaces them (a header that carries no credentials, "{}", clears them).
// Pure; thread-safe.
#pragma once

#include <optional>
#include <string>

#include "common/result.h"
#include "http/message.h"

namespace shoal::api {

struct RegistryAuthHeader {
  // The header as sent (what the agents' pulls decode); empty when it
  // carries no credentials ("{}", or only serveraddress/email).
  std::string value;
};

// nullopt: no header (or an empty one): keep what is stored. Otherwise the
// checked header. kInvalidArgument for a header that is not base64 of a JSON
// object of the fields above as strings (or has other fields), or whose
// "auth" alone (config.json's form, kept: the nodes decode it) is not base64
// of user:password; kUnimplemented for an identity token alone, which the
// nodes' pulls cannot use. Messages never echo the header's content.
Result<std::optional<RegistryAuthHeader>> read_registry_auth(const http::Request& req);

// The credentials `header_value` (a RegistryAuthHeader::value) bound to the
// registry of `image` (the service's image), as they are stored: without a
// "serveraddress" (docker-py's auth_config, for one) it is set to that
// registry (re-encoded); one naming another registry is kInvalidArgument
// saying which (the nodes use stored credentials only for the registry they
// name, so they would never be used). An image that does not parse is left
// to the spec's validation (the header kept as is).
Result<std::string> bind_registry_auth(const std::string& header_value, const std::string& image);

// The sealing context of service `service_id`'s credentials: a blob sealed
// for one service cannot be passed off as another's.
std::string registry_auth_context(const std::string& service_id);

}  // namespace shoal::api
