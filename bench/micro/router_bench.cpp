// Routing hot path, per statement (time is per statement: ns/op, items/s = statements/s):
//
//   classify/uncached/<stmt>        router::classify(sql, catalog): libpg_query parse + tree walk
//   classify/cached/<stmt>          router::classification_cache::get as the worker uses it: the
//                                   text looked up as is, then by its literal-free key, in a warm
//                                   cache of ~1000 entries
//   cache_key/<stmt>                router::literal_free_key into a reused string (a cache miss
//                                   by exact text builds one)
//   session_effects/prefilter/<stmt> router::may_have_session_effects (textual, no parse)
//   session_effects/analyze/<stmt>  router::analyze_session_effects (parse + walk)
//   route/<case>                    router::route with 2 eligible replicas (role "read")
//   route/cached_classify+route     what choose_pool does per statement once the text is cached
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pgrelay/router/cache_key.hpp"
#include "pgrelay/router/classify.hpp"
#include "pgrelay/router/function_catalog.hpp"
#include "pgrelay/router/route.hpp"
#include "pgrelay/router/session_effects.hpp"
#include "pgrelay/router/topology.hpp"

namespace pgrelay::bench {
namespace {

namespace rt = pgrelay::router;

// A Hibernate-style select of ~2 KB: long aliased select list over three joined tables.
std::string orm_select() {
  static const char* const fields[] = {"id", "created_at", "updated_at", "status", "total_amount",
                                       "currency", "customer_id", "note", "version", "shipped_at"};
  static const char* const tables[] = {"order0_", "customer1_", "address2_"};
  const std::string tail =
      " FROM orders order0_ LEFT OUTER JOIN customers customer1_ ON order0_.customer_id=customer1_.id"
      " LEFT OUTER JOIN addresses address2_ ON customer1_.address_id=address2_.id"
      " WHERE order0_.status='OPEN' AND customer1_.tenant_id=17 AND order0_.created_at>='2024-01-01 00:00:00'"
      " ORDER BY order0_.created_at DESC LIMIT 50";
  std::string sql = "SELECT ";
  for (std::size_t i = 0; sql.size() + tail.size() < 2048; ++i) {
    const std::size_t t = i % 3;
    const std::size_t f = (i / 3) % 10;
    if (i > 0) sql += ", ";
    sql += std::string(tables[t]) + "." + fields[f] + " AS " + std::string(fields[f]).substr(0, 6) + std::to_string(i) +
           "_" + std::to_string(t) + "_";
  }
  return sql + tail;
}

struct statement {
  std::string name;
  std::string sql;
};

const std::vector<statement>& statements() {
  static const std::vector<statement> all = {
      {"simple_select", "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;"},
      {"join_where",
       "SELECT o.id, o.total, c.name FROM orders o JOIN customers c ON c.id = o.customer_id "
       "WHERE o.created_at > '2024-01-01' AND c.country = 'FR' ORDER BY o.created_at DESC LIMIT 20"},
      {"cte",
       "WITH recent AS (SELECT customer_id, sum(total) AS spent FROM orders "
       "WHERE created_at > now() - interval '30 days' GROUP BY customer_id) "
       "SELECT c.name, r.spent FROM customers c JOIN recent r ON r.customer_id = c.id "
       "WHERE r.spent > 1000 ORDER BY r.spent DESC"},
      {"insert",
       "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (7, 1, 48213, -2531, CURRENT_TIMESTAMP);"},
      {"update_subquery",
       "UPDATE accounts SET balance = balance - 100 WHERE id IN (SELECT account_id FROM transfers "
       "WHERE status = 'pending' AND created_at < now() - interval '1 hour')"},
      {"select_function",
       "SELECT lower(email), date_trunc('day', created_at), coalesce(nickname, name), "
       "jsonb_extract_path_text(settings, 'theme') FROM users WHERE id = 42"},
      {"begin_read_only", "BEGIN READ ONLY"},
      {"multi_statement",
       "SET LOCAL statement_timeout = '5s'; SELECT count(*) FROM orders WHERE status = 'open'; "
       "SELECT max(id) FROM orders"},
      {"orm_2kb", orm_select()},
      {"set_session", "SET application_name = 'billing-worker'"},
  };
  return all;
}

const rt::function_catalog& catalog() {
  static const rt::function_catalog c = [] {
    const std::vector<std::string> learned = {"public.add_row", "billing.charge", "public.touch_session"};
    const std::vector<std::string> writes = {"audit_log"};
    const std::vector<std::string> read_only = {"public.pure_lookup"};
    return rt::make_catalog(learned, writes, read_only);
  }();
  return c;
}

using classify_cache = rt::classification_cache;

// Warm, like a worker's cache after a while: the statements plus ~1000 other texts (which, with
// literal-free keys, share a handful of entries).
classify_cache& warm_cache() {
  static classify_cache cache = [] {
    classify_cache c;
    for (const auto& s : statements()) (void)c.get(s.sql, catalog());
    for (int i = 0; i < 1000; ++i) {
      (void)c.get("SELECT abalance FROM pgbench_accounts WHERE aid = " + std::to_string(100000 + i) + " AND bid = b" +
                      std::to_string(i),
                  catalog());
    }
    return c;
  }();
  return cache;
}

// What proxy/src/routing.cpp does per statement: the worker's classification_cache.
const rt::classification& classify_cached(classify_cache& cache, std::string_view sql) {
  return cache.get(sql, catalog());
}

void per_statement(benchmark::State& state, const statement& s) {
  state.SetItemsProcessed(state.iterations());
  state.counters["sql_bytes"] = static_cast<double>(s.sql.size());
}

void bm_classify_uncached(benchmark::State& state, const statement* s) {
  const auto& cat = catalog();
  for (auto _ : state) {
    auto c = rt::classify(s->sql, cat);
    benchmark::DoNotOptimize(c);
  }
  per_statement(state, *s);
}

void bm_classify_cached(benchmark::State& state, const statement* s) {
  auto& cache = warm_cache();
  const std::string_view sql(s->sql);
  for (auto _ : state) {
    const auto& c = classify_cached(cache, sql);
    benchmark::DoNotOptimize(&c);
  }
  per_statement(state, *s);
}

void bm_cache_key(benchmark::State& state, const statement* s) {
  const std::string_view sql(s->sql);
  std::string key;
  for (auto _ : state) {
    rt::literal_free_key(sql, key);
    benchmark::DoNotOptimize(key.data());
  }
  per_statement(state, *s);
}

void bm_prefilter(benchmark::State& state, const statement* s) {
  const std::string_view sql(s->sql);
  for (auto _ : state) {
    bool may = rt::may_have_session_effects(sql);
    benchmark::DoNotOptimize(may);
  }
  per_statement(state, *s);
  state.SetLabel(rt::may_have_session_effects(sql) ? "may" : "none");
}

void bm_analyze(benchmark::State& state, const statement* s) {
  const std::string_view sql(s->sql);
  for (auto _ : state) {
    auto e = rt::analyze_session_effects(sql);
    benchmark::DoNotOptimize(e);
  }
  per_statement(state, *s);
}

// A database with a primary and two replicas with role "read", all fresh and caught up.
struct routing_fixture {
  rt::clock::time_point now = rt::clock::now();
  rt::topology topo;
  rt::routing_settings settings;  // enabled, read_your_writes, fallback to primary

