#include "cli/flags.h"

#include <algorithm>
#include <sstream>

namespace shoal::cli {

FlagSet::FlagSet(std::string command_path, std::string usage, std::string description)
    : path_(std::move(command_path)), usage_(std::move(usage)), description_(std::move(description)) {}

void FlagSet::add_bool(const std::string& name, char shorthand, const std::string& usage) {
  flags_.push_back(Flag{name, shorthand, "", usage, "false", {}, false});
}

void FlagSet::add(const std::string& name, char shorthand, const std::string& type,
                  const std::string& usage, const std::string& def) {
  flags_.push_back(Flag{name, shorthand, type, usage, def, {}, false});
}

FlagSet::Flag* FlagSet::find_long(const std::string& name) {
  for (auto& f : flags_)
    if (f.name == name) return &f;
  return nullptr;
}

FlagSet::Flag* FlagSet::find_short(char c) {
  for (auto& f : flags_)
    if (f.shorthand == c) return &f;
  return nullptr;
}

static bool parse_bool_text(const std::string& v, bool* out) {
  if (v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True") {
    *out = true;
    return true;
  }
  if (v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False") {
    *out = false;
    return true;
  }
  return false;
}

static bool parse_int_text(const std::string& v, bool allow_negative) {
  if (v.empty()) return false;
  size_t i = 0;
  if (v[0] == '-' || v[0] == '+') {
    if (v[0] == '-' && !allow_negative) return false;
    i = 1;
  }
  if (i == v.size()) return false;
  for (; i < v.size(); ++i)
    if (v[i] < '0' || v[i] > '9') return false;
  return true;
}

Status FlagSet::set_value(Flag* f, const std::string& value, const std::string& shown) {
  if (f->type.empty()) {
    bool b;
    if (!parse_bool_text(value, &b))
      return invalid_argument("invalid argument \"" + value + "\" for \"" + shown +
                              "\" flag: strconv.ParseBool: parsing \"" + value + "\": invalid syntax");
  } else if (f->type == "int" || f->type == "uint64" || f->type == "uint") {
    if (!parse_int_text(value, f->type == "int")) {
      std::string fn = f->type == "int" ? "ParseInt" : "ParseUint";
      return invalid_argument("invalid argument \"" + value + "\" for \"" + shown + "\" flag: strconv." + fn +
                              ": parsing \"" + value + "\": invalid syntax");
    }
  }
  f->values.push_back(value);
  f->changed = true;
  return ok_status();
}

Status FlagSet::parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      args_.insert(args_.end(), args.begin() + static_cast<long>(i) + 1, args.end());
      return ok_status();
    }
    if (a.size() < 2 || a[0] != '-') {
      args_.push_back(a);
      if (!interspersed_) {
        args_.insert(args_.end(), args.begin() + static_cast<long>(i) + 1, args.end());
        return ok_status();
      }
      continue;
    }
    if (a[1] == '-') {
      std::string name = a.substr(2), value;
      bool has_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      if (name == "help") {
        help_ = true;
        continue;
      }
      Flag* f = find_long(name);
      if (!f) return invalid_argument("unknown flag: --" + name);
      if (f->type.empty()) {
        SHOAL_RETURN_IF_ERROR(set_value(f, has_value ? value : "true", "--" + name));
        continue;
      }
      if (!has_value) {
        if (i + 1 >= args.size()) return invalid_argument("flag needs an argument: --" + name);
        value = args[++i];
      }
      SHOAL_RETURN_IF_ERROR(set_value(f, value, "--" + name));
      continue;
    }
    // Shorthand cluster.
    for (size_t j = 1; j < a.size(); ++j) {
      char c = a[j];
      Flag* f = find_short(c);
      if (!f) {
        if (c == 'h') {
          help_ = true;
          continue;
        }
        return invalid_argument(std::string("unknown shorthand flag: '") + c + "' in " + a);
      }
      std::string shown = std::string("-") + c + ", --" + f->name;
      if (f->type.empty()) {
        if (j + 1 < a.size() && a[j + 1] == '=') {
          SHOAL_RETURN_IF_ERROR(set_value(f, a.substr(j + 2), shown));
          break;
        }
        SHOAL_RETURN_IF_ERROR(set_value(f, "true", shown));
        continue;
      }
      std::string value;
      if (j + 1 < a.size()) {
        value = a.substr(j + 1);
        if (value[0] == '=') value = value.substr(1);
      } else {
        if (i + 1 >= args.size())
          return invalid_argument(std::string("flag needs an argument: '") + c + "' in -" + c);
        value = args[++i];
      }
      SHOAL_RETURN_IF_ERROR(set_value(f, value, shown));
      break;
    }
  }
  return ok_status();
}

