// libFuzzer target: the decoding of every stored object kind and session
// message from JSON, as the store (from etcd) and the dispatcher and agent
// (from a session) do it. The first byte picks the kind, the rest is the
// JSON text. Decoding may fail only with an exception derived from
// std::exception (the store and the sessions turn those into errors); a crash
// or sanitizer report is a bug. A decoded object must encode again.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "model/objects.h"
#include "model/session_messages.h"

namespace {

using nlohmann::json;

template <typename T>
void stored(const json& j) {
  T v = shoal::from_stored<T>(j);
  (void)shoal::to_stored(v).dump();
}

template <typename T>
void message(const json& j) {
  T v = j.get<T>();
  (void)json(v).dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  json j;
  try {
    j = json::parse(data + 1, data + size);
  } catch (const json::exception&) {
    return 0;
  }
  try {
    switch (data[0] % 11) {
      case 0: stored<shoal::Cluster>(j); break;
      case 1: stored<shoal::Node>(j); break;
      case 2: stored<shoal::Service>(j); break;
      case 3: stored<shoal::Task>(j); break;
      case 4: (void)json(j.get<shoal::ServiceSpec>()).dump(); break;
      case 5: message<shoal::session::RegisterRequest>(j); break;
      case 6: message<shoal::session::RegisterResponse>(j); break;
      case 7: message<shoal::session::AssignmentSet>(j); break;
      case 8: message<shoal::session::StatusBatch>(j); break;
      case 9: stored<shoal::Network>(j); break;
      case 10: message<shoal::session::NetworkView>(j); break;
    }
  } catch (const std::exception&) {
  }
  return 0;
}
