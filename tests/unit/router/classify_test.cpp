// Statement classification from the real parser: a table of statements and, for each, the kind,
// the reason, the writing function, the transaction flags and the comment hint it must yield.
#include <catch2/catch.hpp>

#include <string>

#include "pgrelay/router/classify.hpp"

using namespace pgrelay::router;

namespace {

// Short names keep the table readable.
constexpr auto RO = statement_kind::read_only;
constexpr auto W = statement_kind::write;
constexpr auto TC = statement_kind::transaction_control;
constexpr auto SS = statement_kind::session_state;
constexpr auto EMPTY = statement_kind::empty;
constexpr auto PE = statement_kind::parse_error;

constexpr auto none = write_reason::none;
constexpr auto dml = write_reason::dml;
constexpr auto ddl = write_reason::ddl_or_utility;
constexpr auto lock = write_reason::locking_clause;
constexpr auto into = write_reason::select_into;
constexpr auto cte = write_reason::modifying_cte;
constexpr auto fn = write_reason::writing_function;
constexpr auto ea = write_reason::explain_analyze;
constexpr auto perr = write_reason::parse_error;
constexpr auto unk = write_reason::unknown;

// Transaction flags.
constexpr unsigned B = 1;   // begin
constexpr unsigned RD = 2;  // begin_read_only
constexpr unsigned E = 4;   // ends_transaction

struct row {
  const char* sql;
  statement_kind kind;
  write_reason why;
  const char* function = "";
  unsigned flags = 0;
  const char* hint = "";
  int statements = -1;  // -1: not checked
};

const row table[] = {
    // ---- plain reads
    {"select 1", RO, none, "", 0, "", 1},
    {"SELECT * FROM t WHERE id = $1", RO, none},
    {"values (1), (2)", RO, none},
    {"table t", RO, none},
    {"show search_path", RO, none},
    {"SHOW ALL", RO, none},
    {"show transaction isolation level", RO, none},
    {"select 1 union select * from (select 2) s", RO, none},
    {"select 1 intersect select 1 except select 2", RO, none},
    {"with r as (select 1) select * from r", RO, none},
    {"with recursive r(n) as (select 1 union all select n + 1 from r where n < 10) select * from r", RO, none},
    {"select count(*), max(a) from t group by b having count(*) > 1 order by 1 limit 10 offset 2", RO, none},
    {"select * from a join b using (id) left join c on c.id = a.id", RO, none},
    {"select lower(name), now(), random(), gen_random_uuid(), clock_timestamp() from users", RO, none},
    {"select * from generate_series(1, 10) g", RO, none},
    {"select pg_sleep(0)", RO, none},
    {"select current_setting('search_path')", RO, none},
    {"select pg_is_in_recovery(), pg_last_wal_replay_lsn()", RO, none},
    {"select * from t where id in (select id from u where exists (select 1 from v))", RO, none},
    {"select (select max(a) from t) as m", RO, none},
    {"select * from t tablesample system (10)", RO, none},
    {"select array(select 1), row(1, 2)", RO, none},
    {"select distinct on (a) a, b from t order by a, b", RO, none},
    {"select sum(a) over w from t window w as (partition by b)", RO, none},
    {"select * from t, lateral (select * from u where u.t_id = t.id) x", RO, none},
    {"select pg_catalog.lower('X'), public.my_pure_fn(1)", RO, none},
    {"with a as (select 1), b as (with c as (select 2) select * from c) select * from a, b", RO, none},
    {"select * from t where a = any(array[1,2]) and b between 1 and 2", RO, none},
    {"select 'nextval(1)', 'for update', 'insert into t'", RO, none},
    {"select nextval_like_but_not(1)", RO, none},
    {"select xmlelement(name a, 'x'), jsonb_build_object('a', 1)", RO, none},

    // ---- locking clauses, anywhere
    {"select * from t for update", W, lock},
    {"select * from t for no key update skip locked", W, lock},
    {"select * from t for share", W, lock},
    {"select * from t for key share", W, lock},
    {"select * from t for update nowait", W, lock},
    {"select * from t, u for update of t skip locked", W, lock},
    {"select * from (select * from t for update) s", W, lock},
    {"with x as (select * from t for share) select * from x", W, lock},
    {"select * from t where id = (select id from u limit 1 for update)", W, lock},
    {"select 1 where exists (select 1 from (select * from t for key share) a)", W, lock},

    // ---- SELECT INTO
    {"select * into t2 from t", W, into},
    {"select a into temp t2 from t", W, into},
    {"select * into unlogged table t3 from t where false", W, into},

    // ---- data-modifying CTEs at any depth
    {"with d as (delete from t returning *) select * from d", W, cte},
    {"with i as (insert into t values (1) returning id) select id from i", W, cte},
    {"with u as (update t set a = 1 returning *) select count(*) from u", W, cte},
    {"with a as (with b as (insert into t default values returning 1) select * from b) select * from a", W, cte},
    {"select * from (with d as (delete from t returning *) select * from d) s", W, cte},
    {"select 1 where exists (with d as (delete from t returning 1) select 1 from d)", W, cte},
    {"with a as (select 1), b as (with c as (with d as (update t set x = 1 returning x) select x from d) "
     "select x from c) select * from a, b",
     W, cte},
    {"select (with i as (insert into log values (1) returning 1) select * from i)", W, cte},
    {"with r as (select 1) select * from r union all (with d as (delete from t returning 1) select * from d)", W,
     cte},
    {"with d as (delete from t returning *) select nextval('s') from d for update", W, cte},
    {"select * into x from t for update", W, into},
    {"select pg_advisory_lock(1) from t for update", W, lock},

    // ---- built-in writing functions
    {"select nextval('s')", W, fn, "nextval"},
    {"select NEXTVAL('s')", W, fn, "nextval"},
    {"select \"NextVal\"('s')", W, fn, "nextval"},
    {"select pg_catalog.nextval('s')", W, fn, "pg_catalog.nextval"},
    {"select myschema.nextval('s')", W, fn, "myschema.nextval"},
    {"select setval('s', 10)", W, fn, "setval"},
    {"select currval('s')", W, fn, "currval"},
    {"select lastval()", W, fn, "lastval"},
    {"select pg_advisory_lock(1)", W, fn, "pg_advisory_lock"},
    {"select pg_advisory_lock_shared(1)", W, fn, "pg_advisory_lock_shared"},
    {"select pg_advisory_xact_lock(1)", W, fn, "pg_advisory_xact_lock"},
    {"select pg_advisory_unlock(1)", W, fn, "pg_advisory_unlock"},
    {"select pg_advisory_unlock_all()", W, fn, "pg_advisory_unlock_all"},
    {"select pg_try_advisory_lock(1, 2)", W, fn, "pg_try_advisory_lock"},
    {"select pg_try_advisory_xact_lock_shared(1)", W, fn, "pg_try_advisory_xact_lock_shared"},
    {"select set_config('search_path', 'a', false)", W, fn, "set_config"},
    {"select pg_notify('ch', 'x')", W, fn, "pg_notify"},
    {"select lo_import('/tmp/x'), lo_export(1, '/tmp/y')", W, fn, "lo_import"},
    {"select lo_create(0)", W, fn, "lo_create"},
    {"select lo_unlink(1)", W, fn, "lo_unlink"},
    {"select lo_put(1, 0, 'x')", W, fn, "lo_put"},
    {"select lo_from_bytea(0, 'x')", W, fn, "lo_from_bytea"},
    {"select lo_truncate(0, 1)", W, fn, "lo_truncate"},
    {"select lo_something_new(1)", W, fn, "lo_something_new"},
    {"select txid_current()", W, fn, "txid_current"},
    {"select pg_current_xact_id()", W, fn, "pg_current_xact_id"},
    {"select pg_current_wal_lsn()", W, fn, "pg_current_wal_lsn"},
    {"select pg_switch_wal()", W, fn, "pg_switch_wal"},
    {"select pg_create_restore_point('x')", W, fn, "pg_create_restore_point"},
    {"select pg_start_backup('x')", W, fn, "pg_start_backup"},
    {"select pg_stop_backup()", W, fn, "pg_stop_backup"},
    {"select pg_backup_start('x')", W, fn, "pg_backup_start"},
    {"select pg_backup_stop()", W, fn, "pg_backup_stop"},
    {"select pg_terminate_backend(123)", W, fn, "pg_terminate_backend"},
    {"select pg_cancel_backend(pid) from pg_stat_activity where state = 'idle'", W, fn, "pg_cancel_backend"},
    {"select pg_reload_conf()", W, fn, "pg_reload_conf"},
    {"select pg_rotate_logfile()", W, fn, "pg_rotate_logfile"},
    {"select pg_logical_emit_message(true, 'p', 'x')", W, fn, "pg_logical_emit_message"},
    {"select pg_replication_origin_create('o')", W, fn, "pg_replication_origin_create"},
    {"select pg_replication_origin_session_setup('o')", W, fn, "pg_replication_origin_session_setup"},
    {"select pg_create_logical_replication_slot('s', 'pgoutput')", W, fn, "pg_create_logical_replication_slot"},
    {"select pg_create_physical_replication_slot('s')", W, fn, "pg_create_physical_replication_slot"},
    {"select pg_drop_replication_slot('s')", W, fn, "pg_drop_replication_slot"},
    {"select pg_stat_reset()", W, fn, "pg_stat_reset"},
    {"select pg_stat_reset_shared('bgwriter')", W, fn, "pg_stat_reset_shared"},
    {"select pg_stat_reset_single_table_counters(1)", W, fn, "pg_stat_reset_single_table_counters"},
    {"select dblink_exec('c', 'insert into t values (1)')", W, fn, "dblink_exec"},
    {"select * from dblink('c', 'select 1') as t(a int)", W, fn, "dblink"},
    // ... wherever they appear in a read
    {"select * from t where id = nextval('s')", W, fn, "nextval"},
    {"select a from t order by setval('s', a)", W, fn, "setval"},
    {"select * from nextval('s')", W, fn, "nextval"},
    {"select * from rows from (generate_series(1, 2), nextval('s')) x", W, fn, "nextval"},
    {"select (select nextval('s'))", W, fn, "nextval"},
    {"with x as (select nextval('s')) select * from x", W, fn, "nextval"},
    {"with a as (with b as (with c as (select pg_advisory_lock(1)) select * from c) select * from b) "
     "select * from a",
     W, fn, "pg_advisory_lock"},
    {"select case when a > 0 then nextval('s') else 0 end from t", W, fn, "nextval"},
    {"select coalesce(null, txid_current())", W, fn, "txid_current"},
    {"select count(nextval('s')) over ()", W, fn, "nextval"},
    {"select 1 union all select setval('s', 1)", W, fn, "setval"},
    {"values (nextval('s'))", W, fn, "nextval"},
    {"select * from t join lateral (select nextval('s')) x on true", W, fn, "nextval"},
    {"select array[nextval('s')]", W, fn, "nextval"},
    {"select * from t group by a having max(a) > nextval('s')", W, fn, "nextval"},
    {"select lower(upper(trim(set_config('a.b', 'c', true))))", W, fn, "set_config"},
    {"select * from t where exists (select 1 from u where u.id = any(array(select nextval('s'))))", W, fn,
     "nextval"},

    // ---- DML
    {"insert into t values (1)", W, dml},
    {"insert into t select * from u", W, dml},
    {"insert into t values (1) on conflict do nothing", W, dml},
    {"insert into t values (1) returning *", W, dml},
    {"update t set a = 1 where id = 2", W, dml},
    {"update t set a = nextval('s')", W, dml},
    {"delete from t where id = 1", W, dml},
    {"merge into t using s on t.id = s.id when matched then update set a = s.a when not matched then "
     "insert values (s.id, s.a)",
     W, dml},
    {"with x as (select 1) insert into t select * from x", W, dml},
    {"with d as (delete from t returning *) delete from u", W, dml},

    // ---- DDL and utility
    {"create table x (a int)", W, ddl},
    {"create temp table x (a int)", W, ddl},
    {"create table x as select 1", W, ddl},
    {"create materialized view mv as select 1", W, ddl},
    {"refresh materialized view mv", W, ddl},
    {"refresh materialized view concurrently mv", W, ddl},
    {"alter table t add column b int", W, ddl},
    {"drop table t", W, ddl},
    {"truncate t", W, ddl},
    {"create index on t (a)", W, ddl},
    {"create index concurrently i on t (a)", W, ddl},
    {"create view v as select 1", W, ddl},
    {"create function f() returns int language sql as 'select 1'", W, ddl},
    {"create extension if not exists pgcrypto", W, ddl},
    {"comment on table t is 'x'", W, ddl},
    {"grant select on t to r", W, ddl},
    {"revoke all on t from r", W, ddl},
    {"create sequence s", W, ddl},
    {"alter system set work_mem = '1MB'", W, ddl},
    {"create role r login", W, ddl},
    {"vacuum", W, ddl},
    {"vacuum full t", W, ddl},
    {"analyze t", W, ddl},
    {"vacuum (analyze, verbose) t", W, ddl},
    {"cluster t using i", W, ddl},
    {"reindex table t", W, ddl},
    {"checkpoint", W, ddl},
    {"lock table t in access exclusive mode", W, ddl},
    {"lock t", W, ddl},
    {"call p(1)", W, ddl},
    {"do $$ begin perform 1; end $$", W, ddl},
    {"notify ch", W, ddl},
    {"notify ch, 'payload'", W, ddl},
    {"listen ch", W, ddl},
    {"unlisten *", W, ddl},
    {"prepare q as select 1", W, ddl},
    {"prepare q(int) as insert into t values ($1)", W, ddl},
    {"deallocate q", W, ddl},
    {"deallocate all", W, ddl},
    {"load 'auto_explain'", W, ddl},
    {"execute q", W, unk},
    {"execute q(1, 'a')", W, unk},
    // cursors
    {"declare c cursor for select 1", RO, none},
    {"declare c binary no scroll cursor without hold for select * from t", RO, none},
    {"declare c cursor for select * from t for update", W, lock},
    {"declare c scroll cursor for select nextval('s')", W, fn, "nextval"},
    {"declare c cursor with hold for select 1", W, ddl},
    {"fetch next from c", W, ddl},
    {"fetch all in c", W, ddl},
    {"move forward 5 in c", W, ddl},
    {"close c", W, ddl},
    {"close all", W, ddl},
    // COPY
    {"copy t from stdin", W, dml},
    {"copy t (a, b) from '/tmp/x' with (format csv)", W, dml},
    {"copy t from program 'cat /tmp/x'", W, dml},
    {"copy t to stdout", RO, none},
    {"copy t (a) to stdout with (format csv, header)", RO, none},
    {"copy (select * from t where a > 1) to stdout", RO, none},
    {"copy t to '/tmp/x'", W, ddl},
    {"copy (select 1) to program 'cat'", W, ddl},
    {"copy (select nextval('s')) to stdout", W, fn, "nextval"},
    {"copy (delete from t returning *) to stdout", W, dml},
    {"copy (select * from t for update) to stdout", W, lock},

    // ---- EXPLAIN
    {"explain select * from t", RO, none},
    {"explain delete from t", RO, none},
    {"explain (costs off) insert into t values (1)", RO, none},
    {"explain verbose select nextval('s')", RO, none},
    {"explain (format json) select 1", RO, none},
    {"explain analyze select 1", RO, none},
    {"explain (analyze) select 1", RO, none},
    {"explain analyze verbose select * from t", RO, none},
    {"explain analyze delete from t", W, ea},
    {"explain (analyze, buffers) update t set a = 1", W, ea},
    {"explain (analyze true) insert into t values (1)", W, ea},
    {"explain (analyze on) select nextval('s')", W, ea, "nextval"},
    {"explain (analyze false) delete from t", RO, none},
    {"explain (analyze off, costs off) delete from t", RO, none},
    {"explain (analyze 0) delete from t", RO, none},
    {"explain analyze select * from t for update", W, ea},
    {"explain analyze with d as (delete from t returning *) select * from d", W, ea},
    {"explain analyze create table x as select 1", W, ea},
    {"explain execute q", W, unk},
    {"explain analyze execute q(1)", W, unk},

    // ---- transaction control
    {"begin", TC, none, "", B},
    {"begin work", TC, none, "", B},
    {"begin read only", TC, none, "", B | RD},
    {"begin transaction read only", TC, none, "", B | RD},
    {"begin isolation level serializable, read only, deferrable", TC, none, "", B | RD},
    {"begin read write", TC, none, "", B},
    {"BEGIN ISOLATION LEVEL REPEATABLE READ", TC, none, "", B},
    {"start transaction", TC, none, "", B},
    {"start transaction isolation level serializable read only", TC, none, "", B | RD},
    {"START TRANSACTION READ WRITE", TC, none, "", B},
    {"set transaction read only", TC, none, "", RD},
    {"set transaction isolation level serializable read only deferrable", TC, none, "", RD},
    {"set transaction read write", TC, none},
    {"set transaction isolation level repeatable read", TC, none},
    {"set transaction snapshot '00000003-0000001B-1'", TC, none},
    {"set transaction_read_only = on", TC, none, "", RD},
    {"set local transaction_read_only to off", TC, none},
    {"set transaction_isolation = 'serializable'", TC, none},
    {"commit", TC, none, "", E},
    {"commit work", TC, none, "", E},
    {"end", TC, none, "", E},
    {"end transaction", TC, none, "", E},
    {"rollback", TC, none, "", E},
    {"abort", TC, none, "", E},
    {"commit and chain", TC, none, "", E | B},
    {"rollback and no chain", TC, none, "", E},
    {"savepoint a", TC, none},
    {"release savepoint a", TC, none},
    {"release a", TC, none},
    {"rollback to savepoint a", TC, none},
    {"rollback to a", TC, none},
    {"prepare transaction 'x'", TC, none, "", E},
    {"commit prepared 'x'", W, ddl, "", E},
    {"rollback prepared 'x'", W, ddl, "", E},

    // ---- session state, SET LOCAL
    {"set search_path = a", SS, none},
    {"set search_path to default", SS, none},
    {"set time zone 'UTC'", SS, none},
    {"set session work_mem = '64MB'", SS, none},
    {"set names 'utf8'", SS, none},
    {"set role r", SS, none},
    {"reset role", SS, none},
    {"set session authorization u", SS, none},
    {"reset work_mem", SS, none},
    {"reset all", SS, none},
    {"discard all", SS, none},
    {"discard plans", SS, none},
    {"set session characteristics as transaction read only", SS, none},
    {"set local statement_timeout = 5", RO, none},
    {"set local search_path = a", RO, none},
    {"set local role r", RO, none},

    // ---- several statements
    {"select 1; select 2", RO, none, "", 0, "", 2},
    {"select 1; insert into t values (1)", W, dml, "", 0, "", 2},
    {"begin; select 1; commit", TC, none, "", B | E, "", 3},
    {"select 1; set a.b = 1", SS, none},
    {"begin; set search_path = a; commit", SS, none, "", B | E},
    {"select 1; selec 2", PE, perr},
    {"set local x.y = 1; select 1", RO, none, "", 0, "", 2},
    {"begin read only; select * from t; commit", TC, none, "", B | RD | E},
    {"begin; set transaction read only; select 1", TC, none, "", B | RD},
    {"begin read only; commit; begin", TC, none, "", B | E},
    {"begin read only; set transaction read write", TC, none, "", B},
    {"select nextval('s'); insert into t values (1)", W, fn, "nextval"},
    {"insert into t values (1); select nextval('s')", W, dml},
    {"begin; insert into t values (1); commit", W, dml, "", B | E},
    {"select 1; ; select 2", RO, none, "", 0, "", 2},
    {"select 1;", RO, none, "", 0, "", 1},

    // ---- empty and malformed
    {"", EMPTY, none, "", 0, "", 0},
    {"   \n\t", EMPTY, none},
    {"  -- only a comment", EMPTY, none},
    {"/* c */", EMPTY, none},
    {";", EMPTY, none, "", 0, "", 0},
    {";;", EMPTY, none},
    {"selec 1", PE, perr},
    {"select (", PE, perr},
    {"select 'unterminated", PE, perr},
    {"select * from", PE, perr},
    {"insert into", PE, perr},
    {"begin; selec 1; commit", PE, perr},
    {"select 1 from t where", PE, perr},
    {"select $$", PE, perr},
    {"explain analyze", PE, perr},
    {"/* pgrelay: route=primary */ selec 1", PE, perr, "", 0, "primary"},

    // ---- hints
    {"/* pgrelay: route=primary */ select 1", RO, none, "", 0, "primary"},
    {"select 1 /* pgrelay: route=analytics */", RO, none, "", 0, "analytics"},
    {"/*pgrelay:route=replica*/select 1", RO, none, "", 0, "replica"},
    {"/* PGRELAY: ROUTE = Primary */ select 1", RO, none, "", 0, "primary"},
    {"/*  pgrelay :  route  =  analytics  */ select 1", RO, none, "", 0, "analytics"},
    {"-- pgrelay: route=analytics\nselect 1", RO, none, "", 0, "analytics"},
    {"--pgrelay:route=replica\nselect 1", RO, none, "", 0, "replica"},
    {"select 1 -- pgrelay route=analytics", RO, none, "", 0, "analytics"},
    {"select '/* pgrelay: route=primary */'", RO, none},
    {"select $$ /* pgrelay: route=primary */ $$", RO, none},
    {"select 1 as \"/* pgrelay: route=primary */\"", RO, none},
    {"/* pgrelay: something else */ select 1", RO, none},
    {"/* other */ select 1 /* pgrelay: route=primary */", RO, none, "", 0, "primary"},
    {"/* pgrelay: route=primary */ /* pgrelay: route=replica */ select 1", RO, none, "", 0, "primary"},
    {"/* outer /* nested pgrelay: route=analytics */ */ select 1", RO, none, "", 0, "analytics"},
    {"/* pgrelay: route=primary */ insert into t values (1)", W, dml, "", 0, "primary"},
    {"/* app=x, pgrelay: route=my-pool_2 */ select 1", RO, none, "", 0, "my-pool_2"},
    {"/* pgrelay: route=primary */", EMPTY, none, "", 0, "primary"},
    {"begin read only /* pgrelay: route=analytics */", TC, none, "", B | RD, "analytics"},
    {"/* pgrelay: route=primary. */ select 1", RO, none, "", 0, "primary"},
    {"/* pgrelay: route= */ select 1", RO, none},
};

}  // namespace

