// Each session effect pins for its own reason, and only for it.
#include <catch2/catch.hpp>

#include "pgrelay/core/session_pins.hpp"
#include "pgrelay/router/session_effects.hpp"

using namespace pgrelay;
using core::pin_reason;

namespace {
core::pin_set pins_for(const char* sql) { return core::pins_of(router::analyze_session_effects(sql)); }
}  // namespace

TEST_CASE("statements pin for the state they leave on the server") {
  CHECK(pins_for("LISTEN jobs") == core::bit(pin_reason::listen));
  CHECK(pins_for("select pg_advisory_lock(1)") == core::bit(pin_reason::advisory_lock));
  CHECK(pins_for("create temp table t (a int)") == core::bit(pin_reason::temp_table));
  CHECK(pins_for("create table pg_temp.t (a int)") == core::bit(pin_reason::temp_table));
  CHECK(pins_for("declare c cursor with hold for select 1") == core::bit(pin_reason::with_hold_cursor));
  CHECK(pins_for("set role app") == core::bit(pin_reason::set_role));
  CHECK(pins_for("select set_config('role', 'app', false)") == core::bit(pin_reason::set_role));
  CHECK(pins_for("prepare p as select 1") == core::bit(pin_reason::sql_prepare));
  CHECK(pins_for("set search_path = a; select 1") == core::bit(pin_reason::set_in_transaction));
  CHECK(pins_for("set session characteristics as transaction read only") ==
        core::bit(pin_reason::set_in_transaction));
}

TEST_CASE("what can be replayed or has no lasting state pins nothing") {
  for (const char* sql : {"select 1", "set search_path = a", "select set_config('x.y', 'v', false)",
                          "set local work_mem = '1MB'", "select pg_advisory_xact_lock(1)", "reset all",
                          "declare c cursor for select 1", "discard all", "deallocate all"}) {
    INFO(sql);
    CHECK(pins_for(sql) == 0);
  }
}
