// POST /swarm/join: Docker's SwarmJoinRequest checked, then handed to the
// node (SwarmControl::join; the protocol is in src/node/join.h).
#include "manager/api/api.h"
#include "manager/api/errors.h"

namespace shoal::api {

namespace {

// The request's fields, with what shoal does not do refused.
Result<JoinRequest> parse_join_request(const std::string& body) {
  SHOAL_ASSIGN_OR_RETURN(json j, parse_json_body(body, "a SwarmJoinRequest"));
  if (!j.is_object()) return invalid_argument("the request body must be a JSON object (a SwarmJoinRequest)");
  JoinRequest jr;
  try {
    std::string listen = j.value("ListenAddr", "");
    if (!listen.empty()) jr.listen_addr = listen;
    jr.advertise_addr = j.value("AdvertiseAddr", "");
    jr.join_token = j.value("JoinToken", "");
    if (j.contains("RemoteAddrs") && !j["RemoteAddrs"].is_null()) {
      jr.remote_addrs = j["RemoteAddrs"].get<std::vector<std::string>>();
    }
    if (!j.value("DataPathAddr", "").empty()) {
      return invalid_argument("DataPathAddr is not supported by shoal yet: leave it empty (data traffic uses the "
                              "advertise address)");
    }
    std::string availability = j.value("Availability", "");
    if (!availability.empty() && availability != "active") {
      return invalid_argument("Availability \"" + availability.substr(0, 32) +
                              "\" is not supported by shoal yet at swarm join: join with availability active, then "
                              "`node update --availability` on a manager");
    }
  } catch (const std::exception& e) {
    return invalid_argument("invalid SwarmJoinRequest: " + json_error_text(e));
  }
  if (jr.remote_addrs.empty()) return invalid_argument("at least 1 RemoteAddr is required to join");
  for (auto& a : jr.remote_addrs) {
    if (a.empty()) return invalid_argument("a RemoteAddr is empty: give a manager's address, ip[:port]");
  }
  if (jr.join_token.empty()) {
    return invalid_argument("a join token is required (--token): print one with `swarm join-token worker` on a manager");
  }
  return jr;
}

}  // namespace

http::Response Api::swarm_join(const http::Request& req) {
  if (control_.active()) return error_response(unavailable(kAlreadyInSwarm));
  auto jr = parse_join_request(req.body);
  if (!jr.ok()) return error_response(jr.status());
  Status st = control_.join(*jr);
  if (!st.ok()) return error_response(st);
  return empty_response(200);
}

}  // namespace shoal::api
