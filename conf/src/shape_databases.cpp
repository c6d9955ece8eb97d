// The shape pass under `databases`: each database with its replicas, routing (rules, function
// lists) and per-user pool overrides. Types and keys only; cross-field rules are semantics.
#include <string>
#include <utility>
#include <vector>

#include "key_tables.hpp"
#include "load_auth.hpp"
#include "passes.hpp"

namespace pgrelay::conf::detail {

namespace {

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

}  // namespace

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

}  // namespace pgrelay::conf::detail
