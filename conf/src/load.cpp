// pgrelay.yaml -> conf::config in two passes: shape (types, unknown and required keys) then
// semantics (ranges, cross-field rules). Every error is gathered with its position; nothing
// here logs, reads the environment or the clock, and no YAML type escapes this file.
#include "pgrelay/conf/load.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <system_error>
#include <vector>

#include "key_tables.hpp"
#include "load_auth.hpp"

namespace pgrelay::conf {

namespace {

using namespace std::string_view_literals;
using namespace detail;  // the key and name tables
constexpr std::array bool_names{"true"sv, "false"sv};

// A health check interval above this would leave a dead replica in rotation for minutes.
constexpr duration max_check_interval{60'000};

// Linux sun_path is 108 bytes including the terminating NUL.
constexpr std::size_t max_unix_path = 107;
// Far above any core count; catches a mistyped number before it spawns thousands of threads.
constexpr std::uint32_t max_workers = 1024;

struct position {
  int line = 0;  // 1-based, 0 when unknown
  int column = 0;
};

position to_position(const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0) return {};
  return {mark.line + 1, mark.column + 1};
}

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "'" + node.Scalar() + "'";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
  }
  return "something else";
}

std::string join(key_list names) {
  std::string out;
  for (auto name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

bool all_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  if (!all_digits(text)) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Splits "500ms" into ("500", "ms").
std::pair<std::string_view, std::string_view> split_number(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  return {text.substr(0, i), text.substr(i)};
}

std::string resolve_path(const std::string& base_dir, const std::string& path) {
  if (base_dir.empty() || path.empty()) return path;
  const std::filesystem::path p{path};
  if (p.is_absolute()) return path;
  return (std::filesystem::path{base_dir} / p).lexically_normal().string();
}

// Shape pass state: the diagnostics so far and where each key path's value sits in the file,
// so the semantic pass, which only sees plain values, can still point at the right line.
class reader {
 public:
  reader(std::string file, std::string base_dir)
      : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

  diagnostics& diags() { return diags_; }
  const std::string& base_dir() const { return base_dir_; }

  void error(position at, std::string key, std::string message, std::string hint = {}) {
    diags_.push_back(
        diagnostic{file_, at.line, at.column, std::move(key), std::move(message), std::move(hint)});
  }

  void remember(const std::string& path, position at) { where_.emplace(path, at); }

  // Position of `path`, or of its nearest recorded ancestor.
  position at(std::string path) const {
    for (;;) {
      if (auto it = where_.find(path); it != where_.end()) return it->second;
      const auto cut = path.find_last_of(".[");
      if (cut == std::string::npos) break;
      path.resize(cut);
    }
    if (auto it = where_.find(""); it != where_.end()) return it->second;
    return {};
  }

  // Whether the first `count` diagnostics include one at or under `path`: the semantic pass
  // stays quiet there so a single mistake is reported once.
  bool failed_under(std::string_view path, std::size_t count) const {
    for (std::size_t i = 0; i < count && i < diags_.size(); ++i) {
      const std::string_view key = diags_[i].key;
      if (key == path) return true;
      if (key.size() > path.size() && key.substr(0, path.size()) == path &&
          (key[path.size()] == '.' || key[path.size()] == '[')) {
        return true;
      }
    }
    return false;
  }

  bool failed_at(std::string_view path, std::size_t count) const {
    for (std::size_t i = 0; i < count && i < diags_.size(); ++i) {
      if (diags_[i].key == path) return true;
    }
    return false;
  }

  using entry_fn = std::function<void(std::string_view name, const YAML::Node& value,
                                      const std::string& path, position pos)>;

  // Walks a mapping. `keys` empty means any name is allowed (database and user names).
  // Reports non-string, duplicate and unknown keys; returns the names seen, or nullopt when
  // the node is not a mapping at all. A null node (`pool:` with nothing under it) is empty.
  std::optional<std::set<std::string>> read_map(const YAML::Node& node, const std::string& path,
                                                position pos, key_list keys, const entry_fn& fn) {
    std::set<std::string> seen;
    if (node.IsNull()) return seen;
    if (!node.IsMap()) {
      error(value_pos(node, pos), path, "expected a mapping, got " + describe(node));
      return std::nullopt;
    }
    std::map<std::string, int> first_line;
    // Copies, not references: yaml-cpp's it->first lives in a temporary proxy.
    for (const auto& kv : node) {
      const YAML::Node key = kv.first;
      const YAML::Node value = kv.second;
      const position key_pos = to_position(key.Mark());
      if (!key.IsScalar()) {
        error(key_pos, path, "keys must be plain strings, got " + describe(key));
        continue;
      }
      const std::string& name = key.Scalar();
      const std::string child = path.empty() ? name : path + "." + name;
      if (auto [prev, fresh] = first_line.emplace(name, key_pos.line); !fresh) {
        error(key_pos, child,
              "duplicate key (first defined at line " + std::to_string(prev->second) + ")");
        continue;
      }
      if (!keys.empty() && std::find(keys.begin(), keys.end(), name) == keys.end()) {
        unknown_key(key_pos, child, name, keys);
        continue;
      }
      seen.insert(name);
      const position at_value = value_pos(value, key_pos);
      remember(child, at_value);
      fn(name, value, child, at_value);
    }
    return seen;
  }

  void require(const std::optional<std::set<std::string>>& seen, const std::string& path,
               position pos, std::string_view key) {
    if (!seen || seen->count(std::string{key}) != 0) return;
    const std::string child = path.empty() ? std::string{key} : path + "." + std::string{key};
    error(pos, child, "required key is missing");
  }

  template <typename Fn>
  void read_list(const YAML::Node& node, const std::string& path, position pos, Fn&& fn) {
    if (node.IsNull()) return;
    if (!node.IsSequence()) {
      error(pos, path, "expected a list, got " + describe(node));
      return;
    }
    std::size_t index = 0;
    for (const auto& item : node) {
      const std::string child = path + "[" + std::to_string(index++) + "]";
      const position item_pos = value_pos(item, pos);
      remember(child, item_pos);
      fn(item, child, item_pos);
    }
  }

  std::optional<std::string> read_string(const YAML::Node& node, const std::string& path,
                                         position pos) {
    if (!node.IsScalar()) {
      error(pos, path, "expected a string, got " + describe(node));
      return std::nullopt;
    }
    return node.Scalar();
  }

  std::optional<std::vector<std::string>> read_string_list(const YAML::Node& node,
                                                           const std::string& path, position pos) {
    std::vector<std::string> out;
    bool ok = node.IsNull() || node.IsSequence();
    read_list(node, path, pos, [&](const YAML::Node& item, const std::string& child, position p) {
      if (auto s = read_string(item, child, p)) {
        out.push_back(*s);
      } else {
        ok = false;
      }
    });
    if (!ok) return std::nullopt;
    return out;
  }

  std::optional<std::uint64_t> read_u64(const YAML::Node& node, const std::string& path,
                                        position pos, std::uint64_t max) {
    auto text = read_string(node, path, pos);
    if (!text) return std::nullopt;
    const auto value = parse_u64(*text);
    if (!value) {
      if (all_digits(*text)) {
        error(pos, path, "'" + *text + "' is too large (at most " + std::to_string(max) + ")");
      } else {
        error(pos, path, "expected a non-negative integer, got '" + *text + "'");
      }
      return std::nullopt;
    }
    if (*value > max) {
      error(pos, path, "'" + *text + "' is too large (at most " + std::to_string(max) + ")");
      return std::nullopt;
    }
    return value;
  }

  std::optional<std::uint32_t> read_u32(const YAML::Node& node, const std::string& path,
                                        position pos) {
    const auto v = read_u64(node, path, pos, std::numeric_limits<std::uint32_t>::max());
    if (!v) return std::nullopt;
    return static_cast<std::uint32_t>(*v);
  }

  std::optional<duration> read_duration(const YAML::Node& node, const std::string& path,
                                        position pos) {
    auto text = read_string(node, path, pos);
    if (!text) return std::nullopt;
    if (auto d = parse_duration(*text)) return d;
    const auto [digits, unit] = split_number(*text);
    if (!digits.empty() && unit.empty()) {
      error(pos, path, "a duration needs a unit, got '" + *text + "'",
            "write e.g. '" + *text + "s' or '" + *text + "ms'; only 0 may be bare");
    } else {
      error(pos, path, "expected a duration like 500ms, 5s, 2m or 1h (or 0), got '" + *text + "'");
    }
    return std::nullopt;
  }

  // A size: a bare byte count or a number with B, kB, MB, GB or TB.
  std::optional<std::uint64_t> read_bytes(const YAML::Node& node, const std::string& path,
                                          position pos) {
    auto text = read_string(node, path, pos);
    if (!text) return std::nullopt;
    if (auto b = parse_bytes(*text)) return b;
    error(pos, path, "expected a size like 16MB, 512kB or 1048576, got '" + *text + "'");
    return std::nullopt;
  }

  std::optional<bool> read_bool(const YAML::Node& node, const std::string& path, position pos) {
    auto i = read_enum(node, path, pos, bool_names);
    if (!i) return std::nullopt;
    return *i == 0;
  }

  // Index of the scalar in `names`, with a did-you-mean hint when it is not one of them.
  std::optional<std::size_t> read_enum(const YAML::Node& node, const std::string& path,
                                       position pos, key_list names) {
    auto text = read_string(node, path, pos);
    if (!text) return std::nullopt;
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i] == *text) return i;
    }
    const std::string near = closest_match(*text, names);
    error(pos, path, "expected one of " + join(names) + ", got '" + *text + "'",
          near.empty() ? std::string{} : "did you mean '" + near + "'?");
    return std::nullopt;
  }

  std::optional<endpoint> read_endpoint(const YAML::Node& node, const std::string& path,
                                        position pos) {
    auto text = read_string(node, path, pos);
    if (!text) return std::nullopt;
    auto parsed = parse_endpoint(*text);
    if (!parsed.value) {
      error(pos, path, parsed.error);
      return std::nullopt;
    }
    parsed.value->unix_path = resolve_path(base_dir_, parsed.value->unix_path);
    return parsed.value;
  }

 private:
  static position value_pos(const YAML::Node& node, position fallback) {
    // yaml-cpp marks an empty value at the *next* token; the key is the better place.
    if (node.IsNull()) return fallback;
    const position p = to_position(node.Mark());
    return p.line == 0 ? fallback : p;
  }

  void unknown_key(position pos, const std::string& path, const std::string& name, key_list keys) {
    if (name == "<<") {
      error(pos, path, "YAML merge keys ('<<') are not supported; repeat the keys instead");
      return;
    }
    std::string near = closest_match(name, keys);
    std::string hint;
    if (!near.empty()) {
      hint = "did you mean '" + near + "'?";
    } else if (std::find(pool_keys.begin(), pool_keys.end(), name) != pool_keys.end() &&
               std::find(keys.begin(), keys.end(), "pool"sv) != keys.end()) {
      // A pool knob written one level too high: point at where it belongs.
      hint = "did you mean 'pool." + name + "'?";
    }
    error(pos, path, "unknown key", std::move(hint));
  }

  std::string file_;
  std::string base_dir_;
  diagnostics diags_;
  std::map<std::string, position> where_;
};

