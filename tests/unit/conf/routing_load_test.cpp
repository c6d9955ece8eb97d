// Valid routing and replica lag settings: explicit values and defaults.
#include <catch2/catch.hpp>
#include <string>
#include <utility>

#include "pgrelay/conf/load.hpp"

using namespace pgrelay::conf;
using namespace std::chrono_literals;

namespace {

config must_load_routing(std::string_view yaml) {
  auto result = load_string(yaml, "test.yaml", "/etc/pgrelay");
  std::string errors;
  for (const auto& d : result.errors) errors += d.to_string() + "\n";
  INFO(errors);
  REQUIRE(result.ok());
  return *result.cfg;
}

}  // namespace

TEST_CASE("routing and max_lag are read as written", "[conf][routing]") {
  const auto cfg = must_load_routing(R"(
listen: [127.0.0.1:6432]
auth: {method: trust}
databases:
  app:
    primary: 127.0.0.1:5432
    server_user: app
    replicas:
      - {name: r1, address: 127.0.0.1:5433, max_lag: {bytes: 1MB, time: 2s}}
      - {name: r2, address: 127.0.0.1:5434, max_lag: {bytes: 0}}
      - {name: r3, address: 127.0.0.1:5435}
    routing:
      enabled: false
      check_interval: 250ms
      fallback: error
      read_your_writes: off
      balance: statement
      health_user: probe
      health_password: "pw"
)");
  const auto& db = cfg.databases.at("app");
  REQUIRE(db.replicas.size() == 3);
  CHECK(db.replicas[0].max_lag.bytes == 1u << 20);
  CHECK(db.replicas[0].max_lag.time == 2s);
  CHECK(db.replicas[1].max_lag.bytes == 0);
  CHECK(db.replicas[1].max_lag.time == 500ms);
  CHECK(db.replicas[2].max_lag.bytes == 16u << 20);
  CHECK_FALSE(db.routing.enabled);
  CHECK(db.routing.check_interval == 250ms);
  CHECK(db.routing.fallback == no_replica_fallback::error);
  CHECK(db.routing.read_your_writes == read_your_writes_scope::off);
  CHECK(db.routing.balance == replica_balance::statement);
  CHECK(db.routing.health_user == "probe");
  CHECK(db.routing.health_password == "pw");
}

TEST_CASE("read_your_writes scopes and wait", "[conf][routing]") {
  for (auto [name, scope] : {std::pair{"session", read_your_writes_scope::session},
                             std::pair{"user", read_your_writes_scope::user},
                             std::pair{"database", read_your_writes_scope::database},
                             std::pair{"off", read_your_writes_scope::off}}) {
    const auto cfg = must_load_routing(std::string(R"(
listen: [127.0.0.1:6432]
auth: {method: trust}
databases:
  app: {primary: 127.0.0.1:5432, server_user: app, routing: {read_your_writes_wait: 25ms, read_your_writes: )") +
                                       name + "}}\n");
    CHECK(cfg.databases.at("app").routing.read_your_writes == scope);
    CHECK(cfg.databases.at("app").routing.read_your_writes_wait == 25ms);
  }
}

TEST_CASE("routing defaults", "[conf][routing]") {
  const auto cfg = must_load_routing(R"(
listen: [127.0.0.1:6432]
auth: {method: trust}
databases:
  app: {primary: 127.0.0.1:5432, server_user: app, routing: {check_interval: 60s}}
)");
  const auto& r = cfg.databases.at("app").routing;
  CHECK(r.enabled);
  CHECK(r.check_interval == 60s);
  CHECK(r.fallback == no_replica_fallback::primary);
  CHECK(r.read_your_writes == read_your_writes_scope::user);
  CHECK(r.read_your_writes_wait == 20ms);
  CHECK(r.balance == replica_balance::session);
  CHECK(r.health_user.empty());
  CHECK(r.health_password.empty());
}

TEST_CASE("routing rules and function overrides are read in order", "[conf][routing]") {
  const auto cfg = must_load_routing(R"(
listen: [127.0.0.1:6432]
auth: {method: trust}
databases:
  app:
    primary: 127.0.0.1:5432
    server_user: app
    replicas:
      - {name: r1, address: 127.0.0.1:5433}
      - {name: r2, address: 127.0.0.1:5434, roles: [read, analytics]}
    routing:
      rules:
        - {user: reporting, route: analytics}
        - {application_name: "psql*", kind: statement, route: primary}
        - {kind: transaction, route: read}
      functions: {writes: [audit.touch, bump], read_only: [public.slow_report]}
)");
  const auto& r = cfg.databases.at("app").routing;
  REQUIRE(r.rules.size() == 3);
  CHECK(r.rules[0].user == "reporting");
  CHECK(r.rules[0].application_name.empty());
  CHECK(r.rules[0].kind == rule_kind::any);
  CHECK(r.rules[0].route == "analytics");
  CHECK(r.rules[1].application_name == "psql*");
  CHECK(r.rules[1].kind == rule_kind::statement);
  CHECK(r.rules[1].route == "primary");
  CHECK(r.rules[2].kind == rule_kind::transaction);
  CHECK(r.functions.writes == std::vector<std::string>{"audit.touch", "bump"});
  CHECK(r.functions.read_only == std::vector<std::string>{"public.slow_report"});
}

TEST_CASE("a rule must name the primary or a role some replica has", "[conf][routing]") {
  auto result = load_string(R"yaml(
listen: [127.0.0.1:6432]
auth: {method: trust}
databases:
  app:
    primary: 127.0.0.1:5432
    server_user: app
    replicas: [{name: r1, address: 127.0.0.1:5433}]
    routing:
      rules:
        - {user: x, route: analytcs}
        - {user: y}
        - {user: z, kind: sometimes, route: primary}
      functions: {writes: ["f(int)"]}
)yaml",
                            "test.yaml", "/etc/pgrelay");
  REQUIRE_FALSE(result.ok());
  std::string all;
  for (const auto& d : result.errors) all += d.to_string() + "\n";
  INFO(all);
  CHECK(all.find("databases.app.routing.rules[0].route: no replica of this database has role 'analytcs'") !=
        std::string::npos);
  CHECK(all.find("use one of: primary, read") != std::string::npos);
  CHECK(all.find("databases.app.routing.rules[1]") != std::string::npos);
  CHECK(all.find("route") != std::string::npos);
  CHECK(all.find("databases.app.routing.rules[2].kind") != std::string::npos);
  CHECK(all.find("'f(int)' is not a function name") != std::string::npos);
}
