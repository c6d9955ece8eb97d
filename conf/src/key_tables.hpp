// The keys pgrelay.yaml accepts at each level and the names each enum value is written as: the
// single source for unknown-key checks, their hints and known_key_paths(). Internal to conf/.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string_view>

#include "load_auth.hpp"
#include "pgrelay/conf/config.hpp"

namespace pgrelay::conf::detail {

using namespace std::string_view_literals;
using key_list = std::span<const std::string_view>;

// ---- accepted keys per level ---------------------------------------------------------------

inline constexpr std::array top_keys{"listen"sv,        "workers"sv,          "auth"sv,
                                     "log"sv,           "auth_timeout"sv,     "shutdown_timeout"sv,
                                     "pool"sv,          "databases"sv,        "session_state"sv,
                                     "max_prepared_per_server"sv, "admin"sv, "tls"sv,
                                     "max_pending_logins"sv, "max_db_connections"sv,
                                     "max_user_connections"sv, "compact_parking_after"sv};
inline constexpr auto session_state_key_names = [] {
  std::array<std::string_view, session_state_keys.size()> names{};
  for (std::size_t i = 0; i < names.size(); ++i) names[i] = session_state_keys[i].key;
  return names;
}();
inline constexpr std::array auth_keys{"method"sv,   "users_file"sv,   "admin_users"sv,
                                      "cache_ttl"sv, "user"sv,        "password"sv,
                                      "password_env"sv, "database"sv, "query"sv};
inline constexpr std::array admin_keys{"http_listen"sv};
inline constexpr std::array tls_keys{"client"sv, "server"sv};
inline constexpr std::array tls_client_keys{"mode"sv, "cert"sv, "key"sv};
inline constexpr std::array tls_server_keys{"mode"sv, "ca"sv, "allow_password_without_tls"sv};
inline constexpr std::array log_keys{"format"sv, "level"sv, "slow_query"sv};
inline constexpr std::array pool_keys{"mode"sv,
                                      "size"sv,
                                      "max_size"sv,
                                      "min_idle"sv,
                                      "max_clients"sv,
                                      "connect_timeout"sv,
                                      "wait_timeout"sv,
                                      "server_idle_timeout"sv,
                                      "server_lifetime"sv,
                                      "server_max_uses"sv,
                                      "query_timeout"sv,
                                      "idle_in_transaction_timeout"sv};
inline constexpr std::array database_keys{
    "server_database"sv,     "primary"sv, "replicas"sv, "server_user"sv, "server_password"sv,
    "server_password_env"sv, "pool"sv,    "users"sv,    "routing"sv,     "server_login"sv,
    "auth"sv,                "max_db_connections"sv};
inline constexpr std::array replica_keys{"name"sv, "address"sv, "roles"sv, "max_lag"sv};
inline constexpr std::array max_lag_keys{"bytes"sv, "time"sv};
inline constexpr std::array routing_keys{"enabled"sv,          "check_interval"sv, "fallback"sv,
                                         "read_your_writes"sv, "balance"sv,        "health_user"sv,
                                         "health_password"sv,  "rules"sv,          "functions"sv,
                                         "read_your_writes_wait"sv};
inline constexpr std::array rule_keys{"user"sv, "application_name"sv, "kind"sv, "route"sv};
inline constexpr std::array function_keys{"writes"sv, "read_only"sv};
inline constexpr std::array user_keys{"pool"sv};

// One mapping level of the file: its path as a pattern ("" is the root, "*" any name, "[]" any
// list item) and the keys it accepts. A key with a level of its own under it is a branch; every
// other key is one path of known_key_paths(). The pool overrides under a database or user are
// one path each ("databases.*.pool"): the docs describe them as "any pool key" once.
struct key_level {
  std::string_view path;
  key_list keys;
};
inline constexpr std::array key_levels{
    key_level{""sv, top_keys},
    key_level{"auth"sv, auth_keys},
    key_level{"log"sv, log_keys},
    key_level{"admin"sv, admin_keys},
    key_level{"tls"sv, tls_keys},
    key_level{"tls.client"sv, tls_client_keys},
    key_level{"tls.server"sv, tls_server_keys},
    key_level{"session_state"sv, session_state_key_names},
    key_level{"pool"sv, pool_keys},
    key_level{"databases.*"sv, database_keys},
    key_level{"databases.*.replicas[]"sv, replica_keys},
    key_level{"databases.*.replicas[].max_lag"sv, max_lag_keys},
    key_level{"databases.*.auth"sv, auth_keys_detail::query_keys},
    key_level{"databases.*.users.*"sv, user_keys},
    key_level{"databases.*.routing"sv, routing_keys},
    key_level{"databases.*.routing.rules[]"sv, rule_keys},
    key_level{"databases.*.routing.functions"sv, function_keys},
};

// ---- the names enum values are written as, in enum order -----------------------------------

inline constexpr std::array pin_policy_names{"pin"sv, "warn"sv, "reject"sv};
inline constexpr std::array client_tls_mode_names{"disable"sv, "allow"sv, "require"sv};
inline constexpr std::array server_tls_mode_names{"disable"sv, "prefer"sv, "require"sv,
                                                  "verify-ca"sv, "verify-full"sv};
inline constexpr std::array rule_kind_names{"any"sv, "statement"sv, "transaction"sv};
inline constexpr std::array fallback_names{"primary"sv, "error"sv};
inline constexpr std::array read_your_writes_names{"session"sv, "user"sv, "database"sv, "off"sv};
inline constexpr std::array read_your_writes_scopes{
    read_your_writes_scope::session, read_your_writes_scope::user,
    read_your_writes_scope::database, read_your_writes_scope::off};
inline constexpr std::array balance_names{"session"sv, "statement"sv};
inline constexpr std::array pool_mode_names{"session"sv, "transaction"sv};
inline constexpr std::array auth_method_names{"scram-sha-256"sv, "trust"sv};
inline constexpr std::array log_format_names{"text"sv, "json"sv};
inline constexpr std::array log_level_names{"trace"sv, "debug"sv, "info"sv, "warn"sv, "error"sv};

}  // namespace pgrelay::conf::detail