// ---- shape pass -------------------------------------------------------------------------

// `size`: a number of server connections, or `auto` for the adaptive limit (proxy/core's
// concurrency_limit) bounded by `max_size`.
void read_pool_size(reader& r, const YAML::Node& v, const std::string& p, position at, pool_overrides& out) {
  auto text = r.read_string(v, p, at);
  if (!text) return;
  if (*text == "auto") {
    out.size_auto = true;
    return;
  }
  const auto n = parse_u64(*text);
  if (!n || *n > std::numeric_limits<std::uint32_t>::max()) {
    r.error(at, p, "expected a non-negative integer or 'auto', got '" + *text + "'");
    return;
  }
  out.size = static_cast<std::uint32_t>(*n);
  out.size_auto = false;
}

void read_pool(reader& r, const YAML::Node& node, const std::string& path, position pos,
               pool_overrides& out) {
  r.read_map(node, path, pos, pool_keys,
             [&](std::string_view name, const YAML::Node& v, const std::string& p, position at) {
               if (name == "mode") {
                 if (auto i = r.read_enum(v, p, at, pool_mode_names)) {
                   out.mode = *i == 0 ? pool_mode::session : pool_mode::transaction;
                 }
               } else if (name == "size") {
                 read_pool_size(r, v, p, at, out);
               } else if (name == "max_size") {
                 out.max_size = r.read_u32(v, p, at);
               } else if (name == "min_idle") {
                 out.min_idle = r.read_u32(v, p, at);
               } else if (name == "max_clients") {
                 out.max_clients = r.read_u32(v, p, at);
               } else if (name == "server_max_uses") {
                 out.server_max_uses =
                     r.read_u64(v, p, at, std::numeric_limits<std::uint64_t>::max());
               } else {
                 const auto d = r.read_duration(v, p, at);
                 if (name == "connect_timeout") out.connect_timeout = d;
                 if (name == "wait_timeout") out.wait_timeout = d;
                 if (name == "server_idle_timeout") out.server_idle_timeout = d;
                 if (name == "server_lifetime") out.server_lifetime = d;
                 if (name == "query_timeout") out.query_timeout = d;
                 if (name == "idle_in_transaction_timeout") out.idle_in_transaction_timeout = d;
               }
             });
}

