// route(): a table of units × sessions × topologies with the expected target and reason, plus
// rules, hints, staleness budgets and read-your-writes.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "pgrelay/router/classify.hpp"
#include "pgrelay/router/route.hpp"

using namespace pgrelay::router;
using namespace std::chrono_literals;

namespace {

const clock::time_point t0 = clock::time_point{} + 1h;

replica_view replica(std::string name, std::vector<std::string> roles, lsn replayed, std::chrono::milliseconds delay) {
  replica_view r;
  r.name = std::move(name);
  r.roles = std::move(roles);
  r.limits = lag_limits{.max_bytes = 1'000'000, .max_time = 500ms};
  r.sample = server_sample{.name = r.name,
                           .reachable = true,
                           .in_recovery = true,
                           .receive_lsn = replayed,
                           .replay_lsn = replayed,
                           .replay_delay = delay,
                           .sampled_at = t0};
  return r;
}

// Primary at 1000; "a" (read) caught up, "b" (read, analytics) at 900 and 200 ms behind.
topology cluster() {
  topology t;
  t.database = "app";
  t.primary = server_sample{.name = "primary", .reachable = true, .receive_lsn = 1000, .replay_lsn = 1000,
                            .sampled_at = t0};
  t.replicas.push_back(replica("a", {"read"}, 1000, 0ms));
  t.replicas.push_back(replica("b", {"read", "analytics"}, 900, 200ms));
  return t;
}

struct outcome {
  std::string target;  // "primary" or a replica name; with pick = 0 the first candidate
  route_reason reason;
};

outcome go(std::string_view sql, const session_view& s = {}, const topology* topo = nullptr,
           routing_settings settings = {}, std::uint64_t pick = 0) {
  static const topology default_topo = cluster();
  if (!topo) topo = &default_topo;
  auto d = route(classify(sql), s, topo, settings, t0, pick);
  return {d.to_replica ? d.replica : "primary", d.reason};
}

}  // namespace

TEST_CASE("route: statements by kind", "[router][route]") {
  struct row {
    const char* sql;
    const char* target;
    route_reason reason;
  };
  const row table[] = {
      {"SELECT 1", "a", route_reason::read_to_replica},
      {"SELECT * FROM t WHERE id = 1", "a", route_reason::read_to_replica},
      {"VALUES (1)", "a", route_reason::read_to_replica},
      {"SHOW work_mem", "a", route_reason::read_to_replica},
      {"BEGIN READ ONLY", "a", route_reason::read_to_replica},
      {"START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", "a", route_reason::read_to_replica},
      {"SET TRANSACTION READ ONLY", "a", route_reason::read_to_replica},
      {"BEGIN", "primary", route_reason::transaction},
      {"BEGIN; SELECT 1", "primary", route_reason::transaction},
      {"BEGIN READ WRITE", "primary", route_reason::transaction},
      {"INSERT INTO t VALUES (1)", "primary", route_reason::write},
      {"SELECT * FROM t FOR UPDATE", "primary", route_reason::write},
      {"SELECT nextval('s')", "primary", route_reason::write},
      {"WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", "primary", route_reason::write},
      {"SET work_mem = '1MB'", "primary", route_reason::write},
      {"SELEC 1", "primary", route_reason::write},
      {"", "primary", route_reason::write},
      {"/* pgrelay: route=primary */ SELECT 1", "primary", route_reason::hint_primary},
      {"/* pgrelay: route=analytics */ SELECT 1", "b", route_reason::read_to_replica},
      {"/* pgrelay: route=replica */ SELECT 1", "a", route_reason::read_to_replica},
      {"/* pgrelay: route=nosuchrole */ SELECT 1", "primary", route_reason::no_eligible_replica},
      {"/* pgrelay: route=analytics */ INSERT INTO t VALUES (1)", "primary", route_reason::write},
      {"/* pgrelay: max_lag=100ms */ SELECT 1", "a", route_reason::read_to_replica},
  };
  for (const auto& r : table) {
    INFO(r.sql);
    auto o = go(r.sql);
    CHECK(o.target == r.target);
    CHECK(to_string(o.reason) == to_string(r.reason));
  }
}

TEST_CASE("route: reads are spread by the caller's counter", "[router][route]") {
  CHECK(go("SELECT 1", {}, nullptr, {}, 0).target == "a");
  CHECK(go("SELECT 1", {}, nullptr, {}, 1).target == "b");
  CHECK(go("SELECT 1", {}, nullptr, {}, 2).target == "a");
}

