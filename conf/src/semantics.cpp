// The semantic pass of pgrelay.yaml: ranges and cross-field rules over the plain values the
// shape pass read, each error placed at the key it blames. Keys that already failed the shape
// pass are not judged again.
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "load_auth.hpp"
#include "passes.hpp"

namespace pgrelay::conf::detail {

namespace {

// A health check interval above this would leave a dead replica in rotation for minutes.
constexpr duration max_check_interval{60'000};

// Linux sun_path is 108 bytes including the terminating NUL.
constexpr std::size_t max_unix_path = 107;

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

}  // namespace

void check_semantics(reader& r, std::size_t shape_errors, const config& cfg,
                     const pool_overrides& global_pool) {
  checker{r, shape_errors}.run(cfg, global_pool);
}

}  // namespace pgrelay::conf::detail