void read_auth(reader& r, const YAML::Node& node, const std::string& path, position pos,
               auth_config& out) {
  r.read_map(node, path, pos, auth_keys,
             [&](std::string_view name, const YAML::Node& v, const std::string& p, position at) {
               if (name == "method") {
                 if (auto i = r.read_enum(v, p, at, auth_method_names)) {
                   out.method = *i == 0 ? auth_method::scram_sha_256 : auth_method::trust;
                 }
               } else if (name == "users_file") {
                 if (auto s = r.read_string(v, p, at))
                   out.users_file = resolve_path(r.base_dir(), *s);
               } else if (name == "admin_users") {
                 if (auto l = r.read_string_list(v, p, at)) out.admin_users = std::move(*l);
               } else if (name == "cache_ttl") {
                 if (auto d = r.read_duration(v, p, at)) out.cache_ttl = *d;
               } else {
                 (void)auth_keys_detail::read_query_key(r, name, v, p, at, out.query);
               }
             });
}

void read_tls(reader& r, const YAML::Node& node, const std::string& path, position pos,
              tls_config& out) {
  r.read_map(node, path, pos, tls_keys,
             [&](std::string_view side, const YAML::Node& v, const std::string& p, position at) {
               if (side == "client") {
                 r.read_map(v, p, at, tls_client_keys,
                            [&](std::string_view name, const YAML::Node& cv, const std::string& cp,
                                position cat) {
                              if (name == "mode") {
                                if (auto i = r.read_enum(cv, cp, cat, client_tls_mode_names))
                                  out.client_mode = static_cast<client_tls_mode>(*i);
                              } else if (auto s = r.read_string(cv, cp, cat)) {
                                (name == "cert" ? out.client_cert : out.client_key) =
                                    resolve_path(r.base_dir(), *s);
                              }
                            });
               } else {
                 r.read_map(v, p, at, tls_server_keys,
                            [&](std::string_view name, const YAML::Node& sv, const std::string& sp,
                                position sat) {
                              if (name == "mode") {
                                if (auto i = r.read_enum(sv, sp, sat, server_tls_mode_names))
                                  out.server_mode = static_cast<server_tls_mode>(*i);
                              } else if (name == "allow_password_without_tls") {
                                if (auto b = r.read_bool(sv, sp, sat)) out.server_allow_password_without_tls = *b;
                              } else if (auto s = r.read_string(sv, sp, sat)) {
                                out.server_ca = resolve_path(r.base_dir(), *s);
                              }
                            });
               }
             });
}

void read_log(reader& r, const YAML::Node& node, const std::string& path, position pos,
              log_config& out) {
  r.read_map(node, path, pos, log_keys,
             [&](std::string_view name, const YAML::Node& v, const std::string& p, position at) {
               if (name == "format") {
                 if (auto i = r.read_enum(v, p, at, log_format_names)) {
                   out.format = *i == 0 ? log_format::text : log_format::json;
                 }
               } else if (name == "level") {
                 if (auto i = r.read_enum(v, p, at, log_level_names)) {
                   out.level = std::string{log_level_names[*i]};
                 }
               } else if (name == "slow_query") {
                 if (auto d = r.read_duration(v, p, at)) out.slow_query = *d;
               }
             });
}

