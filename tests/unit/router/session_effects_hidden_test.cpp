// Session state that hides inside function calls, DO blocks and schema-qualified names: found,
// or flagged opaque ("cannot prove harmless"), while the plain hot-path statements stay clean.
#include <catch2/catch.hpp>

#include "pgrelay/router/session_effects.hpp"

using namespace pgrelay::router;

TEST_CASE("set_config with constants is a tracked SET", "[router][session_effects]") {
  auto fx = analyze_session_effects("SELECT set_config('search_path', 'x', false)");
  CHECK(fx.set);
  CHECK(fx.set_by_function);
  CHECK_FALSE(fx.set_value_unknown);
  CHECK(fx.set_name == "search_path");
  CHECK(fx.set_value == "x");
  CHECK_FALSE(fx.opaque);
  CHECK_FALSE(fx.any_pin());

  auto q = analyze_session_effects("select pg_catalog.set_config('Search_Path', 'a, b', 'off')");
  CHECK(q.set);
  CHECK(q.set_name == "search_path");
  CHECK(q.set_value == "a, b");

  auto custom = analyze_session_effects("select set_config('My$App.Tenant', 'a', false)");
  CHECK(custom.set_name == "my$app.tenant");
  CHECK(custom.set_value == "a");
}

TEST_CASE("set_config that is local, or on the role", "[router][session_effects]") {
  CHECK_FALSE(analyze_session_effects("select set_config('search_path', 'x', true)").any());
  CHECK_FALSE(analyze_session_effects("select set_config('search_path', 'x', true)").opaque);
  CHECK(analyze_session_effects("SELECT set_config('role', 'r', false)").set_role);
  CHECK(analyze_session_effects("SELECT set_config('session_authorization', 'r', false)").set_role);
  CHECK_FALSE(analyze_session_effects("SELECT set_config('role', 'r', true)").set_role);
  CHECK(analyze_session_effects("SELECT set_config('role', 'r', $1)").set_role);
}

TEST_CASE("set_config with a computed value is read back, a computed name is opaque", "[router][session_effects]") {
  auto fx = analyze_session_effects("select set_config('app.tenant', $1, false)");
  CHECK(fx.set);
  CHECK(fx.set_value_unknown);
  CHECK(fx.set_name == "app.tenant");
  CHECK_FALSE(fx.opaque);
  auto maybe_local = analyze_session_effects("select set_config('app.tenant', 'a', $2)");
  CHECK(maybe_local.set_value_unknown);
  CHECK(analyze_session_effects("select set_config($1, 'x', false)").opaque);
  CHECK(analyze_session_effects("select set_config(name, 'x', false) from t").opaque);
  CHECK(analyze_session_effects("select set_config('a.b', '1', false), set_config('a.c', '2', false)").opaque);
}

TEST_CASE("objects created in pg_temp are temp tables", "[router][session_effects]") {
  CHECK(analyze_session_effects("CREATE TABLE pg_temp.orders (id int)").temp_table);
  CHECK(analyze_session_effects("create view PG_TEMP.v as select 1").temp_table);
  CHECK(analyze_session_effects("create sequence pg_temp.s").temp_table);
  CHECK(analyze_session_effects("create function pg_temp.f() returns int language sql as 'select 1'").temp_table);
  CHECK(analyze_session_effects("create type pg_temp.t as (a int)").temp_table);
  CHECK(analyze_session_effects("create table pg_temp_3.x (a int)").temp_table);
  CHECK_FALSE(analyze_session_effects("select 'pg_temp.x'").temp_table);
  CHECK_FALSE(analyze_session_effects("create table public.orders (id int)").temp_table);
}

TEST_CASE("DO, CALL and unknown functions are opaque", "[router][session_effects]") {
  CHECK(analyze_session_effects("DO $$ BEGIN PERFORM pg_advisory_lock(1); END $$").opaque);
  CHECK(analyze_session_effects("call my_proc(1)").opaque);
  CHECK(analyze_session_effects("select my_function($1)").opaque);
  CHECK(analyze_session_effects("select public.now()").opaque);
  CHECK(analyze_session_effects("select * from t where id = app.lookup(1)").opaque);
  CHECK(analyze_session_effects("select setseed(0.5)").opaque);
  CHECK(analyze_session_effects("select pg_catalog.pg_replication_origin_session_setup('o')").opaque);
  CHECK(analyze_session_effects("select \"MyFunc\"()").opaque);
}

TEST_CASE("built-in functions and plain statements are not opaque", "[router][session_effects]") {
  for (const char* sql : {
           "SELECT abalance FROM pgbench_accounts WHERE aid = $1",
           "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
           "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)",
           "select now(), count(*), coalesce(a, 1), lower(b), nextval('s') from t group by a, b",
           "select pg_catalog.now()",
           "select extract(epoch from now()), trim(x), substring(x from 2) from t",
           "select current_setting('search_path')",
           "select pg_advisory_xact_lock(1)",
           "select * from generate_series(1, 10) g where g in (1, 2)",
       }) {
    INFO(sql);
    CHECK_FALSE(analyze_session_effects(sql).opaque);
  }
}

TEST_CASE("the prefilter lets through whatever may be opaque", "[router][session_effects]") {
  CHECK_FALSE(may_have_session_effects("SELECT abalance FROM pgbench_accounts WHERE aid = $1"));
  CHECK_FALSE(may_have_session_effects("UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2"));
  CHECK_FALSE(may_have_session_effects("select a from t where b in ($1, $2) and (c = 1 or d = 2)"));
  CHECK_FALSE(may_have_session_effects("insert into t values ($1, $2)"));
  CHECK(may_have_session_effects("select set_config('search_path', 'x', false)"));
  CHECK(may_have_session_effects("SELECT f ($1)"));
  CHECK(may_have_session_effects("SELECT \"F\"($1)"));
  CHECK(may_have_session_effects("SELECT f/* c */($1)"));
  CHECK(may_have_session_effects("do $$ begin end $$"));
  CHECK(may_have_session_effects("  CALL p()"));
  CHECK(may_have_session_effects("create table pg_temp.orders (id int)"));
}
