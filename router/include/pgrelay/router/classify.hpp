// Statement classification with the real Postgres parser (libpg_query). The first building
// block of routing: what kind of statement a query string is. Anything unsure is a write.
//
// Decisions (each one errs towards the primary when in doubt):
// - read_only: SELECT / VALUES / TABLE / SHOW, with, anywhere in the tree (subqueries, CTEs at any
//   depth, set operations), no locking clause (FOR UPDATE/NO KEY UPDATE/SHARE/KEY SHARE → locking_clause),
//   no INTO (select_into), no INSERT/UPDATE/DELETE/MERGE (only possible inside a CTE: modifying_cte)
//   and no call to a function the catalog says writes (writing_function, `function` names it as
//   written, lowercased: "nextval", "public.add_row"). When several apply the reason is the first of
//   modifying_cte, select_into, locking_clause, writing_function.
//   Not seen (documented limits): functions called through operators, views, defaults, triggers,
//   casts or column types; name resolution through search_path (see function_catalog.hpp).
// - EXPLAIN without ANALYZE is read_only whatever it explains (the statement is only planned, which a
//   hot standby allows), except EXPLAIN EXECUTE (the prepared statement lives on the primary →
//   write/unknown). EXPLAIN ANALYZE (also `(analyze)`, `(analyze true|on|1)`; `analyze false|off|0`
//   is plain EXPLAIN) runs the statement: read_only if the statement is, otherwise write/
//   explain_analyze (with `function` when a writing function is why).
// - COPY … FROM: write/dml. COPY table TO STDOUT and COPY (read-only query) TO STDOUT: read_only
//   (they work on a standby). COPY (query) TO STDOUT where the query writes: write with the query's
//   reason (dml for INSERT/UPDATE/DELETE … RETURNING). COPY … TO 'file' / TO PROGRAM: write/
//   ddl_or_utility (it writes on the server's host).
// - DECLARE CURSOR: classified by its query (read_only for a read-only query). A cursor without
//   HOLD exists only inside a transaction block, which the router keeps on one server from BEGIN to
//   its end, so FETCH/MOVE/CLOSE reach the same server. DECLARE … WITH HOLD outlives the transaction:
//   write/ddl_or_utility, so it is on the primary where FETCH/MOVE/CLOSE (always write/ddl_or_utility)
//   are sent outside a transaction.
// - EXECUTE (SQL-level): write/unknown (what it runs is not known here). PREPARE: write/ddl_or_utility.
// - CALL, DO, LOCK, VACUUM, ANALYZE, CLUSTER, REINDEX, REFRESH, CHECKPOINT, NOTIFY, LISTEN, UNLISTEN,
//   DEALLOCATE, LOAD, GRANT, all DDL, CREATE TABLE AS: write/ddl_or_utility. INSERT/UPDATE/DELETE/MERGE
//   at top level: write/dml. A parsed statement node that is not a "...Stmt": write/unknown.
// - Transaction statements are transaction_control: BEGIN/START (begin = true; begin_read_only when
//   READ ONLY is given), COMMIT/END/ROLLBACK/ABORT (ends_transaction; AND CHAIN also sets begin),
//   SAVEPOINT/RELEASE/ROLLBACK TO (neither flag), PREPARE TRANSACTION (ends_transaction).
//   COMMIT PREPARED / ROLLBACK PREPARED finish a two-phase transaction, which only the primary has:
//   write/ddl_or_utility with ends_transaction (harmless: they cannot run inside a transaction block).
// - SET TRANSACTION …, and SET [LOCAL] transaction_read_only / transaction_isolation /
//   transaction_deferrable (transaction-scoped whatever LOCAL says): transaction_control;
//   READ ONLY / transaction_read_only = on sets begin_read_only (meaningful as the first statement of
//   a transaction; READ WRITE clears it). A later BEGIN in the same string starts afresh.
// - SET LOCAL other: read_only. It writes nothing and lasts only for the current transaction:
//   outside a transaction block it is a no-op, inside one it follows the transaction's server, and in
//   an implicit multi-statement transaction ("SET LOCAL x = 1; SELECT …") it must not keep the
//   SELECT off a replica.
// - SET / RESET / RESET ALL / SET ROLE / SET SESSION AUTHORIZATION / SET SESSION CHARACTERISTICS /
//   DISCARD: session_state.
// - Parse errors: parse_error/parse_error (the router sends them to the primary, which reports the
//   error). Empty strings / only comments: empty.
// - Several statements: the strongest kind (parse_error > write > session_state >
//   transaction_control > read_only > empty); `why`/`function` come from the first statement of that
//   kind; begin / ends_transaction are OR-ed over the statements.
// - hint: the first `pgrelay: route=NAME` found in a comment (/* … */ or -- …), key case-insensitive,
//   whitespace allowed around ':' and '=', colon optional; NAME is [A-Za-z0-9_-]+, lowercased.
//   Several key=value pairs may follow one `pgrelay:` (separated by spaces or commas):
//   `max_lag=DURATION` is the statement's staleness budget (see parse_staleness).
//   Comments come from the Postgres scanner, so text inside string literals is never a hint. When the
//   text cannot be scanned (e.g. an unterminated literal) there is no hint (it is a parse_error
//   anyway).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pgrelay/router/function_catalog.hpp"

