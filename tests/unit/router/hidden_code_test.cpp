// Relations whose use runs user code (triggers, RLS policies, views, defaults): the relations a
// statement names are found once per text, and the opaque decision is taken against the set.
#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "pgrelay/router/hidden_code.hpp"
#include "pgrelay/router/session_effects.hpp"

using namespace pgrelay::router;

namespace {

std::vector<relation_ref> relations_of(std::string_view sql) {
  std::vector<relation_ref> out;
  analyze_session_effects(sql, &out);
  return out;
}

risky_relations risky(std::vector<std::pair<std::string, std::string>> rows) {
  return make_risky_relations(rows, 7);
}

}  // namespace

TEST_CASE("relations named by a statement, wherever they appear", "[router][hidden_code]") {
  CHECK(relations_of("SELECT abalance FROM pgbench_accounts WHERE aid = $1") ==
        std::vector<relation_ref>{{"", "pgbench_accounts"}});
  CHECK(relations_of("UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2") ==
        std::vector<relation_ref>{{"", "pgbench_accounts"}});
  CHECK(relations_of("INSERT INTO s.t VALUES (1)") == std::vector<relation_ref>{{"s", "t"}});
  CHECK(relations_of("select * from S.V") == std::vector<relation_ref>{{"s", "v"}});
  CHECK(relations_of(R"(select * from "S"."V")") == std::vector<relation_ref>{{"S", "V"}});
  CHECK(relations_of("select * from db.s.t") == std::vector<relation_ref>{{"s", "t"}});
  // joins, subqueries, CTE bodies, DELETE USING, each name once
  auto many = relations_of(
      "WITH w AS (DELETE FROM a RETURNING id) SELECT * FROM b JOIN c ON true "
      "WHERE EXISTS (SELECT 1 FROM a) AND id IN (SELECT id FROM w)");
  CHECK(many.size() == 4);  // a, b, c and the CTE name w (a harmless false alarm at worst)
  CHECK(relations_of("TRUNCATE x.y") == std::vector<relation_ref>{{"x", "y"}});
  CHECK(relations_of("COPY t FROM STDIN") == std::vector<relation_ref>{{"", "t"}});
  CHECK(relations_of("MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN DELETE").size() == 2);
  CHECK(relations_of("SELECT 1").empty());
  CHECK(relations_of("SELECT now(), 'from t'").empty());  // a literal names nothing
  CHECK(relations_of("not sql at all").empty());
}

TEST_CASE("the risky set: qualified names exactly, bare names in any schema", "[router][hidden_code]") {
  auto set = risky({{"s", "v"}, {"app", "audited"}});
  CHECK(set.contains({"s", "v"}));
  CHECK(set.contains({"", "v"}));          // search_path may reach s.v
  CHECK(set.contains({"", "audited"}));
  CHECK_FALSE(set.contains({"public", "v"}));  // another schema's v is another relation
  CHECK_FALSE(set.contains({"s", "audited"}));
  CHECK_FALSE(set.contains({"", "V"}));    // a quoted "V" is not v
  CHECK_FALSE(set.contains({"", "pgbench_accounts"}));
  CHECK(set.version == 7);
  CHECK(make_risky_relations({}, 0).version != 0);
  CHECK(make_risky_relations({}, 0).empty());
}

TEST_CASE("opaque decision: a statement naming a risky relation", "[router][hidden_code]") {
  auto set = risky({{"s", "v_tenant"}, {"s", "trig_lock"}});
  auto opaque = [&](std::string_view sql, const risky_relations* r) {
    return may_run_hidden_code(relations_of(sql), r);
  };
  CHECK(opaque("SELECT * FROM s.v_tenant", &set));
  CHECK(opaque("select t from v_tenant", &set));
  CHECK(opaque("INSERT INTO s.trig_lock VALUES (1)", &set));
  CHECK(opaque("SELECT 1 FROM pgbench_branches b, (SELECT * FROM s.v_tenant) x", &set));
  CHECK_FALSE(opaque("SELECT abalance FROM pgbench_accounts WHERE aid = $1", &set));
  CHECK_FALSE(opaque("SELECT * FROM other.v_tenant", &set));
  CHECK_FALSE(opaque("SELECT 1", &set));

  // No risky relation at all: nothing is opaque for its relations.
  const auto none = risky({});
  CHECK_FALSE(opaque("SELECT * FROM s.v_tenant", &none));
  // Before the catalogue was read, any relation may hide code.
  CHECK(opaque("SELECT abalance FROM pgbench_accounts WHERE aid = $1", nullptr));
  CHECK_FALSE(opaque("SELECT 1", nullptr));
}

TEST_CASE("the prefilter alone misses hidden code: the caller must parse", "[router][hidden_code]") {
  // Why inspect_statement skips may_have_session_effects while the risky set is not empty.
  CHECK_FALSE(may_have_session_effects("SELECT * FROM s.v_tenant"));
  CHECK_FALSE(may_have_session_effects("INSERT INTO s.trig_lock VALUES (1)"));
  CHECK_FALSE(analyze_session_effects("SELECT * FROM s.v_tenant").any());
}
