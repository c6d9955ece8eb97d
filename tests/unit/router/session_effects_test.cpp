// Session-state constructs a transaction pooler must notice, found by the real parser.
#include <cctype>
#include <random>
#include <catch2/catch.hpp>

#include "pgrelay/router/session_effects.hpp"

using namespace pgrelay::router;

TEST_CASE("constructs that pin") {
  CHECK(analyze_session_effects("LISTEN jobs").listen);
  CHECK(analyze_session_effects("select pg_advisory_lock(42)").advisory_lock);
  CHECK(analyze_session_effects("select pg_try_advisory_lock_shared($1)").advisory_lock);
  CHECK(analyze_session_effects("select x from t where pg_catalog.pg_advisory_lock(1) is not null").advisory_lock);
  CHECK_FALSE(analyze_session_effects("select pg_advisory_xact_lock(1)").advisory_lock);
  CHECK(analyze_session_effects("select pg_advisory_unlock(1)").advisory_unlock);
  CHECK(analyze_session_effects("select pg_advisory_unlock_all()").advisory_unlock);
  CHECK(analyze_session_effects("create temp table t (a int)").temp_table);
  CHECK(analyze_session_effects("create temporary view v as select 1").temp_table);
  CHECK(analyze_session_effects("select 1 into temp t2").temp_table);
  CHECK_FALSE(analyze_session_effects("create table t (a int)").temp_table);
  CHECK(analyze_session_effects("declare c cursor with hold for select 1").with_hold_cursor);
  CHECK_FALSE(analyze_session_effects("declare c cursor for select 1").with_hold_cursor);
  CHECK(analyze_session_effects("set role reporter").set_role);
  CHECK(analyze_session_effects("set session authorization app").set_role);
  CHECK(analyze_session_effects("prepare p as select 1").sql_prepare);
}

TEST_CASE("settings and resets") {
  auto s = analyze_session_effects("SET search_path TO a, b");
  CHECK(s.set);
  CHECK(s.set_name == "search_path");
  CHECK_FALSE(s.any_pin());
  CHECK_FALSE(analyze_session_effects("set local statement_timeout = 5").set);
  auto r = analyze_session_effects("reset Work_Mem");
  CHECK(r.reset);
  CHECK(r.set_name == "work_mem");
  CHECK(analyze_session_effects("reset all").reset_all);
  CHECK_FALSE(analyze_session_effects("set transaction read only").set);
  auto chars = analyze_session_effects("set session characteristics as transaction read only");
  CHECK(chars.set);
  CHECK(chars.set_name.empty());
  CHECK(analyze_session_effects("discard all").discard_all);
  CHECK_FALSE(analyze_session_effects("discard plans").discard_all);
  auto d = analyze_session_effects("deallocate s1");
  CHECK(d.deallocate);
  CHECK(d.name == "s1");
  CHECK(analyze_session_effects("deallocate all").deallocate_all);
  CHECK(analyze_session_effects("begin; set x.y = 1; commit").transaction_control);
}

TEST_CASE("the prefilter skips the blanks of the C locale and ends a word at what is no letter or digit") {
  for (char blank : {' ', '\t', '\n', '\v', '\f', '\r'}) {
    INFO(static_cast<int>(blank));
    CHECK(may_have_session_effects(std::string(1, blank) + "SET x = 1"));
    CHECK(may_have_session_effects(std::string("select 1;") + blank + "listen x"));
    CHECK(may_have_session_effects(std::string("select f") + blank + "(1)"));
  }
  // Control characters that are not blanks are no word boundary Postgres would accept either.
  CHECK_FALSE(may_have_session_effects("\x1c" "SET x = 1"));
  CHECK_FALSE(may_have_session_effects("\x01" "listen x"));
  for (const char* glued : {"SETx = 1", "SET9 = 1", "SET_x = 1", "listenx"}) {
    INFO(glued);
    CHECK_FALSE(may_have_session_effects(glued));
  }
  CHECK(may_have_session_effects("SET;"));
  CHECK(may_have_session_effects("listen-- c\n x"));
}

