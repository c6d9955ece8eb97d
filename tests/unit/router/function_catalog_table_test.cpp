// Writing functions from the three sources (built-in, learned from pg_proc, YAML) and how they
// override each other: a table of lookups, then a table of statements under that catalog.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "pgrelay/router/classify.hpp"
#include "pgrelay/router/function_catalog.hpp"

using namespace pgrelay::router;

namespace {

function_catalog test_catalog() {
  const std::vector<std::string> learned{"public.add_row", "audit.log_event", "public.random_pick",
                                         "Billing.Charge", "util.safe_fn", " ext2.Spaced "};
  const std::vector<std::string> writes{"send_email", "ext.touch", "\"Quoted\".\"Fn\""};
  const std::vector<std::string> read_only{"public.random_pick", "safe_fn", "nextval", "pg_catalog.setval",
                                           "lo_get"};
  return make_catalog(learned, writes, read_only);
}

struct lookup_row {
  const char* schema;
  const char* name;
  bool write;
};

const lookup_row lookups[] = {
    // built-in: any schema, any case, prefixes; overrides never win
    {"", "nextval", true},
    {"pg_catalog", "NEXTVAL", true},
    {"", "setval", true},
    {"pg_catalog", "setval", true},
    {"", "lo_get", true},
    {"", "pg_advisory_xact_lock_shared", true},
    {"", "pg_try_advisory_lock", true},
    {"", "pg_stat_reset_something_new", true},
    {"", "pg_create_fancy_replication_slot", true},
    {"", "pg_copy_logical_replication_slot", true},
    {"", "dblink_exec", true},
    {"", "pg_replication_origin_drop", true},
    // learned, qualified and unqualified
    {"public", "add_row", true},
    {"", "add_row", true},
    {"PUBLIC", "Add_Row", true},
    {"other", "add_row", false},
    {"", "log_event", true},
    {"audit", "log_event", true},
    {"billing", "charge", true},
    {"", "charge", true},
    {"ext2", "spaced", true},
    // overridden read-only
    {"public", "random_pick", false},
    {"", "random_pick", false},
    {"", "safe_fn", false},
    {"util", "safe_fn", false},
    // YAML writes
    {"", "send_email", true},
    {"anywhere", "send_email", true},
    {"ext", "touch", true},
    {"", "touch", true},
    {"other", "touch", false},
    {"quoted", "fn", true},
    // unknown
    {"", "lower", false},
    {"pg_catalog", "now", false},
    {"", "random", false},
};

struct stmt_row {
  const char* sql;
  statement_kind kind;
  write_reason why;
  const char* function;
};

const stmt_row statements[] = {
    {"select add_row(1)", statement_kind::write, write_reason::writing_function, "add_row"},
    {"select public.add_row(1)", statement_kind::write, write_reason::writing_function, "public.add_row"},
    {"select PUBLIC.ADD_ROW(1)", statement_kind::write, write_reason::writing_function, "public.add_row"},
    {"select other.add_row(1)", statement_kind::read_only, write_reason::none, ""},
    {"select * from add_row(1)", statement_kind::write, write_reason::writing_function, "add_row"},
    {"with x as (select add_row(1)) select * from x", statement_kind::write, write_reason::writing_function,
     "add_row"},
    {"select 1 where exists (select audit.log_event('x'))", statement_kind::write,
     write_reason::writing_function, "audit.log_event"},
    {"select \"Billing\".charge(1)", statement_kind::write, write_reason::writing_function, "billing.charge"},
    {"select random_pick()", statement_kind::read_only, write_reason::none, ""},
    {"select public.random_pick()", statement_kind::read_only, write_reason::none, ""},
    {"select safe_fn(), util.safe_fn()", statement_kind::read_only, write_reason::none, ""},
    {"select send_email('a')", statement_kind::write, write_reason::writing_function, "send_email"},
    {"select mail.send_email('a')", statement_kind::write, write_reason::writing_function, "mail.send_email"},
    {"select touch()", statement_kind::write, write_reason::writing_function, "touch"},
    {"select other.touch()", statement_kind::read_only, write_reason::none, ""},
    {"select nextval('s')", statement_kind::write, write_reason::writing_function, "nextval"},
    {"select pg_catalog.setval('s', 1)", statement_kind::write, write_reason::writing_function,
     "pg_catalog.setval"},
    {"explain analyze select add_row(1)", statement_kind::write, write_reason::explain_analyze, "add_row"},
    {"explain select add_row(1)", statement_kind::read_only, write_reason::none, ""},
    {"copy (select add_row(1)) to stdout", statement_kind::write, write_reason::writing_function, "add_row"},
    {"select count(*) from t", statement_kind::read_only, write_reason::none, ""},
};

}  // namespace

TEST_CASE("function catalog lookups") {
  const auto cat = test_catalog();
  for (const auto& r : lookups) {
    INFO(std::string(r.schema) + "." + r.name);
    CHECK(cat.is_write(r.schema, r.name) == r.write);
  }
}

TEST_CASE("built-in catalog") {
  const auto& b = builtin_functions();
  CHECK(b.read_only.empty());
  CHECK(b.writes.contains("nextval"));
  CHECK(b.writes.contains("pg_advisory_xact_lock"));
  CHECK(b.is_write("", "PG_NOTIFY"));
  CHECK_FALSE(b.is_write("public", "add_row"));
  CHECK(is_builtin_write("lo_import"));
  CHECK_FALSE(is_builtin_write("lower"));
  // A hand-built catalog still honours the built-in list.
  function_catalog hand;
  hand.read_only.insert("nextval");
  CHECK(hand.is_write("", "nextval"));
  const auto cat = test_catalog();
  CHECK(cat.writes.contains("billing.charge"));
  CHECK(cat.writes.contains("ext2.spaced"));
  CHECK(cat.writes.contains("quoted.fn"));
}

TEST_CASE("statements under a learned catalog") {
  const auto cat = test_catalog();
  for (const auto& r : statements) {
    INFO(r.sql);
    auto c = classify(r.sql, cat);
    CHECK(to_string(c.kind) == to_string(r.kind));
    CHECK(to_string(c.why) == to_string(r.why));
    CHECK(c.function == r.function);
  }
}
