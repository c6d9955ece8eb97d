// The auth.query, server_login and connection-limit keys of pgrelay.yaml: shape readers (templates
// over yaml_reader.hpp's reader, so they share its diagnostics and positions) and the semantic checks.
// Internal to conf/; no YAML type leaves it, nothing here logs or reads the environment.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <string_view>

#include "pgrelay/conf/config.hpp"

namespace pgrelay::conf::auth_keys_detail {

using namespace std::string_view_literals;

// Keys an auth.query source accepts: at `auth` (besides method, users_file, admin_users,
// cache_ttl) and under `databases.<name>.auth`.
inline constexpr std::array query_keys{"user"sv, "password"sv, "password_env"sv, "database"sv, "query"sv};
inline constexpr std::array server_login_names{"fixed"sv, "passthrough"sv};

// One auth.query key; false when `name` is not one of query_keys.
template <class Reader, class Node, class Position>
bool read_query_key(Reader& r, std::string_view name, const Node& v, const std::string& p, Position at,
                    auth_query_config& out) {
  std::string* field = name == "user"           ? &out.user
                       : name == "password"     ? &out.password
                       : name == "password_env" ? &out.password_env
                       : name == "database"     ? &out.database
                       : name == "query"        ? &out.query
                                                : nullptr;
  if (!field) return false;
  if (auto s = r.read_string(v, p, at)) *field = *s;
  return true;
}

// `databases.<name>.auth`: what this database changes of the global auth.query source; unset
// keys inherit (config::auth_query_for merges the two).
template <class Reader, class Node, class Position>
void read_database_auth(Reader& r, const Node& node, const std::string& path, Position pos, database_config& db) {
  auth_query_config here;
  here.query.clear();
  r.read_map(node, path, pos, query_keys,
             [&](std::string_view name, const Node& v, const std::string& p, Position at) {
               read_query_key(r, name, v, p, at, here);
             });
  db.auth = std::move(here);
}

template <class Reader, class Node, class Position>
void read_server_login(Reader& r, const Node& v, const std::string& p, Position at, database_config& db) {
  if (auto i = r.read_enum(v, p, at, server_login_names))
    db.login = *i == 0 ? server_login::fixed : server_login::passthrough;
}

}  // namespace pgrelay::conf::auth_keys_detail

namespace pgrelay::conf {

// After a database was read: the login mode it gets when server_login is not written (fixed
// when it names a server_user, as every configuration did before pass-through existed).
void default_server_login(database_config& db, bool written);

// Semantic checks of authentication sources, server logins and limits. `failed(path)` says a
// key already has a shape error (stay quiet there); `error(path, message, hint)` reports one.
struct auth_check_io {
  std::function<bool(const std::string&)> failed;
  std::function<void(const std::string&, std::string, std::string)> error;
};
void check_auth_sources(const config& cfg, const auth_check_io& io);

}  // namespace pgrelay::conf
