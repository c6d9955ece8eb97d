// Parameter sync: only differences are sent, values are quoted, options are parsed like libpq.
#include <catch2/catch.hpp>

#include "pgrelay/core/session_params.hpp"

using namespace pgrelay::core;

TEST_CASE("parse_options accepts the forms libpq and drivers send") {
  auto r = parse_options("-c statement_timeout=5s -csearch_path=a,b --work-mem=64MB");
  REQUIRE(r);
  REQUIRE(r->size() == 3);
  CHECK((*r)[0] == std::make_pair(std::string("statement_timeout"), std::string("5s")));
  CHECK((*r)[1] == std::make_pair(std::string("search_path"), std::string("a,b")));
  CHECK((*r)[2] == std::make_pair(std::string("work_mem"), std::string("64MB")));

  auto escaped = parse_options(R"(-c application_name=my\ app)");
  REQUIRE(escaped);
  CHECK((*escaped)[0].second == "my app");

  CHECK(parse_options("")->empty());
  CHECK_FALSE(parse_options("-c"));
  CHECK_FALSE(parse_options("-c novalue"));
  CHECK_FALSE(parse_options("-D /etc"));
  CHECK_FALSE(parse_options("-c bad;name=1"));
}

TEST_CASE("quote_literal doubles quotes") {
  CHECK(quote_literal("it's") == "'it''s'");
  CHECK(quote_literal("") == "''");
}

TEST_CASE("plan_param_sync sets what differs and resets what the client does not want") {
  param_map baseline{{"application_name", ""}, {"timezone", "UTC"}};
  param_map applied;
  param_map wanted{{"application_name", "psql"}, {"timezone", "UTC"}, {"statement_timeout", "5s"}};

  auto sql = plan_param_sync(wanted, baseline, applied);
  CHECK(sql ==
        "SELECT pg_catalog.set_config('application_name', 'psql', false), "
        "pg_catalog.set_config('statement_timeout', '5s', false);");
  CHECK(applied.size() == 2);

  // Same client again: nothing to do.
  CHECK(plan_param_sync(wanted, baseline, applied).empty());

  // Another client that wants none of it: reset both.
  param_map plain{{"timezone", "UTC"}};
  auto reset = plan_param_sync(plain, baseline, applied);
  // Every name part is quoted: a reserved word (some.var) must not be a syntax error.
  CHECK(reset == "RESET \"application_name\";RESET \"statement_timeout\";");
  CHECK(applied.empty());
}

TEST_CASE("plan_param_sync quotes hostile values") {
  param_map applied;
  param_map wanted{{"application_name", "x'); DROP TABLE t; --"}};
  auto sql = plan_param_sync(wanted, {}, applied);
  CHECK(sql == "SELECT pg_catalog.set_config('application_name', 'x''); DROP TABLE t; --', false);");
}

TEST_CASE("connection params are not settings") {
  CHECK(is_connection_param("user"));
  CHECK(is_connection_param("database"));
  CHECK(is_connection_param("replication"));
  CHECK_FALSE(is_connection_param("application_name"));
  CHECK(normalize_param_name("DateStyle") == "datestyle");
}

TEST_CASE("server facts are never carried between servers") {
  CHECK(is_server_fact("server_version"));
  CHECK(is_server_fact("is_superuser"));
  CHECK_FALSE(is_server_fact("application_name"));
  CHECK_FALSE(is_server_fact("timezone"));
}

TEST_CASE("quote_ident quotes every part of a setting name", "[core][session_params]") {
  CHECK(quote_ident("var") == "\"var\"");
  CHECK(quote_ident("we\"ird") == "\"we\"\"ird\"");
  CHECK(quote_param_name("some.var") == "\"some\".\"var\"");
  CHECK(quote_param_name("my$app.tenant") == "\"my$app\".\"tenant\"");
  CHECK(quote_param_name("search_path") == "\"search_path\"");
  CHECK(reset_sql("some.var") == "RESET \"some\".\"var\";");
  CHECK(set_config_sql("some.var", "it's") == "SELECT pg_catalog.set_config('some.var', 'it''s', false)");
}

TEST_CASE("plan_param_sync resets names that are reserved words or odd", "[core][session_params]") {
  param_map applied{{"some.var", "yay"}, {"my$app.tenant", "a"}};
  auto sql = plan_param_sync({}, {}, applied);
  CHECK(sql == "RESET \"my$app\".\"tenant\";RESET \"some\".\"var\";");
  CHECK(applied.empty());
}