TEST_CASE("plain statements have no effects and the prefilter skips them") {
  for (const char* sql : {"select 1", "insert into t values (1)", "update t set a = 1 where b = 2",
                          "with x as (select 1) select * from x", "select * from settings"}) {
    INFO(sql);
    CHECK_FALSE(analyze_session_effects(sql).any());
  }
  CHECK_FALSE(may_have_session_effects("select 1"));
  CHECK_FALSE(may_have_session_effects("update t set a = 1"));
  CHECK_FALSE(may_have_session_effects("  /* c */ select 1; select 2"));
  CHECK(may_have_session_effects("  -- hi\n SET x = 1"));
  // Postgres ends a -- comment at a carriage return too (scan.l: newline is [\n\r]). Found by
  // fuzz_classify: the prefilter read the LISTEN as part of the comment.
  CHECK(may_have_session_effects("-- hi\rLISTEN c"));
  CHECK(analyze_session_effects("-- hi\rLISTEN c").any());
  CHECK(may_have_session_effects("select 1; -- hi\r\rset x = 1"));
  CHECK(may_have_session_effects("select 1; listen x"));
  CHECK(may_have_session_effects("select pg_advisory_lock(1)"));
  CHECK(may_have_session_effects("create temp table t()"));
  CHECK(may_have_session_effects("SELECT PG_ADVISORY_XACT_LOCK(1)"));
  CHECK(may_have_session_effects("CREATE TEMPORARY TABLE t()"));
  CHECK(may_have_session_effects("select 1;\tDeclare c cursor with hold for select 1"));
  CHECK(may_have_session_effects("RESET ALL"));
  CHECK(may_have_session_effects("select 1 from temp"));  // a table name: only costs a parse
  CHECK(may_have_session_effects("Prepare p as select 1"));
  CHECK_FALSE(may_have_session_effects("SELECT abalance FROM pgbench_accounts WHERE aid = 42;"));
  CHECK_FALSE(may_have_session_effects("select settings from preparations"));
  // The word scan at every offset, including the last bytes where only 4 are left to load.
  CHECK(may_have_session_effects("temp"));
  CHECK(may_have_session_effects("xTeMp"));
  CHECK(may_have_session_effects("select 1 into TEMP"));
  // Advisory locks are taken by calls: the parenthesis, not the word, sends them to the parser.
  CHECK(may_have_session_effects("select pg_try_advisory_lock (1)"));
  CHECK_FALSE(may_have_session_effects("select pg_advisory"));
  CHECK_FALSE(may_have_session_effects("select ADVISORY from locks"));
  CHECK_FALSE(may_have_session_effects("tem"));
  CHECK_FALSE(may_have_session_effects("select tmp, advisor from t"));
  CHECK_FALSE(may_have_session_effects("adv"));
  CHECK_FALSE(analyze_session_effects("selec 1").any());
}

TEST_CASE("the prefilter treats keywords that can name a function as calls outside their clause") {
  // Found by fuzz_classify: BY is unreserved, so by('ls') calls a function (user code).
  CHECK(may_have_session_effects("select by('ls')"));
  CHECK(may_have_session_effects("select is(1, 1)"));  // pgTAP
  CHECK(may_have_session_effects("select like('a')"));
  CHECK(may_have_session_effects("select key(1), over(2)"));
  CHECK(may_have_session_effects("select within(1)"));
  // In their own clauses they open a parenthesised list, not a call.
  CHECK_FALSE(may_have_session_effects("select a from t group by (a) order by (a)"));
  // (FILTER and OVER follow an aggregate's own call, which already sends the text to the parser.)
  CHECK_FALSE(may_have_session_effects("insert into t values (1) on conflict (a) do nothing"));
  CHECK_FALSE(may_have_session_effects("alter table t add primary key (a)"));
}

TEST_CASE("SET reports a single constant value as text", "[router][session_effects]") {
  CHECK(analyze_session_effects("SET pgrelay.max_lag = '2s'").set_value == "2s");
  CHECK(analyze_session_effects("SET pgrelay.max_lag TO 250").set_value == "250");
  CHECK(analyze_session_effects("set PGRELAY.MAX_LAG to '1min'").set_name == "pgrelay.max_lag");
  CHECK(analyze_session_effects("SET search_path = a, b").set_value.empty());
  CHECK(analyze_session_effects("SET work_mem TO DEFAULT").set_value.empty());
  CHECK(analyze_session_effects("SET LOCAL pgrelay.max_lag = '2s'").set_value.empty());
}

TEST_CASE("the prefilter finds temp at every offset and in any case") {
  // Against the obvious search, on texts made of the word's letters (and many an 'm', the byte
  // the fast search marks) so near misses abound.
  std::mt19937 rng(20261127);
  const std::string alphabet = "tempmmTEMPMadvisory _x";
  auto naive = [](std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s.find("temp") != std::string::npos;
  };
  for (int round = 0; round < 20000; ++round) {
    std::string text(rng() % 40, ' ');
    for (auto& c : text) c = alphabet[rng() % alphabet.size()];
    INFO(text);
    // The statement starters are not in this alphabet, so only the word search can answer.
    REQUIRE(may_have_session_effects("select " + text) == naive(text));
  }
}
