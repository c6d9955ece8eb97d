// The built-in list of writing functions and the lookup rules described in function_catalog.hpp.
#include "pgrelay/router/function_catalog.hpp"

#include <cctype>

namespace pgrelay::router {

namespace {

// Exact names. Families are also matched by prefix in is_builtin_write (newer versions add
// members: pg_stat_reset_*, lo_*, pg_advisory_* …).
constexpr std::string_view builtin_names[] = {
    // sequences (currval/lastval only make sense on the session that called nextval: the primary)
    "nextval", "setval", "currval", "lastval",
    // advisory locks, all variants
    "pg_advisory_lock", "pg_advisory_lock_shared", "pg_advisory_unlock", "pg_advisory_unlock_shared",
    "pg_advisory_unlock_all", "pg_advisory_xact_lock", "pg_advisory_xact_lock_shared",
    "pg_try_advisory_lock", "pg_try_advisory_lock_shared", "pg_try_advisory_xact_lock",
    "pg_try_advisory_xact_lock_shared",
    // settings, notifications
    "set_config", "pg_notify",
    // large objects (descriptors from lo_open live in the primary's transaction, too)
    "lo_import", "lo_export", "lo_create", "lo_creat", "lo_unlink", "lo_put", "lo_get", "lo_from_bytea",
    "lo_truncate", "lo_truncate64", "lo_open", "lo_close", "lo_lseek", "lo_lseek64", "lo_tell",
    "lo_tell64", "loread", "lowrite",
    // transaction ids and WAL positions that need a primary
    "txid_current", "txid_current_if_assigned", "pg_current_xact_id", "pg_current_xact_id_if_assigned",
    "pg_current_wal_lsn", "pg_current_wal_insert_lsn", "pg_current_wal_flush_lsn",
    "pg_current_xlog_location", "pg_current_xlog_insert_location", "pg_current_xlog_flush_location",
    "pg_switch_wal", "pg_switch_xlog", "pg_create_restore_point",
    // backups
    "pg_start_backup", "pg_stop_backup", "pg_backup_start", "pg_backup_stop",
    // server control
    "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile",
    "pg_rotate_logfile_old", "pg_promote", "pg_wal_replay_pause", "pg_wal_replay_resume",
    "pg_xlog_replay_pause", "pg_xlog_replay_resume", "pg_import_system_collations",
    // logical decoding and replication
    "pg_logical_emit_message", "pg_logical_slot_get_changes", "pg_logical_slot_get_binary_changes",
    "pg_logical_slot_peek_changes", "pg_logical_slot_peek_binary_changes",
    "pg_create_physical_replication_slot", "pg_create_logical_replication_slot",
    "pg_copy_physical_replication_slot", "pg_copy_logical_replication_slot", "pg_drop_replication_slot",
    "pg_replication_slot_advance", "pg_replication_origin_create", "pg_replication_origin_drop",
    "pg_replication_origin_session_setup", "pg_replication_origin_session_reset",
    "pg_replication_origin_xact_setup", "pg_replication_origin_xact_reset", "pg_replication_origin_advance",
    "pg_replication_origin_session_progress", "pg_replication_origin_progress",
    // statistics resets
    "pg_stat_reset", "pg_stat_reset_shared", "pg_stat_reset_single_table_counters",
    "pg_stat_reset_single_function_counters", "pg_stat_reset_slru", "pg_stat_reset_replication_slot",
    "pg_stat_reset_subscription_stats", "pg_stat_statements_reset",
    // index maintenance done by functions
    "brin_summarize_new_values", "brin_summarize_range", "brin_desummarize_range",
    "gin_clean_pending_list", "pg_truncate_visibility_map",
    // extensions: dblink (remote writes, connections held by the session), adminpack
    "dblink", "dblink_exec", "dblink_connect", "dblink_connect_u", "dblink_disconnect", "dblink_open",
    "dblink_fetch", "dblink_close", "dblink_send_query", "dblink_get_result", "pg_file_write",
    "pg_file_rename", "pg_file_unlink", "pg_file_sync",
};

constexpr std::string_view builtin_prefixes[] = {
    "pg_advisory_", "pg_try_advisory_", "lo_",           "dblink",    "pg_replication_origin_",
    "pg_stat_reset", "pg_logical_slot_", "pg_file_", "pg_stat_statements_reset",
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Trims, drops double quotes and lowercases a configured name.
std::string normalize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '"' || std::isspace(static_cast<unsigned char>(c))) continue;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

}  // namespace

bool is_builtin_write(std::string_view name) {
  std::string n = lower(name);
  std::string_view v = n;
  for (auto b : builtin_names) {
    if (v == b) return true;
  }
  for (auto p : builtin_prefixes) {
    if (v.starts_with(p)) return true;
  }
  // pg_create_*_replication_slot, pg_copy_*_replication_slot
  if ((v.starts_with("pg_create_") || v.starts_with("pg_copy_")) && v.ends_with("_replication_slot")) return true;
  return false;
}

bool function_catalog::is_write(std::string_view schema, std::string_view name) const {
  if (is_builtin_write(name)) return true;
  std::string n = lower(name);
  std::string qualified = schema.empty() ? std::string() : lower(schema) + "." + n;
  if (read_only.contains(n) || (!qualified.empty() && read_only.contains(qualified))) return false;
  if (writes.contains(n)) return true;
  if (!qualified.empty()) return writes.contains(qualified);
  // Unqualified: search_path may pick any schema's function of that name.
  std::string suffix = "." + n;
  for (const auto& w : writes) {
    if (std::string_view(w).ends_with(suffix) && !read_only.contains(w)) return true;
  }
  return false;
}

const function_catalog& builtin_functions() {
  static const function_catalog catalog = [] {
    function_catalog c;
    for (auto b : builtin_names) c.writes.emplace(b);
    return c;
  }();
  return catalog;
}

function_catalog make_catalog(std::span<const std::string> learned_volatile, std::span<const std::string> yaml_writes,
                              std::span<const std::string> yaml_read_only) {
  function_catalog c = builtin_functions();
  for (const auto& s : learned_volatile) {
    if (auto n = normalize(s); !n.empty()) c.writes.insert(std::move(n));
  }
  for (const auto& s : yaml_writes) {
    if (auto n = normalize(s); !n.empty()) c.writes.insert(std::move(n));
  }
  for (const auto& s : yaml_read_only) {
    if (auto n = normalize(s); !n.empty()) c.read_only.insert(std::move(n));
  }
  return c;
}

}  // namespace pgrelay::router