void read_session_state(reader& r, const YAML::Node& node, const std::string& path, position pos,
                        session_state_policies& out) {
  r.read_map(node, path, pos, session_state_key_names,
             [&](std::string_view name, const YAML::Node& v, const std::string& p, position at) {
               auto i = r.read_enum(v, p, at, pin_policy_names);
               if (!i) return;
               for (const auto& k : session_state_keys) {
                 if (k.key == name) out.*k.member = static_cast<pin_policy>(*i);
               }
             });
}

void read_max_lag(reader& r, const YAML::Node& node, const std::string& path, position pos,
                  lag_limit& out) {
  r.read_map(node, path, pos, max_lag_keys,
             [&](std::string_view name, const YAML::Node& v, const std::string& p, position at) {
               if (name == "bytes") {
                 if (auto b = r.read_bytes(v, p, at)) out.bytes = *b;
               } else if (name == "time") {
                 if (auto d = r.read_duration(v, p, at)) out.time = *d;
               }
             });
}

void read_rule(reader& r, const YAML::Node& node, const std::string& path, position pos,
               std::vector<routing_rule>& rules) {
  routing_rule rule;
  auto seen = r.read_map(
      node, path, pos, rule_keys,
      [&](std::string_view name, const YAML::Node& v, const std::string& p, position at) {
        if (name == "kind") {
          if (auto i = r.read_enum(v, p, at, rule_kind_names)) rule.kind = static_cast<rule_kind>(*i);
          return;
        }
        auto s = r.read_string(v, p, at);
        if (!s) return;
        if (name == "user") rule.user = *s;
        else if (name == "application_name") rule.application_name = *s;
        else if (name == "route") rule.route = *s;
      });
  r.require(seen, path, pos, "route");
  rules.push_back(std::move(rule));  // kept even when broken so indices match the file
}

void read_routing(reader& r, const YAML::Node& node, const std::string& path, position pos,
                  routing_config& out) {
  r.read_map(node, path, pos, routing_keys,
             [&](std::string_view name, const YAML::Node& v, const std::string& p, position at) {
               if (name == "enabled") {
                 if (auto b = r.read_bool(v, p, at)) out.enabled = *b;
               } else if (name == "check_interval") {
                 if (auto d = r.read_duration(v, p, at)) out.check_interval = *d;
               } else if (name == "fallback") {
                 if (auto i = r.read_enum(v, p, at, fallback_names)) {
                   out.fallback =
                       *i == 0 ? no_replica_fallback::primary : no_replica_fallback::error;
                 }
               } else if (name == "read_your_writes") {
                 if (auto i = r.read_enum(v, p, at, read_your_writes_names)) {
                   out.read_your_writes = read_your_writes_scopes[*i];
                 }
               } else if (name == "read_your_writes_wait") {
                 if (auto d = r.read_duration(v, p, at)) out.read_your_writes_wait = *d;
               } else if (name == "balance") {
                 if (auto i = r.read_enum(v, p, at, balance_names)) {
                   out.balance = *i == 0 ? replica_balance::session : replica_balance::statement;
                 }
               } else if (name == "health_user") {
                 if (auto s = r.read_string(v, p, at)) out.health_user = *s;
               } else if (name == "health_password") {
                 if (auto s = r.read_string(v, p, at)) out.health_password = *s;
               } else if (name == "rules") {
                 r.read_list(v, p, at, [&](const YAML::Node& item, const std::string& c, position ip) {
                   read_rule(r, item, c, ip, out.rules);
                 });
               } else if (name == "functions") {
                 r.read_map(v, p, at, function_keys,
                            [&](std::string_view key, const YAML::Node& fv, const std::string& fp, position fat) {
                              auto l = r.read_string_list(fv, fp, fat);
                              if (!l) return;
                              (key == "writes" ? out.functions.writes : out.functions.read_only) = std::move(*l);
                            });
               }
             });
}

void read_replica(reader& r, const YAML::Node& node, const std::string& path, position pos,
                  database_config& db) {
  replica_config rep;
  auto seen = r.read_map(
      node, path, pos, replica_keys,
      [&](std::string_view name, const YAML::Node& v, const std::string& p, position at) {
        if (name == "name") {
          if (auto s = r.read_string(v, p, at)) rep.name = *s;
        } else if (name == "address") {
          if (auto e = r.read_endpoint(v, p, at)) rep.address = *e;
        } else if (name == "roles") {
          if (auto l = r.read_string_list(v, p, at)) rep.roles = std::move(*l);
        } else if (name == "max_lag") {
          read_max_lag(r, v, p, at, rep.max_lag);
        }
      });
  r.require(seen, path, pos, "name");
  r.require(seen, path, pos, "address");
  // Kept even when broken so indices match the file; a config with errors is never returned.
  db.replicas.push_back(std::move(rep));
}

