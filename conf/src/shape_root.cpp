// The shape pass at the top of pgrelay.yaml: the root mapping and the global sections (pool,
// auth, tls, log, session_state). Types and keys only; ranges are the semantic pass's job.
#include <cstdint>
#include <limits>
#include <string>

#include "key_tables.hpp"
#include "load_auth.hpp"
#include "number_text.hpp"
#include "passes.hpp"

namespace pgrelay::conf::detail {

namespace {

// Far above any core count; catches a mistyped number before it spawns thousands of threads.
constexpr std::uint32_t max_workers = 1024;

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

void read_auth(reader& r, const YAML::Node& node, const std::string& path, position pos,
               auth_config& out) {
  r.read_map(node, path, pos, auth_keys,
             [&](std::string_view name, const YAML::Node& v, const std::string& p, position at) {
               if (name == "method") {
                 if (auto i = r.read_enum(v, p, at, auth_method_names)) {
                   out.method = *i == 0 ? auth_method::scram_sha_256 : auth_method::trust;
                 }
               } else if (name == "users_file") {
                 if (auto s = r.read_string(v, p, at)) out.users_file = r.resolve(*s);
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
                                    r.resolve(*s);
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
                                out.server_ca = r.resolve(*s);
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

// One top-level key of the document.
void read_top_key(reader& r, std::string_view name, const YAML::Node& v, const std::string& p,
                  position at, config& cfg, pool_overrides& global_pool) {
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
  } else if (name == "compact_parking_after") {
    if (auto n = r.read_u32(v, p, at)) cfg.compact_parking_after = *n;
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
}

}  // namespace

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
        read_top_key(r, name, v, p, at, cfg, global_pool);
      });
  r.require(seen, "", root_pos, "listen");
  r.require(seen, "", root_pos, "databases");
  cfg.pool = apply(pool_settings{}, global_pool);
  return seen.has_value();
}

}  // namespace pgrelay::conf::detail
