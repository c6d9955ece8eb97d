// What a statement does to session state that a transaction pooler must know about: things a
// server keeps after the transaction (LISTEN, advisory locks, temp tables, held cursors, roles,
// SQL-level prepared statements, SET) and things that clear it (RESET, DEALLOCATE, DISCARD).
// What cannot be seen from the text (DO blocks, CALL, functions that are not harmless built-ins)
// is reported `opaque`: the server must be examined before another client may use it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pgrelay/router/hidden_code.hpp"

namespace pgrelay::router {

struct session_effects {
  bool listen = false;
  bool advisory_lock = false;    // a session-level advisory lock may be taken
  bool advisory_unlock = false;  // a session-level advisory lock may be released
  bool temp_table = false;
  bool with_hold_cursor = false;
  bool set_role = false;         // SET ROLE / SET SESSION AUTHORIZATION
  bool sql_prepare = false;
  bool set = false;              // SET name ... (not LOCAL); `set_name` says which
  bool set_by_function = false;  // the SET is a set_config(name, value, false) call: replay it as one
  bool set_value_unknown = false;  // set_config with a computed value or is_local: read it back after
  bool reset = false;            // RESET name; `set_name` says which
  bool reset_all = false;
  bool deallocate = false;       // DEALLOCATE name; `name` says which
  bool deallocate_all = false;
  bool discard_all = false;
  bool transaction_control = false;  // BEGIN/COMMIT/… anywhere in the string
  bool opaque = false;  // may change session state in ways the text does not show
  std::string set_name;              // lowercased GUC name for set/reset (quoted parts too: Postgres
                                     // compares setting names case-insensitively)
  std::string set_value;             // SET name = <one constant>: its text ('2s' → 2s); else empty
  std::string name;                  // statement name for deallocate
  std::uint32_t statements = 0;

  bool any_pin() const { return listen || advisory_lock || temp_table || with_hold_cursor || set_role || sql_prepare; }
  bool any() const {
    return any_pin() || advisory_unlock || set || reset || reset_all || deallocate || deallocate_all || discard_all ||
           opaque;
  }
};

// A cheap textual test: false means the statement certainly has no session effect of its own, so
// the parser need not run. It cannot see relations whose use runs user code (hidden_code.hpp):
// while any such relation exists, callers need the statement's relations, hence the parse.
// True means "parse to find out": a statement starter (SET, DO, CALL…), "temp" or "advisory"
// anywhere, or a parenthesis that may follow a function name.
bool may_have_session_effects(std::string_view sql);

// Parses `sql` (libpg_query) and reports its effects; unparseable SQL has none (Postgres will
// reject it). With `relations`, also appends every relation the statement names (each once), so
// one parse serves the risky-relation decision too (see hidden_code.hpp). Thread-safe, no I/O.
// True if a function of this exact name (case-sensitive, as stored) exists in Postgres 15's pg_catalog.
bool is_pg_catalog_function(std::string_view name);

session_effects analyze_session_effects(std::string_view sql, std::vector<relation_ref>* relations = nullptr);

}  // namespace pgrelay::router
