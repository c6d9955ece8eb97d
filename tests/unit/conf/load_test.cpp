// Valid configurations: the packaged example, defaults, path resolution and the
// global -> database -> user precedence of pool settings.
#include "diagnostics_text.hpp"
#include "pgrelay/conf/load.hpp"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "pgrelay/conf/users.hpp"

using namespace pgrelay::conf;
using pgrelay::conf::testing::all;
using namespace std::chrono_literals;

namespace {

const std::string packaging_dir = PGRELAY_TEST_DATA "/../../../packaging";

config must_load(std::string_view yaml, const std::string& base_dir = "/etc/pgrelay") {
  auto result = load_string(yaml, "test.yaml", base_dir);
  INFO(all(result.errors));
  REQUIRE(result.ok());
  REQUIRE(result.errors.empty());
  return *result.cfg;
}

constexpr std::string_view minimal = R"(
listen: [127.0.0.1:6432]
auth: {method: trust}
databases:
  app: {primary: 127.0.0.1:5432, server_user: app}
)";

}  // namespace

TEST_CASE("the packaged example config loads with the documented values", "[conf]") {
  const auto result = load_file(packaging_dir + "/pgrelay.yaml");
  INFO(all(result.errors));
  REQUIRE(result.ok());
  const config& cfg = *result.cfg;

  REQUIRE(cfg.listen.size() == 2);
  CHECK(cfg.listen[0].host == "127.0.0.1");
  CHECK(cfg.listen[0].port == 6432);
  CHECK(cfg.listen[1].is_unix());
  CHECK(cfg.listen[1].unix_path == "/tmp/.s.PGSQL.6432");
  CHECK(cfg.workers == 0);
  CHECK(cfg.auth.method == auth_method::scram_sha_256);
  CHECK(cfg.auth.admin_users == std::vector<std::string>{"admin"});
  CHECK(cfg.log.format == log_format::text);
  CHECK(cfg.log.level == "info");
  CHECK(cfg.auth_timeout == 10s);
  CHECK(cfg.shutdown_timeout == 30s);

  CHECK(cfg.pool.mode == pool_mode::transaction);
  CHECK(cfg.pool.size == 20);
  CHECK(cfg.pool.min_idle == 2);
  CHECK(cfg.pool.max_clients == 10000);
  CHECK(cfg.pool.connect_timeout == 5s);
  CHECK(cfg.pool.wait_timeout == 10s);
  CHECK(cfg.pool.server_idle_timeout == 30s);
  CHECK(cfg.pool.server_lifetime == 1h);
  CHECK(cfg.pool.server_max_uses == 7500);
  CHECK(cfg.pool.query_timeout == 0ms);
  CHECK(cfg.pool.idle_in_transaction_timeout == 0ms);

  REQUIRE(cfg.databases.count("app") == 1);
  const auto& app = cfg.databases.at("app");
  CHECK(app.name == "app");
  CHECK(app.server_database == "app");
  CHECK(app.primary.to_string() == "127.0.0.1:5432");
  REQUIRE(app.replicas.size() == 1);
  CHECK(app.replicas[0].name == "replica-1");
  CHECK(app.replicas[0].address.to_string() == "127.0.0.1:5433");
  CHECK(app.replicas[0].roles == std::vector<std::string>{"read"});
  CHECK(app.server_user.empty());
  CHECK(app.login == server_login::passthrough);
  CHECK(app.max_db_connections == 50);
  CHECK(cfg.auth.query.user == "pgrelay_auth");
  CHECK(cfg.auth.query.password_env == "PGRELAY_AUTH_PASSWORD");
  CHECK(cfg.auth.cache_ttl == 5s);
  CHECK(cfg.pool_for("app", "app").size == 10);
  CHECK(cfg.pool_for("app", "migrator").mode == pool_mode::session);
  CHECK(cfg.pool_for("app", "migrator").size == 2);
}

TEST_CASE("users_file resolves against the config's directory, and the packaged one loads",
          "[conf]") {
  const auto result = load_file(packaging_dir + "/pgrelay.yaml");
  REQUIRE(result.ok());
  const std::filesystem::path users_file = result.cfg->auth.users_file;
  CHECK(users_file.is_absolute());
  CHECK(users_file.filename() == "users.yaml");
  CHECK(std::filesystem::equivalent(users_file, packaging_dir + "/users.yaml"));

  const auto users = load_users_file(users_file.string());
  INFO(all(users.errors));
  REQUIRE(users.ok());
  CHECK(users.users->count("app") == 1);
  CHECK(users.users->count("admin") == 1);
}

