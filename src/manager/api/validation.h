// Validation of service specs as they arrive (from the raw JSON, so that
// values Go would refuse to decode — negative replicas, wrong types — are
// caught with a clear message before conversion), and Docker's defaults.
#pragma once

#include <functional>
#include <string>

#include "common/result.h"
#include "model/objects.h"

namespace shoal::api {

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
