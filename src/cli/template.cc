#include "cli/template.h"

#include <cctype>
#include <optional>

#include "cli/table.h"

namespace shoal::cli {

using nlohmann::json;

namespace {

struct Arg {
  enum Kind { kField, kDot, kString, kNumber, kBool, kIdent } kind = kDot;
  std::vector<std::string> path;  // kField
  std::string text;               // kString/kNumber/kIdent
  bool b = false;
};
using Command = std::vector<Arg>;
using Pipeline = std::vector<Command>;

}  // namespace

struct Template::Node {
  enum Kind { kText, kAction, kIf } kind = kText;
  std::string text;
  Pipeline pipe;
  std::vector<Node> then_nodes, else_nodes;
  int col = 0;
  std::string source;  // action text for error messages
};

namespace {

Status parse_pipeline(const std::string& s, Pipeline* out) {
  Command cmd;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    if (c == '|') {
      if (cmd.empty()) return invalid_argument("missing command before '|'");
      out->push_back(std::move(cmd));
      cmd.clear();
      ++i;
      continue;
    }
    Arg a;
    if (c == '"') {
      a.kind = Arg::kString;
      ++i;
      while (i < s.size() && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < s.size()) {
          char e = s[++i];
          a.text += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
        } else {
          a.text += s[i];
        }
        ++i;
      }
      if (i >= s.size()) return invalid_argument("unterminated quoted string");
      ++i;
    } else if (c == '`') {
      a.kind = Arg::kString;
      size_t e = s.find('`', i + 1);
      if (e == std::string::npos) return invalid_argument("unterminated raw quoted string");
      a.text = s.substr(i + 1, e - i - 1);
      i = e + 1;
    } else if (c == '.') {
      size_t j = i + 1;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_' || s[j] == '.')) ++j;
      std::string p = s.substr(i, j - i);
      i = j;
      if (p == ".") {
        a.kind = Arg::kDot;
      } else {
        a.kind = Arg::kField;
        size_t k = 1;
        while (k <= p.size()) {
          size_t e = p.find('.', k);
          if (e == std::string::npos) e = p.size();
          if (e == k) return invalid_argument("bad field " + p);
          a.path.push_back(p.substr(k, e - k));
          k = e + 1;
        }
      }
    } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '-') {
      a.kind = Arg::kNumber;
      size_t j = i + 1;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
      a.text = s.substr(i, j - i);
      i = j;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      a.text = s.substr(i, j - i);
      i = j;
      if (a.text == "true" || a.text == "false") {
        a.kind = Arg::kBool;
        a.b = a.text == "true";
      } else {
        a.kind = Arg::kIdent;
      }
    } else {
      return invalid_argument(std::string("unexpected \"") + c + "\" in command");
    }
    cmd.push_back(std::move(a));
  }
  if (cmd.empty()) return invalid_argument("missing value for command");
  out->push_back(std::move(cmd));
  return ok_status();
}

struct RawAction {
  bool is_text;
  std::string text;
  int col;
};

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

Status build(const std::vector<RawAction>& raw, size_t* i, std::vector<Template::Node>* out,
             std::string* terminator) {
  while (*i < raw.size()) {
    const RawAction& r = raw[(*i)++];
    Template::Node n;
    n.col = r.col;
    if (r.is_text) {
      n.kind = Template::Node::kText;
      n.text = r.text;
      out->push_back(std::move(n));
      continue;
    }
    std::string t = trim(r.text);
    n.source = t;
    if (t == "end" || t == "else") {
      *terminator = t;
      return ok_status();
    }
    if (t.rfind("if ", 0) == 0 || t.rfind("if\t", 0) == 0) {
      n.kind = Template::Node::kIf;
      SHOAL_RETURN_IF_ERROR(parse_pipeline(t.substr(3), &n.pipe));
      std::string term;
      SHOAL_RETURN_IF_ERROR(build(raw, i, &n.then_nodes, &term));
      if (term == "else") {
        SHOAL_RETURN_IF_ERROR(build(raw, i, &n.else_nodes, &term));
      }
      if (term != "end") return invalid_argument("unexpected EOF");
      out->push_back(std::move(n));
      continue;
    }
    if (t.rfind("range", 0) == 0 || t.rfind("with", 0) == 0 || t.rfind("define", 0) == 0)
      return invalid_argument("\"" + t.substr(0, t.find(' ')) + "\" is not supported by shoal");
    n.kind = Template::Node::kAction;
    Status st = parse_pipeline(t, &n.pipe);
    if (!st.ok()) return st;
    out->push_back(std::move(n));
  }
  return ok_status();
}