void read_database(reader& r, const std::string& name, const YAML::Node& node,
                   const std::string& path, position pos, database_config& db) {
  db.name = name;
  db.server_database = name;
  auto seen = r.read_map(
      node, path, pos, database_keys,
      [&](std::string_view key, const YAML::Node& v, const std::string& p, position at) {
        if (key == "server_database") {
          if (auto s = r.read_string(v, p, at)) db.server_database = *s;
        } else if (key == "primary") {
          if (auto e = r.read_endpoint(v, p, at)) db.primary = *e;
        } else if (key == "replicas") {
          r.read_list(v, p, at, [&](const YAML::Node& item, const std::string& c, position ip) {
            read_replica(r, item, c, ip, db);
          });
        } else if (key == "server_user") {
          if (auto s = r.read_string(v, p, at)) db.server_user = *s;
        } else if (key == "server_password") {
          if (auto s = r.read_string(v, p, at)) db.server_password = *s;
        } else if (key == "server_password_env") {
          if (auto s = r.read_string(v, p, at)) db.server_password_env = *s;
        } else if (key == "server_login") {
          auth_keys_detail::read_server_login(r, v, p, at, db);
        } else if (key == "auth") {
          auth_keys_detail::read_database_auth(r, v, p, at, db);
        } else if (key == "max_db_connections") {
          if (auto n = r.read_u32(v, p, at)) db.max_db_connections = *n;
        } else if (key == "pool") {
          read_pool(r, v, p, at, db.pool);
        } else if (key == "routing") {
          read_routing(r, v, p, at, db.routing);
        } else if (key == "users") {
          r.read_map(v, p, at, {},
                     [&](std::string_view user, const YAML::Node& uv, const std::string& up,
                         position uat) {
                       user_config& u = db.users[std::string{user}];
                       r.read_map(uv, up, uat, user_keys,
                                  [&](std::string_view, const YAML::Node& pv, const std::string& pp,
                                      position pat) { read_pool(r, pv, pp, pat, u.pool); });
                     });
        }
      });
  r.require(seen, path, pos, "primary");
  default_server_login(db, seen && seen->count("server_login") != 0);
}

void read_workers(reader& r, const YAML::Node& v, const std::string& p, position at, config& cfg) {
  auto text = r.read_string(v, p, at);
  if (!text) return;
  if (*text == "auto") {
    cfg.workers = 0;
    return;
  }
  const auto n = parse_u64(*text);
  if (!n || *n == 0 || *n > max_workers) {
    r.error(at, p,
            "expected 'auto' or an integer from 1 to " + std::to_string(max_workers) + ", got '" +
                *text + "'");
    return;
  }
  cfg.workers = static_cast<std::uint32_t>(*n);
}

// Reads the whole document; `global_pool` keeps the top-level pool keys as written, so the
// semantic pass can tell set values from defaults. False when there is no mapping to check.
bool read_root(reader& r, const YAML::Node& root, config& cfg, pool_overrides& global_pool) {
  const position root_pos =
      to_position(root.Mark()).line == 0 ? position{1, 1} : to_position(root.Mark());
  r.remember("", root_pos);
  if (root.IsNull()) {
    r.error(root_pos, "", "the configuration is empty; 'listen' and 'databases' are required");
    return false;
  }
  auto seen = r.read_map(
      root, "", root_pos, top_keys,
      [&](std::string_view name, const YAML::Node& v, const std::string& p, position at) {
        if (name == "listen") {
          r.read_list(v, p, at, [&](const YAML::Node& item, const std::string& c, position ip) {
            // Kept even when broken so indices match the file (see read_replica).
            cfg.listen.push_back(r.read_endpoint(item, c, ip).value_or(endpoint{}));
          });
        } else if (name == "workers") {
          read_workers(r, v, p, at, cfg);
        } else if (name == "auth") {
          read_auth(r, v, p, at, cfg.auth);
        } else if (name == "log") {
          read_log(r, v, p, at, cfg.log);
        } else if (name == "tls") {
          read_tls(r, v, p, at, cfg.tls);
        } else if (name == "admin") {
          r.read_map(v, p, at, admin_keys,
                     [&](std::string_view, const YAML::Node& av, const std::string& ap, position aat) {
                       if (auto e = r.read_endpoint(av, ap, aat)) cfg.admin.http_listen = *e;
                     });
        } else if (name == "auth_timeout") {
          if (auto d = r.read_duration(v, p, at)) cfg.auth_timeout = *d;
        } else if (name == "shutdown_timeout") {
          if (auto d = r.read_duration(v, p, at)) cfg.shutdown_timeout = *d;
        } else if (name == "session_state") {
          read_session_state(r, v, p, at, cfg.session_state);
        } else if (name == "max_db_connections") {
          if (auto n = r.read_u32(v, p, at)) cfg.max_db_connections = *n;
        } else if (name == "max_user_connections") {
          if (auto n = r.read_u32(v, p, at)) cfg.max_user_connections = *n;
        } else if (name == "max_pending_logins") {
          if (auto n = r.read_u32(v, p, at)) cfg.max_pending_logins = *n;
        } else if (name == "max_prepared_per_server") {
          if (auto n = r.read_u32(v, p, at)) cfg.max_prepared_per_server = *n;
        } else if (name == "pool") {
          read_pool(r, v, p, at, global_pool);
        } else if (name == "databases") {
          r.read_map(
              v, p, at, {},
              [&](std::string_view db, const YAML::Node& dv, const std::string& dp, position dat) {
                database_config& d = cfg.databases[std::string{db}];
                read_database(r, std::string{db}, dv, dp, dat, d);
              });
        }
      });
  r.require(seen, "", root_pos, "listen");
  r.require(seen, "", root_pos, "databases");
  cfg.pool = apply(pool_settings{}, global_pool);
  return seen.has_value();
}

// ---- semantic pass ----------------------------------------------------------------------

struct checker {
  reader& r;
  std::size_t shape_errors;

