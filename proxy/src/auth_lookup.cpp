// auth.query: one kept-open connection per worker and auth source, the lookup with the user name
// bound as $1, and a reading of the row that names every way it can be unusable.
#include "auth_lookup.hpp"

#include <spdlog/spdlog.h>

#include <array>

#include "pgrelay/core/log_text.hpp"
#include "pgrelay/protocol/errors.hpp"
#include "server_connection.hpp"
#include "worker.hpp"

namespace pgrelay::proxy {

namespace {

bool is_true(std::string_view v) { return v == "t" || v == "true" || v == "on" || v == "1"; }

// What the query's row says. Columns: name, verifier[, can_login[, expired]].
user_secret read_row(const server_connection& c, const std::string& user, const std::string& where) {
  user_secret out;
  out.source = "auth.query";
  if (c.internal_rows() == 0) {
    out.detail = "no role \"" + core::log_escape(user) + "\" in the users file or in Postgres (" + where + ")";
    return out;
  }
  const auto& v = c.internal_values();
  const std::size_t columns = v.size() / c.internal_rows();
  if (columns < 2) {
    out.what = user_secret::kind::failed;
    out.detail = "auth.query returned " + std::to_string(columns) +
                 " column(s); it must return name, verifier[, can_login[, expired]]";
    return out;
  }
  const std::string& verifier = v[1];
  if (columns >= 3 && !is_true(v[2])) {
    out.what = user_secret::kind::refused;
    out.detail = "role \"" + core::log_escape(user) + "\" is NOLOGIN in Postgres";
  } else if (columns >= 4 && is_true(v[3])) {
    out.what = user_secret::kind::refused;
    out.detail = "role \"" + core::log_escape(user) + "\" has expired (VALID UNTIL is in the past)";
  } else if (verifier.empty()) {
    out.what = user_secret::kind::unusable;
    out.detail = "role \"" + core::log_escape(user) + "\" has no password in Postgres";
  } else if (verifier.starts_with("md5")) {
    out.what = user_secret::kind::unusable;
    out.detail = "role \"" + core::log_escape(user) +
                 "\" has an MD5 password in Postgres; SCRAM cannot check it: SET password_encryption = "
                 "'scram-sha-256' and set its password again";
  } else if (!verifier.starts_with("SCRAM-SHA-256$")) {
    out.what = user_secret::kind::unusable;
    out.detail = "role \"" + core::log_escape(user) + "\": auth.query's second column is not a SCRAM verifier";
  } else {
    out.what = user_secret::kind::found;
    out.verifier = verifier;
  }
  return out;
}

// The query failed: say what to change, from the SQLSTATE.
std::string query_failure(const server_error& err, const conf::auth_query_config& q, const std::string& where) {
  const std::string code = err.sqlstate;
  std::string fix;
  if (code == "42883" || code == "3F000" || code == "42P01") {
    fix = "create the lookup function there (docs/authentication.md), or point auth.database / auth.query elsewhere";
  } else if (code == "42501") {
    fix = "GRANT EXECUTE ON FUNCTION pgrelay.user_lookup(text) TO " + q.user + " (or whatever auth.query calls)";
  } else if (code.starts_with("28")) {
    fix = "check auth.user and auth.password / auth.password_env";
  } else {
    fix = "check auth.query";
  }
  return "auth.query as \"" + q.user + "\" on " + where + " failed: " + err.message + " (" + code + "); " + fix;
}

awaitable<user_secret> fetch(worker& w, const conf::config& cfg, const conf::database_config& db,
                             const conf::auth_query_config& q, const std::string& user) {
  server_target t{db.primary, q.database.empty() ? db.server_database : q.database, q.user, q.password, {},
                  w.current_tls(), cfg.tls.server_allow_password_without_tls};
  const std::string where = "database \"" + t.database + "\" at " + t.address.to_string();
  const std::string key = t.address.to_string() + "/" + t.database + "/" + t.user;
  const std::array<std::string_view, 1> params{user};
  const millis timeout = cfg.auth_timeout;
  server_error err;
  // A kept connection may have died meanwhile: one more try on a fresh one.
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto conn = w.take_auth_connection(key);
    const bool reused = conn != nullptr;
    if (!conn) {
      conn = std::make_unique<server_connection>(w.io().get_executor());
      if (auto open_err = co_await conn->open(t, timeout)) {
        co_return user_secret{user_secret::kind::failed, {}, "auth.query", query_failure(open_err, q, where)};
      }
    }
    err = co_await conn->run_bound(q.query, params, timeout);
    if (!err) {
      auto secret = read_row(*conn, user, where);
      w.keep_auth_connection(key, std::move(conn));
      co_return secret;
    }
    conn->close();
    if (!reused || !err.sqlstate.starts_with("08")) break;
  }
  co_return user_secret{user_secret::kind::failed, {}, "auth.query", query_failure(err, q, where)};
}

}  // namespace

awaitable<user_secret> find_user_secret(worker& w, const conf::config& cfg, const std::string& database,
                                        const std::string& user) {
  const auto& users = *w.current_users();
  if (auto it = users.find(user); it != users.end()) {
    co_return user_secret{user_secret::kind::found, it->second.scram_verifier, "users file", {}};
  }
  auto db = cfg.databases.find(database);
  // The admin console is no configured database: its users are looked up with the global
  // auth.query on the first database's primary.
  const bool console = db == cfg.databases.end() && cfg.auth.query.enabled() && !cfg.databases.empty();
  if (console) db = cfg.databases.begin();
  const auto q = console                        ? cfg.auth.query
                 : db == cfg.databases.end() ? conf::auth_query_config{}
                                             : cfg.auth_query_for(db->second);
  if (!q.enabled()) {
    co_return user_secret{user_secret::kind::unknown, {}, "users file",
                          "no user \"" + core::log_escape(user) + "\" in the users file (and no auth.query for database \"" +
                              core::log_escape(database) + "\")"};
  }
  if (auto hit = w.shared().cached_verifier(database, user, cfg.auth.cache_ttl)) {
    co_return user_secret{user_secret::kind::found, std::move(*hit), "auth.query", {}};
  }
  auto secret = co_await fetch(w, cfg, db->second, q, user);
  if (secret.what == user_secret::kind::found) w.shared().cache_verifier(database, user, secret.verifier);
  co_return secret;
}

std::shared_ptr<protocol::scram_login_secret> login_secret_or_mock(worker& w, user_secret& secret,
                                                                         const std::string& user, bool& known) {
  known = false;
  if (secret.what == user_secret::kind::found) {
    if (auto prepared = w.login_secret(secret.verifier)) {
      known = true;
      return prepared;
    }
    secret.detail = "the verifier for \"" + core::log_escape(user) + "\" from " + secret.source + " does not parse";
  }
  static const std::string mock_secret = protocol::random_bytes(32);
  return std::make_shared<protocol::scram_login_secret>(protocol::mock_scram_verifier(user, mock_secret));
}

void forget_user_secret(worker& w, const std::string& database, const std::string& user) {
  w.shared().forget_verifier(database, user);
}

}  // namespace pgrelay::proxy