namespace pgrelay::router {

enum class statement_kind {
  read_only,            // SELECT/VALUES/TABLE/SHOW/EXPLAIN without side effects visible here
  write,                // DML, DDL, locking reads, SELECT INTO, data-modifying CTEs, anything else
  transaction_control,  // BEGIN, COMMIT, ROLLBACK, SAVEPOINT, SET TRANSACTION …
  session_state,        // SET / RESET outside SET LOCAL, DISCARD, and other session-scoped changes
  empty,                // no statement at all (only comments or whitespace)
  parse_error,          // not valid SQL: Postgres will say why; route it like a write
};

enum class write_reason : std::uint8_t {
  none,              // not a write
  dml,               // INSERT/UPDATE/DELETE/MERGE, COPY FROM
  ddl_or_utility,    // DDL and utility statements (CALL, DO, LOCK, VACUUM, PREPARE, FETCH …)
  locking_clause,    // FOR UPDATE / NO KEY UPDATE / SHARE / KEY SHARE anywhere
  select_into,       // SELECT … INTO
  modifying_cte,     // INSERT/UPDATE/DELETE/MERGE in a WITH, at any depth
  writing_function,  // a call to a function the catalog lists as writing; see `function`
  explain_analyze,   // EXPLAIN ANALYZE of a statement that writes
  parse_error,       // the text did not parse
  unknown,           // not provably read-only (EXECUTE, unrecognised nodes)
};

struct classification {
  statement_kind kind = statement_kind::write;
  std::size_t statements = 0;    // statements in the string (simple protocol allows several)
  write_reason why = write_reason::none;
  std::string function;          // the writing function that made it a write, if any
  bool begin = false;            // BEGIN / START TRANSACTION (or COMMIT/ROLLBACK AND CHAIN) present
  bool begin_read_only = false;  // BEGIN/START … READ ONLY, or SET TRANSACTION READ ONLY
  bool ends_transaction = false; // COMMIT/END/ROLLBACK/ABORT (not ROLLBACK TO), PREPARE TRANSACTION,
                                 // COMMIT/ROLLBACK PREPARED
  std::string hint;              // `pgrelay: route=NAME` comment hint, lowercased; empty if none
  std::optional<std::chrono::milliseconds> hint_max_lag;  // `pgrelay: max_lag=2s` staleness budget
};

struct statement_hints {
  std::string route;                                // lowercased; empty if none
  std::optional<std::chrono::milliseconds> max_lag;  // nullopt if absent or not a valid duration
};

// Classifies `sql` against `catalog` (see the decisions above). Thread-safe; no I/O.
classification classify(std::string_view sql, const function_catalog& catalog);

// Same, with the built-in function list only.
classification classify(std::string_view sql);

// The comment hints of `sql` alone (what classify puts in `hint` and `hint_max_lag`).
statement_hints parse_hints(std::string_view sql);
std::string route_hint(std::string_view sql);

// A staleness budget: a non-negative integer with an optional unit `ms` (the default), `s` or
// `min` ("2s", "500ms", "500 ms", "0"); nullopt on anything else.
std::optional<std::chrono::milliseconds> parse_staleness(std::string_view text);

std::string_view to_string(write_reason why);
std::string_view to_string(statement_kind kind);

}  // namespace pgrelay::router