TEST_CASE("route: the counter deals every eligible replica, also past the 64th", "[router][route]") {
  topology big = cluster();
  big.replicas.clear();
  for (int i = 0; i < 70; ++i) {
    // Every third one lags 900 ms, beyond its 500 ms limit.
    big.replicas.push_back(replica("r" + std::to_string(i), {"read"}, 1000, i % 3 == 2 ? 900ms : 0ms));
  }
  std::vector<std::string> dealt;
  for (std::uint64_t pick = 0; pick < 47; ++pick) dealt.push_back(go("select 1", {}, &big, {}, pick).target);
  std::vector<std::string> want;
  for (int i = 0; i < 70; ++i) {
    if (i % 3 != 2) want.push_back("r" + std::to_string(i));
  }
  REQUIRE(want.size() == 47);
  CHECK(dealt == want);
}

TEST_CASE("route: routing off and missing topology send everything to the primary", "[router][route]") {
  CHECK(go("SELECT 1", {}, nullptr, routing_settings{.enabled = false}).reason == route_reason::routing_off);
  auto d = route(classify("SELECT 1"), {}, nullptr, {}, t0, 0);
  CHECK_FALSE(d.to_replica);
  CHECK(d.reason == route_reason::no_topology);
  topology empty = cluster();
  empty.replicas.clear();
  CHECK(go("SELECT 1", {}, &empty).reason == route_reason::routing_off);
}

TEST_CASE("route: read-your-writes waits for a replica past the client's commit", "[router][route]") {
  session_view s{.min_lsn = 950};
  for (std::uint64_t pick = 0; pick < 4; ++pick) CHECK(go("SELECT 1", s, nullptr, {}, pick).target == "a");
  s.min_lsn = 1001;
  CHECK(go("SELECT 1", s).target == "primary");
  CHECK(go("SELECT 1", s).reason == route_reason::read_your_writes);
  CHECK(go("SELECT 1", s, nullptr, routing_settings{.read_your_writes = false}).target == "a");
}

TEST_CASE("route: no eligible replica falls back to the primary or to an error", "[router][route]") {
  topology t = cluster();
  for (auto& r : t.replicas) r.sample.reachable = false;
  CHECK(go("SELECT 1", {}, &t).reason == route_reason::no_eligible_replica);
  CHECK(go("SELECT 1", {}, &t, routing_settings{.fallback_to_primary = false}).reason ==
        route_reason::no_eligible_replica_error);
  t.replicas[1].sample.reachable = true;
  CHECK(go("SELECT 1", {}, &t).target == "b");
}

TEST_CASE("route: a staleness budget only narrows the replicas", "[router][route]") {
  session_view s{.max_staleness = 100ms};
  for (std::uint64_t pick = 0; pick < 4; ++pick) CHECK(go("SELECT 1", s, nullptr, {}, pick).target == "a");
  s.max_staleness = 10s;  // looser than the replica's own limit: the limit still holds
  topology t = cluster();
  t.replicas[0].sample.replay_delay = 600ms;
  for (std::uint64_t pick = 0; pick < 4; ++pick) CHECK(go("SELECT 1", s, &t, {}, pick).target == "b");
  // The statement's hint beats the session's budget.
  s.max_staleness = 0ms;
  CHECK(go("SELECT 1", s).target == "a");
  CHECK(go("SELECT 1", s, nullptr, {}, 1).target == "a");
  CHECK(go("/* pgrelay: max_lag=1s */ SELECT 1", s, nullptr, {}, 1).target == "b");
  auto d = route(classify("/* pgrelay: max_lag=0 */ SELECT 1"), {}, &t, {}, t0, 0);
  CHECK_FALSE(d.to_replica);
  CHECK(d.reason == route_reason::no_eligible_replica);
  REQUIRE(d.staleness);
  CHECK(*d.staleness == 0ms);
}