  routing_fixture() {
    topo.database = "app";
    topo.check_interval = std::chrono::milliseconds(1000);
    topo.primary = rt::server_sample{"primary", true, false, 0, 0x16B374D848, std::chrono::milliseconds(0), now};
    for (const char* name : {"replica-1", "replica-2"}) {
      rt::replica_view r;
      r.name = name;
      r.roles = {"read"};
      r.sample = rt::server_sample{name, true, true, 0x16B374D848, 0x16B374D848, std::chrono::milliseconds(0), now};
      topo.replicas.push_back(std::move(r));
    }
  }
};

void bm_route(benchmark::State& state, rt::statement_kind kind, bool begin_read_only, rt::lsn min_lsn,
              rt::route_reason expect) {
  routing_fixture fx;
  rt::classification stmt;
  stmt.kind = kind;
  stmt.statements = 1;
  stmt.begin = begin_read_only;
  stmt.begin_read_only = begin_read_only;
  const rt::session_view session{min_lsn, std::nullopt};
  if (rt::route(stmt, session, &fx.topo, fx.settings, fx.now, 0).reason != expect) {
    state.SkipWithError("unexpected routing decision");
    return;
  }
  std::uint64_t pick = 0;
  for (auto _ : state) {
    auto d = rt::route(stmt, session, &fx.topo, fx.settings, fx.now, pick++);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::string(rt::to_string(expect)));
}

void bm_cached_classify_route(benchmark::State& state) {
  routing_fixture fx;
  auto& cache = warm_cache();
  const std::string_view sql(statements().front().sql);
  const rt::session_view session{0, std::nullopt};
  std::uint64_t pick = 0;
  for (auto _ : state) {
    const auto& c = classify_cached(cache, sql);
    auto d = rt::route(c, session, &fx.topo, fx.settings, rt::clock::now(), pick++);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

void register_router_benchmarks() {
  const auto& all = statements();
  for (const auto& s : all) {
    benchmark::RegisterBenchmark(("classify/uncached/" + s.name).c_str(), bm_classify_uncached, &s);
  }
  for (const auto& s : all) {
    benchmark::RegisterBenchmark(("classify/cached/" + s.name).c_str(), bm_classify_cached, &s);
  }
  for (const auto& s : all) {
    benchmark::RegisterBenchmark(("cache_key/" + s.name).c_str(), bm_cache_key, &s);
    benchmark::RegisterBenchmark(("session_effects/prefilter/" + s.name).c_str(), bm_prefilter, &s);
  }
  for (const auto& s : all) {
    benchmark::RegisterBenchmark(("session_effects/analyze/" + s.name).c_str(), bm_analyze, &s);
  }
  benchmark::RegisterBenchmark("route/read_to_replica", bm_route, rt::statement_kind::read_only, false, rt::lsn{0},
                               rt::route_reason::read_to_replica);
  benchmark::RegisterBenchmark("route/begin_read_only", bm_route, rt::statement_kind::transaction_control, true,
                               rt::lsn{0}, rt::route_reason::read_to_replica);
  benchmark::RegisterBenchmark("route/read_your_writes_caught_up", bm_route, rt::statement_kind::read_only, false,
                               rt::lsn{0x16B374D000}, rt::route_reason::read_to_replica);
  benchmark::RegisterBenchmark("route/write", bm_route, rt::statement_kind::write, false, rt::lsn{0},
                               rt::route_reason::write);
  benchmark::RegisterBenchmark("route/cached_classify+route(simple_select)", bm_cached_classify_route);
}

}  // namespace pgrelay::bench