  bool failed(std::string_view path) const { return r.failed_under(path, shape_errors); }
  void error(const std::string& path, std::string message, std::string hint = {}) {
    r.error(r.at(path), path, std::move(message), std::move(hint));
  }

  void endpoint_ok(const endpoint& ep, const std::string& path) {
    if (ep.is_unix() && ep.unix_path.size() > max_unix_path) {
      error(path, "unix socket path is " + std::to_string(ep.unix_path.size()) +
                      " bytes long; the system limit is " + std::to_string(max_unix_path));
    }
  }

  // Checks the effective settings of one level, blaming only keys written at this level:
  // an inherited problem was already reported where it was written.
  // A key that failed the shape pass is unset here, so rules involving it are skipped rather
  // than judged against an inherited value the user did not mean.
  void pool_ok(const pool_settings& eff, const pool_overrides& here, const std::string& path) {
    if (r.failed_at(path, shape_errors)) return;
    const std::string p = path + ".";
    if (here.size && !eff.size_auto && eff.size == 0) error(p + "size", "must be greater than 0");
    if (here.max_size && eff.max_size == 0) error(p + "max_size", "must be greater than 0");
    if (here.max_clients && eff.max_clients == 0)
      error(p + "max_clients", "must be greater than 0");
    if (here.connect_timeout && eff.connect_timeout.count() == 0) {
      error(p + "connect_timeout", "must be greater than 0");
    }
    // Blamed on min_idle when written here, else on whatever set the ceiling here.
    const bool ceiling_here = here.size_auto.has_value() || (eff.size_auto && here.max_size);
    if ((here.min_idle || ceiling_here) && !failed(p + "size") && !failed(p + "max_size") &&
        !failed(p + "min_idle") && eff.cap() > 0 && eff.min_idle > eff.cap()) {
      const std::string blamed = here.min_idle ? "min_idle" : here.size_auto ? "size" : "max_size";
      error(p + blamed, "min_idle (" + std::to_string(eff.min_idle) + ") exceeds the pool " +
                            (eff.size_auto ? "max_size (" : "size (") + std::to_string(eff.cap()) + ")");
    }
  }

  void names_unique(const std::vector<std::string>& names, const std::string& path,
                    std::string_view what) {
    std::map<std::string, std::size_t> first;
    for (std::size_t i = 0; i < names.size(); ++i) {
      const std::string item = path + "[" + std::to_string(i) + "]";
      if (names[i].empty()) {
        error(item, std::string{what} + " is empty");
      } else if (auto [it, fresh] = first.emplace(names[i], i); !fresh) {
        error(item, "duplicate " + std::string{what} + " '" + names[i] + "' (first at line " +
                        std::to_string(r.at(path + "[" + std::to_string(it->second) + "]").line) +
                        ")");
      }
    }
  }

  void listen_ok(const config& cfg) {
    if (r.failed_at("listen", shape_errors)) return;
    if (cfg.listen.empty()) {
      error("listen", "at least one listen address is required");
      return;
    }
    std::map<std::string, std::size_t> first;
    for (std::size_t i = 0; i < cfg.listen.size(); ++i) {
      const std::string item = "listen[" + std::to_string(i) + "]";
      if (failed(item)) continue;
      endpoint_ok(cfg.listen[i], item);
      const std::string shown = cfg.listen[i].to_string();
      if (auto [it, fresh] = first.emplace(shown, i); !fresh) {
        error(item, "duplicate listen address '" + shown + "' (first at line " +
                        std::to_string(r.at("listen[" + std::to_string(it->second) + "]").line) +
                        ")");
      }
    }
  }

  void auth_ok(const config& cfg) {
    if (!failed("auth.admin_users")) {
      names_unique(cfg.auth.admin_users, "auth.admin_users", "admin user");
    }
    if (!failed("auth_timeout") && cfg.auth_timeout.count() == 0) {
      error("auth_timeout", "must be greater than 0");
    }
    if (!failed("max_pending_logins") && cfg.max_pending_logins == 0) {
      error("max_pending_logins", "must be greater than 0");
    }
  }

  void tls_ok(const config& cfg) {
    const auto& t = cfg.tls;
    if (!failed("tls.client.mode") && t.client_mode != client_tls_mode::disable) {
      for (auto [value, key] : {std::pair{&t.client_cert, "tls.client.cert"},
                                std::pair{&t.client_key, "tls.client.key"}}) {
        if (value->empty() && !failed(key)) {
          error(key, "is required when tls.client.mode is not disable",
                "point it at a PEM file, or set tls.client.mode: disable");
        }
      }
    }
    if (!failed("tls.server.mode") && !failed("tls.server.ca") && t.server_ca.empty() &&
        (t.server_mode == server_tls_mode::verify_ca || t.server_mode == server_tls_mode::verify_full)) {
      error("tls.server.ca", "is required when tls.server.mode is verify-ca or verify-full",
            "point it at the PEM CA that signed the servers' certificates");
    }
  }

  void env_name_ok(const std::string& name, const std::string& path) {
    const bool ok = !name.empty() && !(name[0] >= '0' && name[0] <= '9') &&
                    std::all_of(name.begin(), name.end(), [](char c) {
                      return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                             (c >= '0' && c <= '9') || c == '_';
                    });
    if (!ok) error(path, "'" + name + "' is not a valid environment variable name");
  }

