// libFuzzer target: a DNS query from a task, as the embedded resolver gets
// it on 127.0.0.11 (any bytes a container sends), answered against a small
// scope over UDP and TCP, and the SERVFAIL the forwarder would build from it.
// Every outcome is fine (drop, reply, forward); a crash, a leak or a
// sanitizer report is a bug. A reply must be a response with the query's id.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "agent/network/dns/message.h"
#include "agent/network/dns/scope.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace shoal::netdns;
  static const NameTable kScope = {{"bar", {"10.0.1.2"}},
                                   {"tasks.bar", {"10.0.1.3", "10.0.1.4", "10.0.1.5"}},
                                   {"empty", {}}};
  static RoundRobin rr;
  std::span<const uint8_t> query(data, size);
  for (bool tcp : {false, true}) {
    Decision d = answer_query(query, &kScope, rr, tcp);
    if (d.verdict == Verdict::kReply) {
      if (!is_response(d.reply) || message_id(d.reply) != message_id(query)) std::abort();
    }
  }
  auto sf = servfail_for(query);
  if (!sf.empty() && !is_response(sf)) std::abort();
  return 0;
}
