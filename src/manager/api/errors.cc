#include "manager/api/errors.h"

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

http::Response error_response(const Status& st) { return error_response(http::status_for(st.code()), st.message()); }

http::Response error_response(int status, const std::string& message) {
  return json_response(status, {{"message", message}});
}

http::Response empty_response(int status) {
  http::Response r;
  r.status = status;
  return r;
}

std::string json_error_text(const std::exception& e) {
  std::string m = e.what();
  if (m.rfind("[json.exception.", 0) == 0) {
    auto end = m.find("] ");
    if (end != std::string::npos) m = m.substr(end + 2);
  }
  return m;
}

Result<json> parse_json_body(const std::string& body, const std::string& what) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
    return invalid_argument("the request body is empty: send " + what + " as JSON");
  }
  try {
    return json::parse(body);
  } catch (const json::exception& e) {
    return invalid_argument("invalid JSON in the request body (" + what + "): " + json_error_text(e));
  }
}

}  // namespace shoal::api