TEST_CASE("server_login: fixed when server_user is written (old configs), else passthrough", "[conf]") {
  const auto cfg = must_load(R"(
listen: [127.0.0.1:6432]
auth: {user: pgrelay_auth}
databases:
  old: {primary: 127.0.0.1:5432, server_user: app}
  new: {primary: 127.0.0.1:5432}
  explicit: {primary: 127.0.0.1:5432, server_user: app, server_login: fixed}
  per_db: {primary: 127.0.0.1:5432, auth: {user: other, database: postgres}}
)");
  CHECK(cfg.databases.at("old").login == server_login::fixed);
  CHECK(cfg.databases.at("new").login == server_login::passthrough);
  CHECK(cfg.databases.at("explicit").login == server_login::fixed);
  CHECK(cfg.auth.users_file.empty());
  CHECK(cfg.auth_query_for(cfg.databases.at("new")).user == "pgrelay_auth");
  const auto per_db = cfg.auth_query_for(cfg.databases.at("per_db"));
  CHECK(per_db.user == "other");
  CHECK(per_db.database == "postgres");
  CHECK(per_db.query == auth_query_config{}.query);
}

TEST_CASE("relative paths resolve against base_dir; absolute ones are kept", "[conf]") {
  const auto cfg = must_load(R"(
listen: ["unix:run/pgrelay.sock", "unix:/run/abs.sock"]
auth: {users_file: ../secrets/users.yaml}
databases:
  app: {primary: "unix:/var/run/postgresql/.s.PGSQL.5432", server_user: app}
)",
                             "/etc/pgrelay");
  CHECK(cfg.auth.users_file == "/etc/secrets/users.yaml");
  CHECK(cfg.listen[0].unix_path == "/etc/pgrelay/run/pgrelay.sock");
  CHECK(cfg.listen[1].unix_path == "/run/abs.sock");
  CHECK(cfg.databases.at("app").primary.unix_path == "/var/run/postgresql/.s.PGSQL.5432");

  const auto kept = must_load(R"(
listen: ["unix:rel.sock"]
auth: {users_file: users.yaml}
databases: {app: {primary: 127.0.0.1:5432, server_user: app}}
)",
                              "");
  CHECK(kept.auth.users_file == "users.yaml");
  CHECK(kept.listen[0].unix_path == "rel.sock");
}

TEST_CASE("omitted keys take their defaults", "[conf]") {
  const auto cfg = must_load(minimal);
  const pool_settings defaults{};
  CHECK(cfg.workers == 0);
  CHECK(cfg.auth.method == auth_method::trust);
  CHECK(cfg.auth.admin_users.empty());
  CHECK(cfg.log.format == log_format::text);
  CHECK(cfg.log.level == "info");
  CHECK(cfg.auth_timeout == 10s);
  CHECK(cfg.shutdown_timeout == 30s);
  CHECK(cfg.pool.mode == pool_mode::transaction);
  CHECK(cfg.pool.size == 20);
  CHECK(cfg.pool.min_idle == 0);
  CHECK(cfg.pool.max_clients == 10000);
  CHECK(cfg.pool.connect_timeout == 5s);
  CHECK(cfg.pool.wait_timeout == 10s);
  CHECK(cfg.pool.server_idle_timeout == 30s);
  CHECK(cfg.pool.server_lifetime == 1h);
  CHECK(cfg.pool.server_max_uses == 0);
  CHECK(cfg.pool.query_timeout == 0ms);
  CHECK(cfg.pool.idle_in_transaction_timeout == 0ms);
  const auto& app = cfg.databases.at("app");
  CHECK(app.server_database == "app");
  CHECK(app.replicas.empty());
  CHECK(app.server_password.empty());
  CHECK(app.server_password_env.empty());
  CHECK(app.users.empty());
  CHECK(cfg.pool_for("app", "anyone").size == defaults.size);
  CHECK(cfg.source_path == "test.yaml");
}

