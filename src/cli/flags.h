// A small docker-like (spf13/pflag) command-line flag parser for the shoal CLI.
//
// Supports long (--name, --name=value, --name value) and short (-n, -nvalue,
// -n value, combined bool shorthands -qa) flags, repeated flags (every value
// is kept, in order), bool flags (--flag, --flag=false), and "--" to stop flag
// parsing. With interspersed(false), the first positional argument stops flag
// parsing (as for `service create IMAGE COMMAND ARGS...`).
// Not thread-safe; one FlagSet per command invocation.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/result.h"

namespace shoal::cli {

class FlagSet {
 public:
  // command_path: "shoal service create"; usage: "[OPTIONS] IMAGE [COMMAND] [ARG...]".
  FlagSet(std::string command_path, std::string usage, std::string description);

  void set_interspersed(bool v) { interspersed_ = v; }
  void set_aliases(std::vector<std::string> a) { aliases_ = std::move(a); }

  // type is the value name shown in --help ("string", "list", "int", "duration", ...).
  void add_bool(const std::string& name, char shorthand, const std::string& usage);
  void add(const std::string& name, char shorthand, const std::string& type, const std::string& usage,
           const std::string& def = "");

  // Parses args (without the command path). On a flag error returns a Status
  // whose message is the docker-like text ("unknown flag: --foo"); see
  // flag_error_text(). --help/-h sets help_requested().
  Status parse(const std::vector<std::string>& args);

  bool help_requested() const { return help_; }
  bool changed(const std::string& name) const;
  // Last value given, or the default.
  std::string str(const std::string& name) const;
  std::vector<std::string> list(const std::string& name) const;
  bool boolean(const std::string& name) const;
  const std::vector<std::string>& args() const { return args_; }

  const std::string& command_path() const { return path_; }
  std::string usage_line() const;  // "Usage:  shoal service ls [OPTIONS]"
  std::string help_text() const;   // full --help output
  // "unknown flag: --foo\nSee 'shoal service create --help'.\n"
  std::string flag_error_text(const Status& st) const;

  // Argument-count checks in docker's words; empty string when fine.
  std::string requires_min(size_t n) const;
  std::string requires_exact(size_t n) const;
  std::string requires_none() const;
  std::string requires_range(size_t lo, size_t hi) const;

 private:
  struct Flag {
    std::string name;
    char shorthand = 0;
    std::string type;  // "" for bool
    std::string usage;
    std::string def;
    std::vector<std::string> values;
    bool changed = false;
  };
  Flag* find_long(const std::string& name);
  Flag* find_short(char c);
  Status set_value(Flag* f, const std::string& value, const std::string& shown);
  std::string arg_error(const std::string& what) const;

  std::string path_, usage_, description_;
  std::vector<std::string> aliases_;
  bool interspersed_ = true;
  bool help_ = false;
  std::vector<Flag> flags_;
  std::vector<std::string> args_;
};

}  // namespace shoal::cli
