// See health_queries.hpp.
#include "health_queries.hpp"

#include <string_view>

namespace pgrelay::proxy {

// Role and WAL positions. The replay delay is not read from the server
// (now() - pg_last_xact_replay_timestamp() overstates it during a long transaction on an
// otherwise idle primary, and mixes two hosts' clocks): it is measured against the checker's
// own history of the primary's position (router::wal_history).
const char* const sample_sql =
    "SELECT pg_is_in_recovery(), "
    "(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() "
    "ELSE pg_current_wal_lsn() END)::text, "
    "(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
    "ELSE pg_current_wal_lsn() END)::text, "
    "(CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_insert_lsn() END)::text";

const char* const volatile_functions_sql =
    "SELECT n.nspname || '.' || p.proname FROM pg_proc p "
    "JOIN pg_namespace n ON n.oid = p.pronamespace "
    "WHERE p.provolatile = 'v' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "ORDER BY 1";

// Changes when a function outside pg_catalog is created, replaced (a new xmin), altered or
// dropped: read every round, so that a function created on the primary behind pgrelay's back
// (a migration over a direct URL) is known as writing within one check interval. One scan of
// pg_proc without a join.
const char* const functions_fingerprint_sql =
    "SELECT count(*) || '/' || coalesce(sum(xmin::text::bigint), 0) FROM pg_catalog.pg_proc"
    " WHERE pronamespace <> 'pg_catalog'::pg_catalog.regnamespace";

// Relations whose use runs user code the statement does not name (see router/hidden_code.hpp):
// non-internal triggers (foreign-key triggers run built-in code), RLS policies (whether or not
// RLS is enabled: conservative), rules and views whose rewrite, and column defaults whose
// expression, depend on a function outside pg_catalog or on a built-in that changes session
// state; then, transitively, views and rules that read such a relation. Relations of
// pg_catalog and information_schema are left out: their code is the server's own.
const char* const risky_relations_sql =
    "WITH RECURSIVE fn AS ("
    " SELECT oid FROM pg_catalog.pg_proc WHERE pronamespace NOT IN"
    " ('pg_catalog'::pg_catalog.regnamespace, 'information_schema'::pg_catalog.regnamespace)"
    " OR proname IN ('set_config', 'setseed', 'pg_replication_origin_session_setup')"
    " OR (proname LIKE 'pg\\_%advisory\\_lock%' AND proname NOT LIKE '%xact%')), "
    "code AS ("
    " SELECT d.classid, d.objid FROM pg_catalog.pg_depend d JOIN fn ON d.refobjid = fn.oid"
    " WHERE d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass"
    " AND d.classid IN ('pg_catalog.pg_rewrite'::pg_catalog.regclass, 'pg_catalog.pg_attrdef'::pg_catalog.regclass)), "
    "risky(oid) AS ("
    " SELECT tgrelid FROM pg_catalog.pg_trigger WHERE NOT tgisinternal"
    " UNION SELECT polrelid FROM pg_catalog.pg_policy"
    " UNION SELECT r.ev_class FROM pg_catalog.pg_rewrite r JOIN code c"
    " ON c.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND c.objid = r.oid"
    " UNION SELECT a.adrelid FROM pg_catalog.pg_attrdef a JOIN code c"
    " ON c.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND c.objid = a.oid"
    " UNION SELECT r.ev_class FROM risky k JOIN pg_catalog.pg_depend d"
    " ON d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = k.oid"
    " AND d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass"
    " JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid) "
    "SELECT c.oid::text, n.nspname, c.relname FROM pg_catalog.pg_class c"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.oid IN (SELECT oid FROM risky) AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " ORDER BY 2, 3";

// Custom settings that user functions set by a literal name (set_config('a.b', …) or SET a.b):
// the probe after opaque code reads them by name (pg_settings lists no custom setting).
const char* const custom_settings_sql =
    "SELECT DISTINCT pg_catalog.lower(m[1]) FROM pg_catalog.pg_proc p, pg_catalog.regexp_matches(p.prosrc,"
    " '(?:set_config\\s*\\(\\s*''|\\mset\\s+(?:session\\s+)?)([a-z_][a-z0-9_$]*\\.[a-z0-9_$.]+)', 'gi') m"
    " WHERE p.pronamespace NOT IN ('pg_catalog'::pg_catalog.regnamespace,"
    " 'information_schema'::pg_catalog.regnamespace) ORDER BY 1";

// Changes whenever a row that can make a relation risky, or rename one, is added, changed or
// removed: an insert or delete changes a count, an update gives the row a new xmin and so
// changes the sum (freezing changes it too, which only costs a reload). pg_class is read only
// for the relations already known risky (by oid, through its index), pg_namespace whole (small),
// pg_proc outside pg_catalog (function bodies name the custom settings they set).
// Cheap enough for every check round: small catalogues, no join.
std::string hidden_code_fingerprint_sql(const std::vector<std::string>& oids) {
  auto part = [](std::string_view table, std::string_view where = {}) {
    return "(SELECT count(*) || '/' || coalesce(sum(xmin::text::bigint), 0) FROM pg_catalog." + std::string(table) +
           std::string(where) + ")";
  };
  std::string list;
  for (const auto& oid : oids) list += (list.empty() ? "" : ",") + oid;
  return "SELECT " + part("pg_trigger") + " || ' ' || " + part("pg_policy") + " || ' ' || " + part("pg_rewrite") +
         " || ' ' || " + part("pg_attrdef") + " || ' ' || " + part("pg_namespace") + " || ' ' || " +
         part("pg_proc", " WHERE pronamespace <> 'pg_catalog'::pg_catalog.regnamespace") + " || ' ' || " +
         part("pg_class", " WHERE oid = ANY ('{" + list + "}'::pg_catalog.oid[])");
}

}  // namespace pgrelay::proxy
