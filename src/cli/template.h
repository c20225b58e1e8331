// The subset of Go text/template that docker's --format uses, evaluated over
// nlohmann::json values: literal text, {{.Field}}, {{.Field.Sub}}, {{.}},
// string/number literals ({{"\t"}}), pipelines ({{.Name | upper}}),
// functions json, upper, lower, title, join, split, truncate, pad, println,
// and {{if}}/{{else}}/{{end}}. Trim markers {{- -}} are honoured.
// Values print like Go's fmt %v: arrays as [a b], objects as map[k:v].
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace shoal::cli {

class Template {
 public:
  struct Node;
  static Result<Template> parse(const std::string& text);
  // strict: a missing field is an error (docker's typed contexts); otherwise
  // it prints "<no value>" (docker's raw-JSON inspect fallback).
  // header: functions return their argument unchanged (docker's header pass).
  Result<std::string> execute(const nlohmann::json& data, bool strict = false, bool header = false) const;

 private:
  std::shared_ptr<std::vector<Node>> nodes_;
};

// Renders rows like docker's formatter: format "" uses default_format;
// "table"/"table TMPL" prints a header row (from headers: field -> title) and
// aligns with tabwrite; "json" is {{json .}}; anything else is a template
// executed once per row, each followed by a newline.
Result<std::string> format_rows(const std::string& format, const std::string& default_format,
                                const std::vector<nlohmann::json>& rows, const nlohmann::json& headers);

// Go fmt %v of a JSON value.
std::string go_print(const nlohmann::json& v);

}  // namespace shoal::cli