  void replicas_ok(const database_config& db, const std::string& path) {
    std::map<std::string, std::size_t> first;
    for (std::size_t i = 0; i < db.replicas.size(); ++i) {
      const auto& rep = db.replicas[i];
      const std::string rp = path + ".replicas[" + std::to_string(i) + "]";
      if (failed(rp)) continue;
      if (rep.name.empty()) {
        error(rp + ".name", "is empty");
      } else if (auto [it, fresh] = first.emplace(rep.name, i); !fresh) {
        error(rp + ".name",
              "duplicate replica name '" + rep.name + "' (first at line " +
                  std::to_string(
                      r.at(path + ".replicas[" + std::to_string(it->second) + "].name").line) +
                  ")");
      }
      endpoint_ok(rep.address, rp + ".address");
      if (rep.roles.empty()) {
        error(rp + ".roles", "a replica needs at least one role, e.g. [read]");
      }
      names_unique(rep.roles, rp + ".roles", "role");
      const std::string lag_time = rp + ".max_lag.time";
      if (!failed(lag_time) && rep.max_lag.time.count() == 0) {
        error(lag_time, "must be greater than 0",
              "0 would exclude the replica whenever any WAL is pending; use e.g. 500ms");
      }
    }
  }

  void routing_ok(const database_config& db, const std::string& path) {
    const std::string rp = path + ".routing";
    if (r.failed_at(rp, shape_errors)) return;
    const std::string interval = rp + ".check_interval";
    if (!failed(interval)) {
      if (db.routing.check_interval.count() == 0) {
        error(interval, "must be greater than 0");
      } else if (db.routing.check_interval > max_check_interval) {
        error(interval, "must be at most 60s, got " +
                            std::to_string(db.routing.check_interval.count()) + "ms",
              "a dead replica stays in rotation for up to one interval");
      }
    }
    if (!failed(rp + ".health_password") && !failed(rp + ".health_user") &&
        db.routing.health_user.empty() && !db.routing.health_password.empty()) {
      error(rp + ".health_password", "is set without routing.health_user",
            "set health_user too, or drop both to check health as server_user");
    }
    std::set<std::string> roles;
    for (const auto& rep : db.replicas) roles.insert(rep.roles.begin(), rep.roles.end());
    for (std::size_t i = 0; i < db.routing.rules.size(); ++i) {
      const auto& rule = db.routing.rules[i];
      const std::string at = rp + ".rules[" + std::to_string(i) + "].route";
      if (failed(at) || rule.route.empty() || rule.route == "primary" || roles.contains(rule.route)) continue;
      std::string known = "primary";
      for (const auto& role : roles) known += ", " + role;
      error(at, "no replica of this database has role '" + rule.route + "'", "use one of: " + known);
    }
    for (const auto* list : {&db.routing.functions.writes, &db.routing.functions.read_only}) {
      const std::string at = rp + ".functions." + (list == &db.routing.functions.writes ? "writes" : "read_only");
      if (failed(at)) continue;
      for (const auto& f : *list) {
        if (f.empty() || f.find_first_of(" \t(),;") != std::string::npos) {
          error(at, "'" + f + "' is not a function name", "write name or schema.name, without arguments");
        }
      }
    }
  }

  void database_ok(const config& cfg, const database_config& db) {
    const std::string path = "databases." + db.name;
    if (r.failed_at(path, shape_errors)) return;  // not even a mapping
    if (db.name.empty()) error(path, "database name is empty");
    if (!failed(path + ".server_database") && db.server_database.empty()) {
      error(path + ".server_database", "is empty");
    }
    if (!failed(path + ".primary")) endpoint_ok(db.primary, path + ".primary");
    if (!db.server_password_env.empty()) {
      if (!db.server_password.empty()) {
        error(path + ".server_password_env", "conflicts with server_password; set only one");
      }
      env_name_ok(db.server_password_env, path + ".server_password_env");
    }
    replicas_ok(db, path);
    routing_ok(db, path);
    const pool_settings eff = apply(cfg.pool, db.pool);
    pool_ok(eff, db.pool, path + ".pool");
    for (const auto& [user, u] : db.users) {
      const std::string up = path + ".users." + user;
      if (user.empty()) error(up, "user name is empty");
      pool_ok(apply(eff, u.pool), u.pool, up + ".pool");
    }
  }

  void run(const config& cfg, const pool_overrides& global_pool) {
    listen_ok(cfg);
    auth_ok(cfg);
    tls_ok(cfg);
    pool_ok(cfg.pool, global_pool, "pool");
    // A missing key was already reported as required, which counts as failed here.
    if (!failed("databases") && cfg.databases.empty()) {
      error("databases", "at least one database is required");
    }
    for (const auto& [name, db] : cfg.databases) database_ok(cfg, db);
    check_auth_sources(cfg, {[this](const std::string& p) { return failed(p); },
                             [this](const std::string& p, std::string m, std::string h) {
                               error(p, std::move(m), std::move(h));
                             }});
  }
};

std::size_t osa_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment: Levenshtein plus adjacent transpositions ("szie" -> "size").
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::optional<duration> parse_duration(std::string_view text) {
  const auto [digits, unit] = split_number(text);
  const auto value = parse_u64(digits);
  if (!value) return std::nullopt;
  std::uint64_t ms_per_unit = 0;
  if (unit.empty()) {
    // A bare number is only unambiguous when it is zero.
    if (*value != 0) return std::nullopt;
    return duration{0};
  }
  if (unit == "ms")
    ms_per_unit = 1;
  else if (unit == "s")
    ms_per_unit = 1000;
  else if (unit == "m" || unit == "min")
    ms_per_unit = 60'000;
  else if (unit == "h")
    ms_per_unit = 3'600'000;
  else if (unit == "d")
    ms_per_unit = 86'400'000;
  else
    return std::nullopt;
  constexpr auto max_ms = static_cast<std::uint64_t>(std::numeric_limits<duration::rep>::max());
  if (*value > max_ms / ms_per_unit) return std::nullopt;
  return duration{static_cast<duration::rep>(*value * ms_per_unit)};
}

