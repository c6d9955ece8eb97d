// Statement kinds from the real parser: a table of statements and what each must be.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "pgrelay/router/classify.hpp"

using namespace pgrelay::router;

TEST_CASE("statement kinds") {
  struct row {
    const char* sql;
    statement_kind kind;
  };
  const std::vector<row> table = {
      {"select 1", statement_kind::read_only},
      {"SELECT * FROM t WHERE id = $1", statement_kind::read_only},
      {"values (1), (2)", statement_kind::read_only},
      {"table t", statement_kind::read_only},
      {"show search_path", statement_kind::read_only},
      {"explain select * from t", statement_kind::read_only},
      {"explain analyze delete from t", statement_kind::write},
      {"explain (analyze) select 1", statement_kind::read_only},
      {"select * from t for update", statement_kind::write},
      {"select * from t for no key update skip locked", statement_kind::write},
      {"select * from t for key share", statement_kind::write},
      {"select * into t2 from t", statement_kind::write},
      {"with d as (delete from t returning *) select * from d", statement_kind::write},
      {"with r as (select 1) select * from r", statement_kind::read_only},
      {"select 1 union select * from (select 2) s", statement_kind::read_only},
      {"insert into t values (1)", statement_kind::write},
      {"update t set a = 1", statement_kind::write},
      {"delete from t", statement_kind::write},
      {"create table x (a int)", statement_kind::write},
      {"begin", statement_kind::transaction_control},
      {"begin read only", statement_kind::transaction_control},
      {"commit", statement_kind::transaction_control},
      {"rollback to savepoint a", statement_kind::transaction_control},
      {"set search_path = a", statement_kind::session_state},
      {"set local statement_timeout = 5", statement_kind::read_only},
      {"select 1; insert into t values (1)", statement_kind::write},
      {"begin; select 1; commit", statement_kind::transaction_control},
      {"  -- only a comment", statement_kind::empty},
      {"", statement_kind::empty},
      {"selec 1", statement_kind::parse_error},
      {"select (", statement_kind::parse_error},
  };
  for (const auto& r : table) {
    INFO(r.sql);
    CHECK(classify(r.sql).kind == r.kind);
  }
  CHECK(classify("select 1; select 2").statements == 2);
}