TEST_CASE("classification table") {
  STATIC_REQUIRE(sizeof(table) / sizeof(table[0]) >= 150);
  for (const auto& r : table) {
    INFO(r.sql);
    auto c = classify(r.sql);
    CHECK(to_string(c.kind) == to_string(r.kind));
    CHECK(to_string(c.why) == to_string(r.why));
    CHECK(c.function == r.function);
    CHECK(c.begin == ((r.flags & B) != 0));
    CHECK(c.begin_read_only == ((r.flags & RD) != 0));
    CHECK(c.ends_transaction == ((r.flags & E) != 0));
    CHECK(c.hint == r.hint);
    if (r.statements >= 0) CHECK(c.statements == static_cast<std::size_t>(r.statements));
  }
}

TEST_CASE("classify without a catalog uses the built-in list") {
  CHECK(classify("select add_row(1)").kind == statement_kind::read_only);
  CHECK(classify("select nextval('s')", builtin_functions()).function == "nextval");
  CHECK(classify("select 1; select 2").statements == 2);
}

TEST_CASE("reason names") {
  CHECK(to_string(write_reason::none) == "none");
  CHECK(to_string(write_reason::modifying_cte) == "modifying_cte");
  CHECK(to_string(write_reason::writing_function) == "writing_function");
  CHECK(to_string(statement_kind::session_state) == "session_state");
  CHECK(route_hint("select 1") == "");
  CHECK(route_hint("/* pgrelay: route=Analytics */ select 1") == "analytics");
}
