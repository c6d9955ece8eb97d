// Statement classification with the real Postgres parser (libpg_query). The first building
// block of routing: what kind of statement a query string is. Anything unsure is a write.
#pragma once

#include <cstddef>
#include <string_view>

namespace pgrelay::router {

enum class statement_kind {
  read_only,            // SELECT/VALUES/TABLE/SHOW/EXPLAIN without side effects visible here
  write,                // DML, DDL, locking reads, SELECT INTO, data-modifying CTEs, anything else
  transaction_control,  // BEGIN, COMMIT, ROLLBACK, SAVEPOINT …
  session_state,        // SET / RESET outside SET LOCAL, and other session-scoped changes
  empty,                // no statement at all (only comments or whitespace)
  parse_error,          // not valid SQL: Postgres will say why; route it like a write
};

struct classification {
  statement_kind kind = statement_kind::write;
  std::size_t statements = 0;  // statements in the string (simple protocol allows several)
};

// Classifies `sql`; a string with several statements takes the strongest kind among them
// (write > session_state > transaction_control > read_only). Thread-safe; no I/O.
// Function volatility is not looked at yet: a SELECT calling a writing function is read_only here.
classification classify(std::string_view sql);

}  // namespace pgrelay::router