TEST_CASE("route: rules place reads by user, application name and kind", "[router][route]") {
  const std::vector<routing_rule> rules = {
      {.user = "reporting", .target = "analytics"},
      {.application_name = "psql*", .target = "primary"},
      {.application_name = "batch", .kind = rule_kind::transaction, .target = "analytics"},
      {.application_name = "batch", .kind = rule_kind::statement, .target = "primary"},
  };
  routing_settings settings{.rules = rules};
  auto who = [](std::string_view user, std::string_view app) {
    return session_view{.user = user, .application_name = app};
  };
  auto d = route(classify("SELECT 1"), who("reporting", "x"), nullptr, settings, t0, 0);
  CHECK(d.rule == 0);
  CHECK(d.role == "analytics");

  static const topology topo = cluster();
  auto r = [&](std::string_view sql, std::string_view user, std::string_view app, std::uint64_t pick = 0) {
    return route(classify(sql), who(user, app), &topo, settings, t0, pick);
  };
  CHECK(r("SELECT 1", "reporting", "").replica == "b");
  CHECK(r("SELECT 1", "reporting", "", 1).replica == "b");
  CHECK(r("SELECT 1", "reporting", "").rule == 0);
  CHECK(r("SELECT 1", "app", "psql").reason == route_reason::rule_primary);
  CHECK(r("SELECT 1", "app", "psql-15").rule == 1);
  CHECK(r("SELECT 1", "app", "xpsql").to_replica);
  CHECK(r("BEGIN READ ONLY", "app", "batch").replica == "b");
  CHECK(r("BEGIN READ ONLY", "app", "batch").rule == 2);
  CHECK(r("SELECT 1", "app", "batch").reason == route_reason::rule_primary);
  CHECK(r("SELECT 1", "app", "batch").rule == 3);
  // Rules never place writes, and a hint beats the rules.
  CHECK(r("INSERT INTO t VALUES (1)", "reporting", "").reason == route_reason::write);
  CHECK(r("/* pgrelay: route=read */ SELECT 1", "app", "psql").replica == "a");
  CHECK(r("/* pgrelay: route=read */ SELECT 1", "app", "psql").rule == -1);
  CHECK(r("/* pgrelay: route=primary */ SELECT 1", "reporting", "").reason == route_reason::hint_primary);
  // No rule matched: the default role.
  auto plain = r("SELECT 1", "app", "web");
  CHECK(plain.rule == -1);
  CHECK(plain.role == "read");
}

TEST_CASE("glob_match", "[router][route]") {
  CHECK(glob_match("", ""));
  CHECK(glob_match("*", ""));
  CHECK(glob_match("*", "anything"));
  CHECK(glob_match("abc", "abc"));
  CHECK_FALSE(glob_match("abc", "abcd"));
  CHECK(glob_match("a*c", "abbbc"));
  CHECK(glob_match("a*c", "ac"));
  CHECK_FALSE(glob_match("a*c", "acb"));
  CHECK(glob_match("*b*", "abc"));
  CHECK(glob_match("a*b*c", "aXbYbZc"));
  CHECK_FALSE(glob_match("a*b*c", "aXcYb"));
  CHECK(glob_match("metabase*", "metabase-v0.4"));
}

TEST_CASE("hints carry a route and a staleness budget", "[router][route]") {
  auto h = parse_hints("/* pgrelay: route=Analytics, max_lag=2s */ SELECT 1");
  CHECK(h.route == "analytics");
  REQUIRE(h.max_lag);
  CHECK(*h.max_lag == 2000ms);
  h = parse_hints("SELECT 1 -- pgrelay max_lag = 250ms route = primary");
  CHECK(h.route == "primary");
  CHECK(*h.max_lag == 250ms);
  h = parse_hints("/* pgrelay: max_lag=soon */ SELECT 1");
  CHECK_FALSE(h.max_lag);
  h = parse_hints("SELECT '/* pgrelay: max_lag=1s */'");
  CHECK_FALSE(h.max_lag);
  CHECK(h.route.empty());
  // The first value of each key wins.
  h = parse_hints("/* pgrelay: route=a */ /* pgrelay: route=b max_lag=3s */ SELECT 1");
  CHECK(h.route == "a");
  CHECK(*h.max_lag == 3000ms);
}

TEST_CASE("parse_staleness", "[router][route]") {
  CHECK(parse_staleness("0") == 0ms);
  CHECK(parse_staleness("250") == 250ms);
  CHECK(parse_staleness("250ms") == 250ms);
  CHECK(parse_staleness(" 2 s ") == 2000ms);
  CHECK(parse_staleness("2S") == 2000ms);
  CHECK(parse_staleness("1min") == 60000ms);
  CHECK_FALSE(parse_staleness(""));
  CHECK_FALSE(parse_staleness("s"));
  CHECK_FALSE(parse_staleness("-1s"));
  CHECK_FALSE(parse_staleness("1.5s"));
  CHECK_FALSE(parse_staleness("2 parsecs"));
  CHECK_FALSE(parse_staleness("99999999999999999999"));
}
