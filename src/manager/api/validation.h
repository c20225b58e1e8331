// Validation of service specs as they arrive (raw JSON, so that values Go
// would reject — negative replicas, wrong types — are caught before they are
// converted), and Docker's defaults.
#pragma once

#include "common/result.h"
#include "store/objects.h"

namespace shoal::api {

// Parses and validates a ServiceSpec body. Errors are kInvalidArgument with a
// message naming the field and what to use instead.
Result<ServiceSpec> parse_service_spec(const std::string& body);
Status validate_service_spec(const ServiceSpec& spec);
// Parses a "filters" query parameter: {"key":{"value":true}} or {"key":["value"]}.
Result<std::map<std::string, std::vector<std::string>>> parse_filters(const std::string& text);

}  // namespace shoal::api