TEST_CASE("a replica's roles default to [read]; server_database may differ from the key",
          "[conf]") {
  const auto cfg = must_load(R"(
listen: ["[::1]:6432"]
auth: {method: trust}
workers: 4
log: {format: json, level: debug}
databases:
  shop:
    server_database: shop_prod
    primary: db1.internal:5432
    server_user: shop
    server_password: "s3cret"
    replicas:
      - {name: a, address: db2.internal:5432}
)");
  CHECK(cfg.listen[0].host == "::1");
  CHECK(cfg.listen[0].to_string() == "[::1]:6432");
  CHECK(cfg.workers == 4);
  CHECK(cfg.log.format == log_format::json);
  CHECK(cfg.log.level == "debug");
  const auto& shop = cfg.databases.at("shop");
  CHECK(shop.name == "shop");
  CHECK(shop.server_database == "shop_prod");
  CHECK(shop.server_password == "s3cret");
  CHECK(shop.replicas[0].roles == std::vector<std::string>{"read"});
}

TEST_CASE("pool_for: user overrides database overrides global", "[conf]") {
  const auto cfg = must_load(R"(
listen: [127.0.0.1:6432]
auth: {method: trust}
pool: {mode: transaction, size: 30, min_idle: 3, query_timeout: 1m}
databases:
  app:
    primary: 127.0.0.1:5432
    server_user: app
    pool: {size: 10, wait_timeout: 2s}
    users:
      migrator: {pool: {mode: session, size: 4, query_timeout: 0}}
      quiet: {}
  other:
    primary: 127.0.0.1:5432
    server_user: other
)");
  SECTION("global only") {
    const auto p = cfg.pool_for("other", "x");
    CHECK(p.mode == pool_mode::transaction);
    CHECK(p.size == 30);
    CHECK(p.min_idle == 3);
    CHECK(p.query_timeout == 1min);
    CHECK(p.wait_timeout == 10s);
  }
  SECTION("database overrides global, the rest inherited") {
    const auto p = cfg.pool_for("app", "someone");
    CHECK(p.size == 10);
    CHECK(p.wait_timeout == 2s);
    CHECK(p.min_idle == 3);
    CHECK(p.query_timeout == 1min);
  }
  SECTION("user overrides database and global, the rest inherited") {
    const auto p = cfg.pool_for("app", "migrator");
    CHECK(p.mode == pool_mode::session);
    CHECK(p.size == 4);
    CHECK(p.query_timeout == 0ms);
    CHECK(p.wait_timeout == 2s);
    CHECK(p.min_idle == 3);
  }
  SECTION("a user with no overrides gets the database's settings") {
    CHECK(cfg.pool_for("app", "quiet").size == 10);
  }
  SECTION("an unknown database gets the global settings") {
    CHECK(cfg.pool_for("nope", "migrator").size == 30);
  }
}

TEST_CASE("apply() only replaces fields that are set", "[conf]") {
  pool_settings base;
  base.size = 7;
  pool_overrides over;
  over.server_max_uses = 100;
  const auto out = apply(base, over);
  CHECK(out.size == 7);
  CHECK(out.server_max_uses == 100);
  CHECK(out.mode == base.mode);
}

TEST_CASE("docs/configuration.md documents every key the loader accepts", "[conf][docs]") {
  std::ifstream in{PGRELAY_TEST_DATA "/../../../docs/configuration.md"};
  REQUIRE(in);
  std::ostringstream text;
  text << in.rdbuf();
  const std::string doc = text.str();
  for (const auto key : known_key_paths()) {
    INFO(key);
    CHECK(doc.find("`" + std::string{key} + "`") != std::string::npos);
  }
}

TEST_CASE("size: auto with max_size, and a number overriding it per level", "[conf]") {
  const auto cfg = must_load(R"(
listen: [127.0.0.1:6432]
auth: {method: trust}
pool: {size: auto, max_size: 30}
databases:
  app:
    primary: 127.0.0.1:5432
    server_user: app
    users: {batch: {pool: {size: 5}}}
  reports:
    primary: 127.0.0.1:5432
    server_user: reports
    pool: {max_size: 8}
)");
  CHECK(cfg.pool.size_auto);
  CHECK(cfg.pool.cap() == 30);
  const auto app = cfg.pool_for("app", "app");
  CHECK(app.size_auto);
  CHECK(app.max_size == 30);
  const auto batch = cfg.pool_for("app", "batch");
  CHECK_FALSE(batch.size_auto);
  CHECK(batch.cap() == 5);
  CHECK(cfg.pool_for("reports", "x").cap() == 8);
  CHECK_FALSE(must_load(minimal).pool.size_auto);
}
