// Which functions make a statement a write. Three sources, in order of authority:
//   1. the built-in list (builtin_functions()): functions that write, take session/transaction
//      resources, or only work on a primary (nextval, setval, pg_advisory_*, lo_*, set_config,
//      pg_notify, txid_current, pg_current_wal_lsn, replication-slot and backup control, dblink…).
//      Matched by bare name in ANY schema (a user function called `myschema.nextval` counts too:
//      conservative) and by family prefix (pg_advisory_*, pg_try_advisory_*, lo_*, dblink*,
//      pg_replication_origin_*, pg_stat_reset*, pg_create_/pg_copy_*_replication_slot,
//      pg_logical_slot_*, pg_file_*). Nothing overrides it.
//   2. read-only overrides from YAML (`read_only`): beat 3 and 4, never 1.
//   3./4. writing names: functions learned from the primary's pg_proc (user-defined VOLATILE,
//      "schema.name") and names declared writing in YAML (`writes`).
// Entries are lowercased "name" (any schema) or "schema.name". Lookup is case-insensitive.
// An unqualified call `f(...)` may resolve to any schema through search_path, so it is a write if
// `writes` holds "f" or any "<schema>.f" that is not itself overridden read-only. A qualified call
// `s.f(...)` is a write if `writes` holds "f" or "s.f"; overridden by `read_only` "f" or "s.f".
// Pure: no I/O; const member functions are safe to call from several threads.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <unordered_set>

namespace pgrelay::router {

struct function_catalog {
  std::unordered_set<std::string> writes;     // lowercased; "name" or "schema.name"
  std::unordered_set<std::string> read_only;  // overrides (never beat the built-in list)
  // True if a call to `schema.name` (schema may be empty: unqualified) may write. The built-in
  // list is always consulted, whatever `writes` holds.
  bool is_write(std::string_view schema, std::string_view name) const;
};

// The built-in writing list only (its `writes` enumerates the explicit names; the family
// prefixes above are applied by is_write as well).
const function_catalog& builtin_functions();

// True if `name` (bare, any case) is on the built-in list, by exact name or family prefix.
bool is_builtin_write(std::string_view name);

// Built-in list + learned VOLATILE functions + YAML writes, with YAML read-only overrides.
// Entries are trimmed, unquoted ("\"Public\".\"F\"" → "public.f") and lowercased.
function_catalog make_catalog(std::span<const std::string> learned_volatile,
                              std::span<const std::string> yaml_writes,
                              std::span<const std::string> yaml_read_only);

}  // namespace pgrelay::router