std::optional<std::uint64_t> parse_bytes(std::string_view text) {
  const auto [digits, unit] = split_number(text);
  const auto value = parse_u64(digits);
  if (!value) return std::nullopt;
  std::uint64_t multiplier = 0;
  if (unit.empty() || unit == "B")
    multiplier = 1;
  else if (unit == "kB" || unit == "KB")
    multiplier = 1ULL << 10;
  else if (unit == "MB")
    multiplier = 1ULL << 20;
  else if (unit == "GB")
    multiplier = 1ULL << 30;
  else if (unit == "TB")
    multiplier = 1ULL << 40;
  else
    return std::nullopt;
  if (*value > std::numeric_limits<std::uint64_t>::max() / multiplier) return std::nullopt;
  return *value * multiplier;
}

endpoint_parse parse_endpoint(std::string_view text) {
  endpoint_parse out;
  constexpr std::string_view unix_prefix = "unix:";
  if (text.substr(0, unix_prefix.size()) == unix_prefix) {
    const auto path = text.substr(unix_prefix.size());
    if (path.empty()) {
      out.error = "the unix socket path is empty";
    } else {
      out.value = endpoint{.host = {}, .port = 0, .unix_path = std::string{path}};
    }
    return out;
  }
  std::string_view host;
  std::string_view rest;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      out.error = "'" + std::string{text} + "' has no closing ']'";
      return out;
    }
    host = text.substr(1, close - 1);
    rest = text.substr(close + 1);
  } else {
    const auto colon = text.rfind(':');
    if (colon != std::string_view::npos && text.find(':') != colon) {
      out.error = "'" + std::string{text} + "': an IPv6 address needs brackets, e.g. [::1]:5432";
      return out;
    }
    host = colon == std::string_view::npos ? text : text.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon);
  }
  if (rest.empty() || rest.front() != ':') {
    out.error = "expected host:port or unix:/path, got '" + std::string{text} + "'";
    return out;
  }
  if (host.empty()) {
    out.error = "the host is empty in '" + std::string{text} + "'";
    return out;
  }
  if (host.find_first_of(" \t/") != std::string_view::npos) {
    out.error = "'" + std::string{host} + "' is not a valid host name or address";
    return out;
  }
  const auto port_text = rest.substr(1);
  const auto port = parse_u64(port_text);
  if (!port) {
    out.error = all_digits(port_text)
                    ? "port " + std::string{port_text} + " is out of range 1..65535"
                    : "port '" + std::string{port_text} + "' is not a number";
    return out;
  }
  if (*port == 0 || *port > 65535) {
    out.error = "port " + std::to_string(*port) + " is out of range 1..65535";
    return out;
  }
  out.value = endpoint{
      .host = std::string{host}, .port = static_cast<std::uint16_t>(*port), .unix_path = {}};
  return out;
}

std::string closest_match(std::string_view word, std::span<const std::string_view> candidates) {
  std::string best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  std::string prefix_match;
  for (const auto candidate : candidates) {
    const std::size_t d = osa_distance(word, candidate);
    // Allow about one edit per three characters, so short keys only match near-misses.
    const std::size_t limit = std::clamp<std::size_t>(candidate.size() / 3, 1, 3);
    if (d <= limit && d < word.size() && d < best_distance) {
      best = candidate;
      best_distance = d;
    }
    // "warning" for "warn", "scram" for "scram-sha-256": one word abbreviates or extends
    // the other, too far apart in edits but an obvious intent.
    const auto shorter = std::min(word.size(), candidate.size());
    if (prefix_match.empty() && shorter >= 3 &&
        word.substr(0, shorter) == candidate.substr(0, shorter)) {
      prefix_match = candidate;
    }
  }
  return best.empty() ? prefix_match : best;
}

load_result load_string(std::string_view yaml, const std::string& display_name,
                        const std::string& base_dir) {
  reader r{display_name, base_dir};
  config cfg;
  cfg.source_path = display_name;
  try {
    const YAML::Node root = YAML::Load(std::string{yaml});
    pool_overrides global_pool;
    if (read_root(r, root, cfg, global_pool)) checker{r, r.diags().size()}.run(cfg, global_pool);
  } catch (const YAML::Exception& e) {
    // Syntax errors (and yaml-cpp's depth guard) carry the position of the offending token.
    r.error(to_position(e.mark), "", "YAML syntax error: " + e.msg);
  }
  load_result out;
  out.errors = std::move(r.diags());
  std::stable_sort(out.errors.begin(), out.errors.end(),
                   [](const diagnostic& a, const diagnostic& b) {
                     return std::tie(a.line, a.column) < std::tie(b.line, b.column);
                   });
  if (out.errors.empty()) out.cfg = std::move(cfg);
  return out;
}

load_result load_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    const std::error_code ec{errno, std::generic_category()};
    load_result out;
    out.errors.push_back(diagnostic{path, 0, 0, "", "cannot read file: " + ec.message(), ""});
    return out;
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::error_code ec;
  auto dir = std::filesystem::absolute(path, ec).parent_path();
  if (ec) dir = std::filesystem::path{path}.parent_path();
  return load_string(text.str(), path, dir.lexically_normal().string());
}

}  // namespace pgrelay::conf
