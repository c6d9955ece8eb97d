// Semantic checks of where users come from (users file, auth.query) and how each database logs
// in to Postgres (server_login), with one message and one fix per mistake. Plain values only.
#include "load_auth.hpp"

#include <algorithm>

namespace pgrelay::conf {

auth_query_config config::auth_query_for(const database_config& db) const {
  auth_query_config out = auth.query;
  if (!db.auth) return out;
  const auto& here = *db.auth;
  if (!here.user.empty()) {
    out.user = here.user;
    out.password = here.password;
    out.password_env = here.password_env;
  } else {
    if (!here.password.empty()) out.password = here.password;
    if (!here.password_env.empty()) out.password_env = here.password_env;
  }
  if (!here.database.empty()) out.database = here.database;
  if (!here.query.empty()) out.query = here.query;
  return out;
}

void default_server_login(database_config& db, bool written) {
  if (!written) db.login = db.server_user.empty() ? server_login::passthrough : server_login::fixed;
}

namespace {

void check_query_source(const auth_query_config& q, const std::string& path, const auth_check_io& io) {
  if (!q.password.empty() && !q.password_env.empty() && !io.failed(path + ".password_env")) {
    io.error(path + ".password_env", "conflicts with " + path + ".password; set only one", "");
  }
  if (!q.query.empty() && q.query.find("$1") == std::string::npos && !io.failed(path + ".query")) {
    io.error(path + ".query", "the query must take the user name as $1 (it is bound, never spliced in)",
             "e.g. SELECT username, verifier, can_login, expired FROM pgrelay.user_lookup($1)");
  }
}

void check_database_login(const config& cfg, const database_config& db, const auth_check_io& io) {
  const std::string path = "databases." + db.name;
  if (db.login == server_login::fixed) {
    if (db.server_user.empty() && !io.failed(path + ".server_user")) {
      io.error(path + ".server_user", "is required with server_login: fixed",
               "set server_user (and server_password_env), or server_login: passthrough to log each client in as itself");
    }
    return;
  }
  if (!db.server_user.empty() && !io.failed(path + ".server_user")) {
    io.error(path + ".server_user", "is not used with server_login: passthrough (each client logs in as itself)",
             "remove server_user and server_password, or set server_login: fixed");
  }
  if (cfg.auth.method == auth_method::trust && !io.failed("auth.method")) {
    io.error(path + ".server_login", "passthrough needs auth.method: scram-sha-256 (a trusted client proves nothing "
             "pgrelay could pass on)", "set auth.method: scram-sha-256, or server_login: fixed");
  }
  if (db.routing.enabled && !db.replicas.empty() && db.routing.health_user.empty() &&
      !cfg.auth_query_for(db).enabled() && !io.failed(path + ".routing")) {
    io.error(path + ".routing.health_user", "is required with server_login: passthrough and replicas (the health "
             "checker has no server_user to log in as)", "set routing.health_user, or auth.user (it is used then)");
  }
}

}  // namespace

void check_auth_sources(const config& cfg, const auth_check_io& io) {
  const bool any_query = cfg.auth.query.enabled() ||
                         std::any_of(cfg.databases.begin(), cfg.databases.end(),
                                     [&](const auto& kv) { return cfg.auth_query_for(kv.second).enabled(); });
  if (cfg.auth.method == auth_method::scram_sha_256 && cfg.auth.users_file.empty() && !any_query &&
      !io.failed("auth")) {
    io.error("auth.users_file", "no source of users: set auth.users_file, or auth.user to fetch them from Postgres "
             "(auth.query), or both", "docs/authentication.md sets up auth.user in three statements");
  }
  if (!io.failed("auth")) check_query_source(cfg.auth.query, "auth", io);
  if (cfg.auth.cache_ttl.count() > 60'000 && !io.failed("auth.cache_ttl")) {
    io.error("auth.cache_ttl", "must be at most 60s: an old password keeps working for this long after a change", "");
  }
  for (const auto& [name, db] : cfg.databases) {
    const std::string path = "databases." + name;
    if (io.failed(path)) continue;
    if (db.auth) {
      if (!io.failed(path + ".auth")) check_query_source(*db.auth, path + ".auth", io);
      if (!cfg.auth_query_for(db).enabled() && !io.failed(path + ".auth")) {
        io.error(path + ".auth.user", "is required: auth.query needs a role to run the lookup as",
                 "set it here or as auth.user");
      }
    }
    check_database_login(cfg, db, io);
  }
}

}  // namespace pgrelay::conf