std::string go_float(double d) {
  char buf[64];
  snprintf(buf, sizeof buf, "%g", d);
  return buf;
}

std::string title_case(std::string s) {
  bool start = true;
  for (auto& c : s) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '-' || c == '_') {
      start = true;
    } else if (start) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      start = false;
    }
  }
  return s;
}

bool truthy(const std::optional<json>& v) {
  if (!v || v->is_null()) return false;
  if (v->is_boolean()) return v->get<bool>();
  if (v->is_string()) return !v->get<std::string>().empty();
  if (v->is_number()) return v->get<double>() != 0;
  return !v->empty();
}

struct Exec {
  const json& dot;
  bool strict;
  bool header;

  Result<std::optional<json>> eval_arg(const Arg& a, const Template::Node& n) {
    switch (a.kind) {
      case Arg::kDot:
        return std::optional<json>(dot);
      case Arg::kString:
        return std::optional<json>(json(a.text));
      case Arg::kNumber:
        if (a.text.find('.') != std::string::npos) return std::optional<json>(json(std::stod(a.text)));
        return std::optional<json>(json(std::stoll(a.text)));
      case Arg::kBool:
        return std::optional<json>(json(a.b));
      case Arg::kField: {
        const json* cur = &dot;
        for (const auto& p : a.path) {
          if (!cur->is_object() || !cur->contains(p)) {
            if (strict && !header)
              return Status(Code::kInvalidArgument, "template: :1:" + std::to_string(n.col) +
                                                        ": executing \"\" at <." + p +
                                                        ">: can't evaluate field " + p);
            return std::optional<json>();
          }
          cur = &(*cur)[p];
        }
        return std::optional<json>(*cur);
      }
      case Arg::kIdent:
        break;
    }
    return Status(Code::kInvalidArgument, "template: :1: function \"" + a.text + "\" not defined");
  }

  Result<std::optional<json>> call(const std::string& fn, std::vector<std::optional<json>> args) {
    auto str = [](const std::optional<json>& v) { return v ? go_print(*v) : std::string("<no value>"); };
    auto need = [&](size_t n) -> Status {
      if (args.size() != n)
        return invalid_argument("template: wrong number of args for " + fn + ": want " + std::to_string(n) +
                                " got " + std::to_string(args.size()));
      return ok_status();
    };
    if (header && !args.empty() && fn != "println") return std::optional<json>(json(str(args[0])));
    if (fn == "json") {
      SHOAL_RETURN_IF_ERROR(need(1));
      return std::optional<json>(json(args[0] ? args[0]->dump() : std::string("null")));
    }
    if (fn == "upper" || fn == "lower" || fn == "title") {
      SHOAL_RETURN_IF_ERROR(need(1));
      std::string s = str(args[0]);
      if (fn == "title") return std::optional<json>(json(title_case(s)));
      for (auto& c : s)
        c = static_cast<char>(fn == "upper" ? std::toupper(static_cast<unsigned char>(c))
                                            : std::tolower(static_cast<unsigned char>(c)));
      return std::optional<json>(json(s));
    }
    if (fn == "join") {
      SHOAL_RETURN_IF_ERROR(need(2));
      std::string sep = str(args[1]), out;
      if (args[0] && args[0]->is_array()) {
        bool first = true;
        for (const auto& e : *args[0]) {
          if (!first) out += sep;
          first = false;
          out += go_print(e);
        }
      }
      return std::optional<json>(json(out));
    }
    if (fn == "split") {
      SHOAL_RETURN_IF_ERROR(need(2));
      std::string s = str(args[0]), sep = str(args[1]);
      json arr = json::array();
      size_t p = 0;
      while (!sep.empty()) {
        size_t e = s.find(sep, p);
        if (e == std::string::npos) break;
        arr.push_back(s.substr(p, e - p));
        p = e + sep.size();
      }
      arr.push_back(s.substr(p));
      return std::optional<json>(arr);
    }
    if (fn == "truncate") {
      SHOAL_RETURN_IF_ERROR(need(2));
      std::string s = str(args[0]);
      size_t n = args[1] && args[1]->is_number() ? args[1]->get<size_t>() : 0;
      if (rune_count(s) > n) s = s.substr(0, n);
      return std::optional<json>(json(s));
    }
    if (fn == "pad") {
      SHOAL_RETURN_IF_ERROR(need(3));
      size_t l = args[1] && args[1]->is_number() ? args[1]->get<size_t>() : 0;
      size_t r = args[2] && args[2]->is_number() ? args[2]->get<size_t>() : 0;
      return std::optional<json>(json(std::string(l, ' ') + str(args[0]) + std::string(r, ' ')));
    }
    if (fn == "index") return index(args);
    if (fn == "println") {
      std::string out;
      for (size_t i = 0; i < args.size(); ++i) out += (i ? " " : "") + str(args[i]);
      return std::optional<json>(json(out + "\n"));
    }
    return Status(Code::kInvalidArgument, "template: :1: function \"" + fn + "\" not defined");
  }

