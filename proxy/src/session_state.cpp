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

std::optional<pin_reason> pin_reason_named(std::string_view name) {
  for (const auto& row : core::pin_reasons) {
    if (row.name == name) return row.reason;
  }
  return std::nullopt;
}

// Raised by the server, so the error has Postgres's own transaction semantics.
std::string missing_statement_sql(std::string_view name) {
  std::string message = "prepared statement \"" + std::string(name) + "\" does not exist";
  if (message.find('$') != std::string::npos) message = "prepared statement does not exist";
  return "DO $pgrelay$BEGIN RAISE EXCEPTION USING ERRCODE = '26000', MESSAGE = " + core::quote_literal(message) +
         "; END$pgrelay$";
}

// One parse per distinct text gives both the effects and the relations named.
worker::effects_entry& effects_of(worker& w, std::string_view sql) {
  auto it = w.effects_cache_.find(sql);
  if (it != w.effects_cache_.end()) return it->second;
  if (w.effects_cache_.size() >= 4096) w.effects_cache_.clear();
  worker::effects_entry entry;
  entry.fx = router::analyze_session_effects(sql, &entry.relations);
  return w.effects_cache_.emplace(std::string(sql), std::move(entry)).first->second;
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

void client_session::pin(pin_reason reason, conf::pin_policy policy) {
  const auto bit = core::bit(reason);
  pins_ |= bit;
  if (pins_logged_ & bit) return;
  pins_logged_ |= bit;
  worker_.shared_.pins_by_reason[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  spdlog::info("client {}: pinned to its server ({}): {} keeps session state", peer_, to_string(reason),
               core::info(reason).construct);
  if (policy == conf::pin_policy::warn) {
    pr::build::notice_response(pending_notice_,
                               "pgrelay: " + std::string(core::info(reason).construct) +
                                   " keeps this connection on one server until it disconnects");
  }
}

const router::risky_relations* client_session::risky_relations() {
  if (risky_epoch_ != worker_.risky_epoch_) {
    risky_ = worker_.risky_relations_for(database_);
    risky_epoch_ = worker_.risky_epoch_;
  }
  return risky_;
}

bool client_session::may_change_session(std::string_view sql) {
  const auto* risky = risky_relations();
  if (risky && risky->empty() && !router::may_have_session_effects(sql)) return false;
  auto& entry = effects_of(worker_, sql);
  const bool hidden = !(risky && risky->empty()) && runs_hidden_code(entry, risky);
  return hidden || entry.fx.opaque || entry.fx.any_pin() || entry.fx.advisory_unlock;
}

void client_session::on_execute_named(core::statement_id id) {
  auto* e = registry_->find(id);
  if (!e) return;
  // Judged once per statement and published set of risky relations; before the set is first
  // read every statement naming a relation counts, so nothing is cached then.
  const auto* risky = risky_relations();
  if (!risky) {
    if (may_change_session(e->sql)) probe_due_ = true;
    return;
  }
  if (e->judged_at != risky->version) {
    e->may_change_session = may_change_session(e->sql);
    e->judged_at = risky->version;
  }
  if (e->may_change_session) probe_due_ = true;
}

statement_verdict client_session::inspect_statement(std::string_view sql) {
  statement_verdict v;
  if (!statements_) return v;
  // With no risky relation the text alone decides, and a plain statement is never parsed. Else
  // the relations it names are needed: the cache has them per text, parsed once.
  const auto* risky = risky_relations();
  const bool text_decides = risky && risky->empty();
  if (text_decides && !router::may_have_session_effects(sql)) return v;
  auto& entry = effects_of(worker_, sql);
  const bool hidden = !text_decides && runs_hidden_code(entry, risky);
  if (!hidden && !entry.fx.any()) return v;
  auto fx = entry.fx;  // a copy: the cache may be cleared below
  if (hidden) {
    // Like a call of an unknown function: the server is examined at the quiet point, and reset
    // with DISCARD ALL if the client leaves first.
    fx.opaque = true;
  }
  if (pin_or_reject(core::pins_of(fx), v)) return v;
  if (fx.advisory_unlock) advisory_recheck_ = true;
  if (fx.opaque) probe_due_ = true;
  track_settings(fx, sql);
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
  for (const auto& row : core::pin_reasons) {
    if (core::contains(pins, row.reason)) pin(row.reason, policy_for(policies, row.reason));
  }
  return false;
}

void client_session::track_settings(const router::session_effects& fx, std::string_view sql) {
  auto& server = *server_;
  if (fx.set && fx.statements == 1 && fx.set_value_unknown) {
    // set_config with a computed value: read back at the quiet point. Until then the server is
    // marked with a text no client's setting equals, so another client gets it reset.
    verify_names_.push_back(fx.set_name);
    server.applied_sql_[fx.set_name] = "-- pgrelay: unverified";
    server.applied_.erase(fx.set_name);
  } else if (fx.set && fx.statements == 1 && !fx.set_name.empty()) {
    // Settled when its transaction ends; the server is marked at once so it is reset for others.
    // A set_config call is replayed alone: the rest of its statement must not run again.
    auto replay = fx.set_by_function ? core::set_config_sql(fx.set_name, fx.set_value) : std::string(sql);
    auto& applied = server.applied_sql_[fx.set_name];
    pending_sets_.push_back({fx.set_name, replay,
                             applied.empty() ? std::nullopt : std::optional<std::string>(applied)});
    applied = std::move(replay);
    server.applied_.erase(fx.set_name);
  }
  if (fx.reset) {
    sql_sets_.erase(fx.set_name);
    if (auto it = startup_wanted_.find(fx.set_name); it != startup_wanted_.end()) {
      wanted_[fx.set_name] = it->second;
    } else {
      wanted_.erase(fx.set_name);
    }
    server.applied_sql_.erase(fx.set_name);
    server.applied_.erase(fx.set_name);
  }
  if (fx.reset_all || fx.discard_all) {
    sql_sets_.clear();
    pending_sets_.clear();
    wanted_ = startup_wanted_;
    server.applied_sql_.clear();
    server.applied_.clear();
    restore_startup_params_ = true;
  }
}

void client_session::forget_statements(const router::session_effects& fx, statement_verdict& v) {
  if (fx.discard_all || fx.deallocate_all) {
    statements_->clear();
    server_->statements_.forget_all();
  }
  if (!fx.deallocate || fx.statements != 1) return;
  if (auto id = statements_->find(fx.name)) {
    // A protocol-level statement deallocated with SQL: it lives under pgrelay's name here.
    v.prepare_first = *id;
    v.replacement_sql = "DEALLOCATE " + core::server_statement_name(*id);
    statements_->forget(fx.name);
  } else if (core::is_reserved_statement_name(fx.name)) {
    // One of the statements clients share: as on a direct connection, it does not exist.
    v.replacement_sql = missing_statement_sql(fx.name);
    v.reject = true;  // also when it comes as a Parse
  }
}

void client_session::settle_pending_sets(char status) {
  bool rollback = std::exchange(rollback_seen_, false);
  if (pending_sets_.empty()) return;
  if (status != 'I') {
    // ROLLBACK TO SAVEPOINT: some of the transaction's SETs may be undone; which, only the
    // server knows. It is asked when the transaction is over.
    if (rollback) pending_uncertain_ = true;
    return;
  }
  if (rollback) {
    pending_doomed_ = true;  // the whole transaction rolled back
  } else if (pending_uncertain_) {
    for (auto& p : pending_sets_) verify_names_.push_back(p.name);
    pending_sets_.clear();
    pending_doomed_ = pending_uncertain_ = false;
    return;
  }
  pending_uncertain_ = false;
  if (!pending_doomed_) {
    for (auto& p : pending_sets_) sql_sets_[p.name] = std::move(p.sql);
  } else if (server_) {
    // Nothing of it happened on the server: forget the marks, newest first.
    for (auto it = pending_sets_.rbegin(); it != pending_sets_.rend(); ++it) {
      if (it->previous) {
        server_->applied_sql_[it->name] = *it->previous;
      } else {
        server_->applied_sql_.erase(it->name);
      }
    }
  }
  pending_sets_.clear();
  pending_doomed_ = false;
}

// The server's records are updated here to the state the SQL leads to: sync_parameters closes the
// server when the SQL fails, so a record is never trusted for a server the SQL did not reach.
std::string client_session::session_sync_sql(server_connection& server) {
  std::string sql;
  if (server.reset_all_due_) {
    // Custom settings left by opaque code cannot be listed, only all reset; what this client
    // wants is applied again below.
    sql = "RESET ALL;";
    server.reset_all_due_ = false;
    server.applied_.clear();
    server.applied_sql_.clear();
  }
  for (auto it = server.applied_sql_.begin(); it != server.applied_sql_.end();) {
    auto mine = sql_sets_.find(it->first);
    if (mine != sql_sets_.end() && mine->second == it->second) {
      ++it;
      continue;
    }
    sql += core::reset_sql(it->first);
    server.applied_.erase(it->first);
    it = server.applied_sql_.erase(it);
  }
  sql += core::plan_param_sync(wanted_, server.baseline_, server.applied_);
  for (const auto& [name, text] : sql_sets_) {
    auto& applied = server.applied_sql_[name];
    if (applied == text) continue;
    sql += text;
    sql += ";";
    applied = text;
    server.applied_.erase(name);
  }
  return sql;
}

awaitable<bool> client_session::record_verified_settings() {
  auto names = std::exchange(verify_names_, {});
  std::string sql = "SELECT ";
  for (std::size_t i = 0; i < names.size(); ++i) {
    sql += (i ? ", " : "") + std::string("pg_catalog.current_setting(") + core::quote_literal(names[i]) + ", true)";
  }
  auto err = co_await server_->run_internal(sql, millis(5000));
  if (err || server_->internal_values_.size() != names.size()) co_return false;
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto replay = "SELECT pg_catalog.set_config(" + core::quote_literal(names[i]) + ", " +
                  core::quote_literal(server_->internal_values_[i]) + ", false)";
    sql_sets_[names[i]] = replay;
    server_->applied_sql_[names[i]] = replay;
  }
  co_return true;
}

awaitable<bool> client_session::probe_session_state() {
  probe_due_ = false;
  spdlog::debug("client {}: probing server {} after a statement with effects pgrelay cannot see", peer_,
                server_->id_);
  auto err = co_await server_->run_internal(probe_sql_for(risky_relations()), millis(5000));
  const auto& values = server_->internal_values_;
  if (err || values.size() % 3 != 0) {
    spdlog::warn("client {}: could not examine server {} after an opaque statement ({}); closing it", peer_,
                 server_->id_, err ? err.message : std::string("unexpected answer"));
    release_server(false);
    co_return false;
  }
  std::vector<std::pair<std::string, std::string>> settings;
  for (std::size_t i = 0; i < values.size(); i += 3) {
    if (values[i] == "set") {
      settings.emplace_back(core::normalize_param_name(values[i + 1]), values[i + 2]);
    } else if (auto reason = pin_reason_named(values[i + 1])) {
      // Too late to refuse: the state exists, so a `reject` policy pins like `pin`.
      auto policy = policy_for(config_->session_state, *reason);
      pin(*reason, policy == conf::pin_policy::reject ? conf::pin_policy::pin : policy);
    }
  }
  // Settings the session changed are the client's own: replayed on its next server, reset before
  // anyone else uses this one.
  server_->reset_all_due_ = true;
  for (auto& [name, value] : settings) {
    if (auto w = wanted_.find(name); w != wanted_.end()) {
      w->second = value;
      server_->applied_[name] = value;
      if (!sql_sets_.contains(name)) continue;
    }
    auto replay = core::set_config_sql(name, value);
    sql_sets_[name] = replay;
    server_->applied_sql_[name] = std::move(replay);
    server_->applied_.erase(name);
  }
  co_return !pinned();
}

awaitable<bool> client_session::advisory_locks_held() {
  auto err = co_await server_->run_internal(
      "SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid() LIMIT 1",
      millis(5000));
  co_return err || server_->internal_rows_ > 0;
}

}  // namespace pgrelay::proxy
