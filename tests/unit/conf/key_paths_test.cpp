// known_key_paths(), derived from the per-level key tables, against a golden list of every key
// the loader accepts: a table wired to the wrong level, or a key dropped, shows up here. A key
// added to a table is added here too (and to docs/configuration.md, which load_test checks).
#include "pgrelay/conf/load.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <iterator>
#include <set>
#include <string>
#include <string_view>
#include <vector>

using namespace pgrelay::conf;

TEST_CASE("known_key_paths lists every accepted key once", "[conf][docs]") {
  const std::set<std::string_view> expected{
      "listen",
      "workers",
      "auth.method",
      "auth.users_file",
      "auth.admin_users",
      "auth.cache_ttl",
      "auth.user",
      "auth.password",
      "auth.password_env",
      "auth.database",
      "auth.query",
      "max_db_connections",
      "max_user_connections",
      "log.format",
      "log.level",
      "log.slow_query",
      "admin.http_listen",
      "tls.client.mode",
      "tls.client.cert",
      "tls.client.key",
      "tls.server.mode",
      "tls.server.ca",
      "tls.server.allow_password_without_tls",
      "auth_timeout",
      "max_pending_logins",
      "compact_parking_after",
      "shutdown_timeout",
      "max_prepared_per_server",
      "session_state.listen",
      "session_state.advisory_locks",
      "session_state.temp_tables",
      "session_state.with_hold_cursors",
      "session_state.set_role",
      "session_state.sql_prepare",
      "session_state.set_in_transaction",
      "pool.mode",
      "pool.size",
      "pool.max_size",
      "pool.min_idle",
      "pool.max_clients",
      "pool.connect_timeout",
      "pool.wait_timeout",
      "pool.server_idle_timeout",
      "pool.server_lifetime",
      "pool.server_max_uses",
      "pool.query_timeout",
      "pool.idle_in_transaction_timeout",
      "databases.*.server_database",
      "databases.*.primary",
      "databases.*.replicas[].name",
      "databases.*.replicas[].address",
      "databases.*.replicas[].roles",
      "databases.*.replicas[].max_lag.bytes",
      "databases.*.replicas[].max_lag.time",
      "databases.*.server_user",
      "databases.*.server_password",
      "databases.*.server_password_env",
      "databases.*.server_login",
      "databases.*.max_db_connections",
      "databases.*.auth.user",
      "databases.*.auth.password",
      "databases.*.auth.password_env",
      "databases.*.auth.database",
      "databases.*.auth.query",
      "databases.*.pool",
      "databases.*.users.*.pool",
      "databases.*.routing.enabled",
      "databases.*.routing.check_interval",
      "databases.*.routing.fallback",
      "databases.*.routing.read_your_writes",
      "databases.*.routing.read_your_writes_wait",
      "databases.*.routing.balance",
      "databases.*.routing.health_user",
      "databases.*.routing.health_password",
      "databases.*.routing.rules[].user",
      "databases.*.routing.rules[].application_name",
      "databases.*.routing.rules[].kind",
      "databases.*.routing.rules[].route",
      "databases.*.routing.functions.writes",
      "databases.*.routing.functions.read_only",
  };
  const auto paths = known_key_paths();
  const std::set<std::string_view> got(paths.begin(), paths.end());
  CHECK(got.size() == paths.size());  // no path twice
  std::vector<std::string_view> missing;
  std::vector<std::string_view> extra;
  std::set_difference(expected.begin(), expected.end(), got.begin(), got.end(), std::back_inserter(missing));
  std::set_difference(got.begin(), got.end(), expected.begin(), expected.end(), std::back_inserter(extra));
  CHECK(missing == std::vector<std::string_view>{});
  CHECK(extra == std::vector<std::string_view>{});
}
