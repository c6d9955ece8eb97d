// Session state in transaction mode: statements that leave state on a server either pin the
// client to it (or warn, or are rejected, per the YAML), or are tracked and replayed (SET).
#include <spdlog/spdlog.h>

#include <utility>

#include "client_session.hpp"
#include "pgrelay/core/session_pins.hpp"
#include "pgrelay/core/prepared_statements.hpp"
#include "pgrelay/protocol/errors.hpp"
#include "pool.hpp"
#include "worker.hpp"

namespace pgrelay::proxy {

namespace pr = pgrelay::protocol;

namespace {

conf::pin_policy policy_for(const conf::session_state_policies& p, pin_reason r) {
  const auto* policy = p.find(core::info(r).policy_key);
  return policy ? *policy : conf::pin_policy::pin;  // every key exists: unit-tested
}

// Executed by the server so the error has Postgres's own transaction semantics.
std::string rejection_sql(pin_reason r) {
  return "DO $pgrelay$BEGIN RAISE EXCEPTION USING ERRCODE = '0A000', MESSAGE = 'pgrelay: " +
         std::string(core::info(r).construct) + " cannot be used in transaction pooling mode', HINT = " +
         "'connect as a user in session pool mode, or set session_state." + std::string(core::info(r).policy_key) +
         " to pin in the pgrelay configuration'; END$pgrelay$";
}

// One row per finding: ('pin', reason, NULL) for state that must keep the client on this server,
// ('set', name, value) for each setting the session changed. Read at a quiet point (no
// transaction), so every lock, cursor or temp object seen here outlives the transaction.
constexpr std::string_view probe_sql =
    "SELECT 'pin', 'advisory_lock', NULL WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_locks "
    "WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid()) "
    "UNION ALL SELECT 'pin', 'temp_table', NULL WHERE "
    "EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE relnamespace = pg_catalog.pg_my_temp_schema()) OR "
    "EXISTS (SELECT 1 FROM pg_catalog.pg_proc WHERE pronamespace = pg_catalog.pg_my_temp_schema()) OR "
    "EXISTS (SELECT 1 FROM pg_catalog.pg_type WHERE typnamespace = pg_catalog.pg_my_temp_schema()) "
    "UNION ALL SELECT 'pin', 'listen', NULL WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_listening_channels()) "
    "UNION ALL SELECT 'pin', 'with_hold_cursor', NULL WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_cursors "
    "WHERE is_holdable) "
    "UNION ALL SELECT 'pin', 'sql_prepare', NULL WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_prepared_statements "
    "WHERE from_sql) "
    // SET ROLE moves current_user; SET SESSION AUTHORIZATION moves session_user away from the
    // user the backend authenticated as, which pg_stat_activity keeps.
    "UNION ALL SELECT 'pin', 'set_role', NULL WHERE current_user <> session_user OR session_user IS DISTINCT "
    "FROM (SELECT usename FROM pg_catalog.pg_stat_activity WHERE pid = pg_catalog.pg_backend_pid()) "
    "UNION ALL SELECT 'set', name, pg_catalog.current_setting(name) FROM pg_catalog.pg_settings "
    "WHERE source = 'session'";

// The probe, plus the custom settings user functions are known to set: pg_settings does not list
// custom settings, so these are read by name. An empty value is a placeholder left by a reset,
// the same as unset.
std::string probe_sql_for(const router::risky_relations* risky) {
  std::string sql(probe_sql);
  if (!risky || risky->custom_settings.empty()) return sql;
  std::string names;
  for (const auto& n : risky->custom_settings) names += (names.empty() ? "" : ", ") + core::quote_literal(n);
  sql += " UNION ALL SELECT 'set', n, pg_catalog.current_setting(n, true) FROM pg_catalog.unnest(ARRAY[" + names +
         "]::pg_catalog.text[]) n WHERE pg_catalog.current_setting(n, true) <> ''";
  return sql;
}

// Raised by the server, so the error has Postgres's own transaction semantics.
std::string missing_statement_sql(std::string_view name) {
  std::string message = "prepared statement \"" + std::string(name) + "\" does not exist";
  if (message.find('$') != std::string::npos) message = "prepared statement does not exist";
  return "DO $pgrelay$BEGIN RAISE EXCEPTION USING ERRCODE = '26000', MESSAGE = " + core::quote_literal(message) +
         "; END$pgrelay$";
}

// Whether the statement names a relation whose use runs user code (a trigger, a policy, a view or
// default calling a function): decided once per text and published set.
bool runs_hidden_code(worker::effects_entry& entry, const router::risky_relations* risky) {
  if (!risky) return router::may_run_hidden_code(entry.relations, nullptr);
  if (entry.judged_version != risky->version) {
    entry.hidden = router::may_run_hidden_code(entry.relations, risky);
    entry.judged_version = risky->version;
  }
  return entry.hidden;
}

}  // namespace

void client_session::pin(core::pin_set pins, const conf::session_state_policies& policies) {
  core_.ledger.pin(pins);
  const core::pin_set fresh = core_.first_pins(pins);
  for (const auto& row : core::pin_reasons) {
    const auto bit = core::bit(row.reason);
    if (!(fresh & bit)) continue;
    worker_.shared().pins_by_reason[static_cast<std::size_t>(row.reason)].fetch_add(1, std::memory_order_relaxed);
    spdlog::info("client {}: pinned to its server ({}): {} keeps session state", peer_, row.name, row.construct);
    if (policy_for(policies, row.reason) == conf::pin_policy::warn) {
      pr::build::notice_response(client_io_->pending_notice, "pgrelay: " + std::string(row.construct) +
                                                      " keeps this connection on one server until it disconnects");
    }
  }
}

bool client_session::may_change_session(std::string_view sql) {
  const auto* risky = links().risky_relations();
  if (risky && risky->empty() && !router::may_have_session_effects(sql)) return false;
  auto& entry = worker_.effects_of(sql);
  const bool hidden = !(risky && risky->empty()) && runs_hidden_code(entry, risky);
  return hidden || entry.fx.opaque || entry.fx.any_pin() || entry.fx.advisory_unlock;
}

void client_session::on_execute_named(core::statement_id id) {
  auto* e = registry_->find(id);
  if (!e) return;
  // Judged once per statement and published set of risky relations; before the set is first
  // read every statement naming a relation counts, so nothing is cached then.
  const auto* risky = links().risky_relations();
  if (!risky) {
    if (may_change_session(e->sql)) core_.ledger.probe_later();
    return;
  }
  if (e->judged_at != risky->version) {
    e->may_change_session = may_change_session(e->sql);
    e->judged_at = risky->version;
  }
  if (e->may_change_session) core_.ledger.probe_later();
}

statement_verdict client_session::inspect_statement(std::string_view sql) {
  statement_verdict v;
  if (!core_.statements) return v;
  // With no risky relation the text alone decides, and a plain statement is never parsed. Else
  // the relations it names are needed: the cache has them per text, parsed once.
  const auto* risky = links().risky_relations();
  const bool text_decides = risky && risky->empty();
  if (text_decides && !router::may_have_session_effects(sql)) return v;
  auto& entry = worker_.effects_of(sql);
  const bool hidden = !text_decides && runs_hidden_code(entry, risky);
  if (!hidden && !entry.fx.any()) return v;
  auto fx = entry.fx;  // a copy: the cache may be cleared below
  if (hidden) {
    // Like a call of an unknown function: the server is examined at the quiet point, and reset
    // with DISCARD ALL if the client leaves first.
    fx.opaque = true;
  }
  if (pin_or_reject(core::pins_of(fx), v)) return v;
  core_.ledger.on_statement(fx, sql, server_->settings());
  forget_statements(fx, v);
  return v;
}

bool client_session::pin_or_reject(core::pin_set pins, statement_verdict& v) {
  const auto& policies = config_->session_state;
  for (const auto& row : core::pin_reasons) {
    if (core::contains(pins, row.reason) && policy_for(policies, row.reason) == conf::pin_policy::reject) {
      spdlog::info("client {}: rejected {} (session_state.{}: reject)", peer_, row.construct, row.policy_key);
      v.reject = true;
      v.replacement_sql = rejection_sql(row.reason);
      return true;
    }
  }
  pin(pins, policies);
  return false;
}

void client_session::forget_statements(const router::session_effects& fx, statement_verdict& v) {
  if (fx.discard_all || fx.deallocate_all) {
    core_.statements->clear();
    server_->statements().forget_all();
  }
  if (!fx.deallocate || fx.statements != 1) return;
  if (auto id = core_.statements->find(fx.name)) {
    // A protocol-level statement deallocated with SQL: it lives under pgrelay's name here.
    v.prepare_first = *id;
    v.replacement_sql = "DEALLOCATE " + core::server_statement_name(*id);
    core_.statements->forget(fx.name);
  } else if (core::is_reserved_statement_name(fx.name)) {
    // One of the statements clients share: as on a direct connection, it does not exist.
    v.replacement_sql = missing_statement_sql(fx.name);
    v.reject = true;  // also when it comes as a Parse
  }
}

awaitable<bool> client_session::record_verified_settings() {
  auto names = core_.ledger.take_settings_to_verify();
  std::string sql = "SELECT ";
  for (std::size_t i = 0; i < names.size(); ++i) {
    sql += (i ? ", " : "") + std::string("pg_catalog.current_setting(") + core::quote_literal(names[i]) + ", true)";
  }
  auto err = co_await server_->run_internal(sql, millis(5000));
  if (err || server_->internal_values().size() != names.size()) co_return false;
  core_.ledger.record_verified(names, server_->internal_values(), server_->settings());
  co_return true;
}

awaitable<bool> client_session::probe_session_state() {
  spdlog::debug("client {}: probing server {} after a statement with effects pgrelay cannot see", peer_,
                server_->id());
  auto err = co_await server_->run_internal(probe_sql_for(links().risky_relations()), millis(5000));
  const auto& values = server_->internal_values();
  if (err || values.size() % 3 != 0) {
    spdlog::warn("client {}: could not examine server {} after an opaque statement ({}); closing it", peer_,
                 server_->id(), err ? err.message : std::string("unexpected answer"));
    core_.ledger.probe_failed();
    release_server(false);
    co_return false;
  }
  // Too late to refuse what it found: the state exists, so a `reject` policy pins like `pin`.
  auto found = core_.ledger.probe_answered(values, server_->settings());
  if (found) pin(found, config_->session_state);
  co_return true;
}

awaitable<bool> client_session::advisory_locks_held() {
  auto err = co_await server_->run_internal(
      "SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid() LIMIT 1",
      millis(5000));
  co_return err || server_->internal_rows() > 0;
}

}  // namespace pgrelay::proxy
