#include "manager/api/errors.h"

#include "common/json_limits.h"

namespace shoal::api {

http::Response json_response(int status, const json& body) {
  return json_text_response(status, body.dump(-1, ' ', false, json::error_handler_t::replace));
}

http::Response json_text_response(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  r.body += '\n';  // as Go's json.Encoder does
  r.headers["Content-Type"] = "application/json";
  return r;
}

namespace {

// A failed or timed-out call to the cluster store: EtcdGrpcBackend's errors name
// "etcd at <url>" (kUnavailable: etcd refused, no leader; kDeadlineExceeded:
// no answer within the client deadline).
bool store_unavailable(const Status& st) {
  return (st.code() == Code::kUnavailable || st.code() == Code::kDeadlineExceeded) &&
         st.message().find("etcd") != std::string::npos;
}

}  // namespace

// A store that does not answer is a 503 whose message says what that
// usually means (Docker: "The swarm does not have a leader...") and the two
// ways out, with etcd's own error after it.
http::Response error_response(const Status& st) {
  if (store_unavailable(st)) {
    return error_response(503, std::string(kStoreUnavailable) + " (" + st.message() + ")");
  }
  return error_response(http::status_for(st.code()), st.message());
}

// The last line of defence for "error messages never echo unbounded input": a
// message that grew past kMaxMessage (a site quoted client input whole) is cut on
// a UTF-8 boundary. 512 bytes stay under 4 KiB even when every byte is escaped
// as \u00XX. Sites should still bound what they quote (shown_input). A 5xx
// message is shoald's own (an etcd start-up failure with its log tail) and
// gets more room: client input there is already bounded at its site.
http::Response error_response(int status, const std::string& message) {
  const size_t kMaxMessage = status >= 500 ? 2048 : 512;
  if (message.size() <= kMaxMessage) return json_response(status, {{"message", message}});
  size_t cut = kMaxMessage;
  while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
  return json_response(status, {{"message", message.substr(0, cut) + "... (message cut: " +
                                                std::to_string(message.size()) + " bytes)"}});
}

http::Response empty_response(int status) {
  http::Response r;
  r.status = status;
  return r;
}

std::string json_error_text(const std::exception& e) { return json_exception_text(e); }

Result<json> parse_json_body(const std::string& body, const std::string& what) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
    return invalid_argument("the request body is empty: send " + what + " as JSON");
  }
  return parse_untrusted_json(body, "the request body (" + what + ")");
}

}  // namespace shoal::api