  // Go's `index X K...`: X[K1][K2]...; a missing map key gives "" (the zero
  // value of the string maps Docker's labels are), a list index out of range
  // or a key of the wrong kind is an error, as Go's.
  Result<std::optional<json>> index(const std::vector<std::optional<json>>& args) {
    if (args.empty()) return invalid_argument("template: wrong number of args for index: want at least 1 got 0");
    if (!args[0]) return std::optional<json>();
    json cur = *args[0];
    for (size_t i = 1; i < args.size(); ++i) {
      const std::optional<json>& k = args[i];
      if (cur.is_object()) {
        if (!k || !k->is_string()) return invalid_argument("template: error calling index: cannot index a map with a non-string key");
        auto it = cur.find(k->get<std::string>());
        if (it == cur.end()) return std::optional<json>(json(""));
        json next = *it;
        cur = std::move(next);
      } else if (cur.is_array()) {
        if (!k || !k->is_number_integer()) return invalid_argument("template: error calling index: cannot index a slice with a non-integer");
        int64_t n = k->get<int64_t>();
        if (n < 0 || static_cast<size_t>(n) >= cur.size())
          return invalid_argument("template: error calling index: index out of range: " + std::to_string(n));
        json next = cur[static_cast<size_t>(n)];
        cur = std::move(next);
      } else {
        return invalid_argument("template: error calling index: can't index item of type " +
                                std::string(cur.is_null() ? "nil" : cur.type_name()));
      }
    }
    return std::optional<json>(std::move(cur));
  }

  Result<std::optional<json>> eval_pipe(const Pipeline& p, const Template::Node& n) {
    std::optional<json> prev;
    bool have_prev = false;
    for (const Command& c : p) {
      if (c[0].kind == Arg::kIdent) {
        std::vector<std::optional<json>> args;
        for (size_t i = 1; i < c.size(); ++i) {
          SHOAL_ASSIGN_OR_RETURN(auto v, eval_arg(c[i], n));
          args.push_back(std::move(v));
        }
        if (have_prev) args.push_back(prev);
        SHOAL_ASSIGN_OR_RETURN(prev, call(c[0].text, std::move(args)));
      } else {
        if (c.size() != 1 || have_prev)
          return Status(Code::kInvalidArgument, "template: :1: can't give argument to non-function");
        SHOAL_ASSIGN_OR_RETURN(prev, eval_arg(c[0], n));
      }
      have_prev = true;
    }
    return prev;
  }

  Status run(const std::vector<Template::Node>& nodes, std::string* out) {
    for (const auto& n : nodes) {
      if (n.kind == Template::Node::kText) {
        *out += n.text;
      } else if (n.kind == Template::Node::kAction) {
        SHOAL_ASSIGN_OR_RETURN(auto v, eval_pipe(n.pipe, n));
        *out += v ? (v->is_string() ? v->get<std::string>() : go_print(*v)) : "<no value>";
      } else {
        std::optional<json> v;
        if (!header) {
          SHOAL_ASSIGN_OR_RETURN(v, eval_pipe(n.pipe, n));
        }
        SHOAL_RETURN_IF_ERROR(run(truthy(v) ? n.then_nodes : n.else_nodes, out));
      }
    }
    return ok_status();
  }
};

}  // namespace