bool FlagSet::changed(const std::string& name) const {
  for (auto& f : flags_)
    if (f.name == name) return f.changed;
  return false;
}

std::string FlagSet::str(const std::string& name) const {
  for (auto& f : flags_)
    if (f.name == name) return f.values.empty() ? (f.type.empty() ? "false" : f.def) : f.values.back();
  return "";
}

std::vector<std::string> FlagSet::list(const std::string& name) const {
  for (auto& f : flags_)
    if (f.name == name) return f.values;
  return {};
}

bool FlagSet::boolean(const std::string& name) const {
  bool b = false;
  parse_bool_text(str(name), &b);
  return b;
}

std::string FlagSet::usage_line() const {
  return "Usage:  " + path_ + (usage_.empty() ? "" : " " + usage_);
}

std::string FlagSet::help_text() const {
  std::ostringstream o;
  o << "\n" << usage_line() << "\n\n" << description_ << "\n";
  if (!aliases_.empty()) {
    o << "\nAliases:\n  ";
    for (size_t i = 0; i < aliases_.size(); ++i) o << (i ? ", " : "") << aliases_[i];
    o << "\n";
  }
  if (!flags_.empty()) {
    o << "\nOptions:\n";
    std::vector<std::pair<std::string, std::string>> lines;
    std::vector<const Flag*> sorted;
    for (auto& f : flags_) sorted.push_back(&f);
    std::sort(sorted.begin(), sorted.end(), [](const Flag* a, const Flag* b) { return a->name < b->name; });
    size_t maxlen = 0;
    for (const Flag* f : sorted) {
      std::string l = f->shorthand ? std::string("  -") + f->shorthand + ", --" + f->name : "      --" + f->name;
      if (!f->type.empty()) l += " " + f->type;
      std::string u = f->usage;
      if (!f->type.empty() && !f->def.empty()) u += " (default " + f->def + ")";
      maxlen = std::max(maxlen, l.size());
      lines.emplace_back(l, u);
    }
    for (auto& [l, u] : lines) o << l << std::string(maxlen - l.size() + 3, ' ') << u << "\n";
  }
  return o.str();
}

std::string FlagSet::flag_error_text(const Status& st) const {
  return st.message() + "\nSee '" + path_ + " --help'.\n";
}

std::string FlagSet::arg_error(const std::string& what) const {
  return "\"" + path_ + "\" " + what + "\nSee '" + path_ + " --help'.\n\n" + usage_line() + "\n\n" +
         description_ + "\n";
}

static std::string plural(size_t n) { return n == 1 ? "argument" : "arguments"; }

std::string FlagSet::requires_min(size_t n) const {
  if (args_.size() >= n) return "";
  return arg_error("requires at least " + std::to_string(n) + " " + plural(n) + ".");
}

std::string FlagSet::requires_exact(size_t n) const {
  if (args_.size() == n) return "";
  return arg_error("requires exactly " + std::to_string(n) + " " + plural(n) + ".");
}

std::string FlagSet::requires_none() const {
  if (args_.empty()) return "";
  return arg_error("accepts no arguments.");
}

std::string FlagSet::requires_range(size_t lo, size_t hi) const {
  if (args_.size() >= lo && args_.size() <= hi) return "";
  return arg_error("requires at least " + std::to_string(lo) + " and at most " + std::to_string(hi) + " " +
                   plural(hi) + ".");
}

}  // namespace shoal::cli
