// --with-registry-auth on service create/update: the docker CLI sends the
// registry credentials as an X-Registry-Auth header (base64url JSON:
// username, password, auth, identitytoken, registrytoken, serveraddress).
// Passing them to the nodes is not implemented yet, so a header that carries
// credentials is refused (501) rather than accepted and ignored; one that
// carries none ({} or only serveraddress, what the CLI sends without a
// login) is fine. Pure; thread-safe.
#pragma once

#include "common/result.h"
#include "http/message.h"

namespace shoal::api {

// ok, or kUnimplemented saying what to do instead, or kInvalidArgument for
// a header that is not base64 JSON.
Status refuse_registry_auth(const http::Request& req);

}  // namespace shoal::api