std::string go_print(const json& v) {
  switch (v.type()) {
    case json::value_t::string:
      return v.get<std::string>();
    case json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case json::value_t::number_integer:
      return std::to_string(v.get<int64_t>());
    case json::value_t::number_unsigned:
      return std::to_string(v.get<uint64_t>());
    case json::value_t::number_float: {
      double d = v.get<double>();
      if (d == static_cast<double>(static_cast<int64_t>(d)) && d < 1e15 && d > -1e15)
        return std::to_string(static_cast<int64_t>(d));
      return go_float(d);
    }
    case json::value_t::array: {
      std::string out = "[";
      bool first = true;
      for (const auto& e : v) {
        if (!first) out += " ";
        first = false;
        out += go_print(e);
      }
      return out + "]";
    }
    case json::value_t::object: {
      std::string out = "map[";
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += " ";
        first = false;
        out += it.key() + ":" + go_print(it.value());
      }
      return out + "]";
    }
    default:
      return "<nil>";
  }
}

Result<Template> Template::parse(const std::string& text) {
  std::vector<RawAction> raw;
  size_t i = 0;
  while (i < text.size()) {
    size_t open = text.find("{{", i);
    if (open == std::string::npos) {
      raw.push_back({true, text.substr(i), 0});
      break;
    }
    std::string lit = text.substr(i, open - i);
    size_t body = open + 2;
    if (body < text.size() && text[body] == '-' && body + 1 < text.size() &&
        std::isspace(static_cast<unsigned char>(text[body + 1]))) {
      lit = lit.substr(0, lit.find_last_not_of(" \t\r\n") == std::string::npos
                              ? 0
                              : lit.find_last_not_of(" \t\r\n") + 1);
      ++body;
    }
    if (!lit.empty()) raw.push_back({true, lit, 0});
    size_t close = text.find("}}", body);
    if (close == std::string::npos)
      return Status(Code::kInvalidArgument, "template: :1: unclosed action");
    // A "}}" inside a string literal is rare in practice; not handled.
    std::string act = text.substr(body, close - body);
    bool trim_right = act.size() >= 2 && act.back() == '-' &&
                      std::isspace(static_cast<unsigned char>(act[act.size() - 2]));
    if (trim_right) act.pop_back();
    raw.push_back({false, act, static_cast<int>(open + 2)});
    i = close + 2;
    if (trim_right)
      while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  }
  Template t;
  t.nodes_ = std::make_shared<std::vector<Node>>();
  size_t pos = 0;
  std::string term;
  Status st = build(raw, &pos, t.nodes_.get(), &term);
  if (!st.ok()) return Status(Code::kInvalidArgument, "template parsing error: template: :1: " + st.message());
  if (!term.empty()) return Status(Code::kInvalidArgument, "template parsing error: template: :1: unexpected {{" + term + "}}");
  return t;
}

Result<std::string> Template::execute(const json& data, bool strict, bool header) const {
  std::string out;
  Exec e{data, strict, header};
  SHOAL_RETURN_IF_ERROR(e.run(*nodes_, &out));
  return out;
}

Result<std::string> format_rows(const std::string& format, const std::string& default_format,
                                const std::vector<json>& rows, const json& headers) {
  std::string f = format.empty() ? default_format : format;
  if (f == "json") f = "{{json .}}";
  bool table = f.rfind("table", 0) == 0;
  if (table) f = f.substr(5);
  if (table && trim(f).empty()) f = default_format.rfind("table", 0) == 0 ? default_format.substr(5) : default_format;
  // docker: trim spaces, then turn the two-character escapes \t and \n into real ones.
  size_t b = f.find_first_not_of(' ');
  f = b == std::string::npos ? "" : f.substr(b, f.find_last_not_of(' ') - b + 1);
  std::string g;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == '\\' && i + 1 < f.size() && (f[i + 1] == 't' || f[i + 1] == 'n')) {
      g += f[i + 1] == 't' ? '\t' : '\n';
      ++i;
    } else {
      g += f[i];
    }
  }
  SHOAL_ASSIGN_OR_RETURN(Template t, Template::parse(g));
  std::string out;
  for (const auto& r : rows) {
    SHOAL_ASSIGN_OR_RETURN(std::string line, t.execute(r, true));
    out += line + "\n";
  }
  if (!table) return out;
  SHOAL_ASSIGN_OR_RETURN(std::string head, t.execute(headers, false, true));
  return tabwrite(head + "\n" + out);
}

}  // namespace shoal::cli
