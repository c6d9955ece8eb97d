// Session state in transaction mode: statements that leave state on a server either pin the
// client to it (or warn, or are rejected, per the YAML), or are tracked and replayed (SET).
#include <spdlog/spdlog.h>

#include <utility>

#include "client_session.hpp"
#include "pgrelay/core/prepared_statements.hpp"
#include "pgrelay/protocol/errors.hpp"
#include "pool.hpp"
#include "worker.hpp"

namespace pgrelay::proxy {

namespace pr = pgrelay::protocol;

std::string_view to_string(pin_reason r) {
  switch (r) {
    case pin_reason::listen: return "listen";
    case pin_reason::advisory_lock: return "advisory_lock";
    case pin_reason::temp_table: return "temp_table";
    case pin_reason::with_hold_cursor: return "with_hold_cursor";
    case pin_reason::set_role: return "set_role";
    case pin_reason::sql_prepare: return "sql_prepare";
    case pin_reason::set_in_transaction: return "set_in_transaction";
  }
  return "unknown";
}

namespace {

std::string_view construct_name(pin_reason r) {
  switch (r) {
    case pin_reason::listen: return "LISTEN";
    case pin_reason::advisory_lock: return "session-level advisory locks";
    case pin_reason::temp_table: return "temporary tables";
    case pin_reason::with_hold_cursor: return "DECLARE ... WITH HOLD";
    case pin_reason::set_role: return "SET ROLE / SET SESSION AUTHORIZATION";
    case pin_reason::sql_prepare: return "SQL-level PREPARE";
    case pin_reason::set_in_transaction: return "SET inside a transaction block";
  }
  return "this statement";
}

std::string_view policy_key(pin_reason r) {
  switch (r) {
    case pin_reason::listen: return "listen";
    case pin_reason::advisory_lock: return "advisory_locks";
    case pin_reason::temp_table: return "temp_tables";
    case pin_reason::with_hold_cursor: return "with_hold_cursors";
    case pin_reason::set_role: return "set_role";
    case pin_reason::sql_prepare: return "sql_prepare";
    case pin_reason::set_in_transaction: return "set_in_transaction";
  }
  return "";
}

conf::pin_policy policy_for(const conf::session_state_policies& p, pin_reason r) {
  switch (r) {
    case pin_reason::listen: return p.listen;
    case pin_reason::advisory_lock: return p.advisory_locks;
    case pin_reason::temp_table: return p.temp_tables;
    case pin_reason::with_hold_cursor: return p.with_hold_cursors;
    case pin_reason::set_role: return p.set_role;
    case pin_reason::sql_prepare: return p.sql_prepare;
    case pin_reason::set_in_transaction: return p.set_in_transaction;
  }
  return conf::pin_policy::pin;
}

// Executed by the server so the error has Postgres's own transaction semantics.
std::string rejection_sql(pin_reason r) {
  return "DO $pgrelay$BEGIN RAISE EXCEPTION USING ERRCODE = '0A000', MESSAGE = 'pgrelay: " +
         std::string(construct_name(r)) + " cannot be used in transaction pooling mode', HINT = " +
         "'connect as a user in session pool mode, or set session_state." + std::string(policy_key(r)) +
         " to pin in the pgrelay configuration'; END$pgrelay$";
}

const router::session_effects& effects_of(worker& w, std::string_view sql) {
  auto it = w.effects_cache_.find(std::string(sql));
  if (it != w.effects_cache_.end()) return it->second;
  if (w.effects_cache_.size() >= 4096) w.effects_cache_.clear();
  return w.effects_cache_.emplace(std::string(sql), router::analyze_session_effects(sql)).first->second;
}

}  // namespace

void client_session::pin(pin_reason reason, conf::pin_policy policy) {
  auto bit = 1u << static_cast<unsigned>(reason);
  pins_ |= bit;
  if (pins_logged_ & bit) return;
  pins_logged_ |= bit;
  worker_.shared_.pins_by_reason[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  spdlog::info("client {}: pinned to its server ({}): {} keeps session state", peer_, to_string(reason),
               construct_name(reason));
  if (policy == conf::pin_policy::warn) {
    pr::build::notice_response(pending_notice_,
                               "pgrelay: " + std::string(construct_name(reason)) +
                                   " keeps this connection on one server until it disconnects");
  }
}

statement_verdict client_session::inspect_statement(std::string_view sql) {
  statement_verdict v;
  if (!statements_ || !router::may_have_session_effects(sql)) return v;
  const auto fx = effects_of(worker_, sql);  // a copy: the cache may be cleared below
  const auto& policies = config_->session_state;

  std::pair<bool, pin_reason> found[] = {
      {fx.listen, pin_reason::listen},           {fx.advisory_lock, pin_reason::advisory_lock},
      {fx.temp_table, pin_reason::temp_table},   {fx.with_hold_cursor, pin_reason::with_hold_cursor},
      {fx.set_role, pin_reason::set_role},       {fx.sql_prepare, pin_reason::sql_prepare},
      {fx.set && (fx.statements > 1 || fx.set_name.empty()), pin_reason::set_in_transaction},
  };
  for (auto [present, reason] : found) {
    if (present && policy_for(policies, reason) == conf::pin_policy::reject) {
      spdlog::info("client {}: rejected {} (session_state.{}: reject)", peer_, construct_name(reason),
                   policy_key(reason));
      v.reject = true;
      v.replacement_sql = rejection_sql(reason);
      return v;
    }
  }
  for (auto [present, reason] : found) {
    if (present) pin(reason, policy_for(policies, reason));
  }
  if (fx.advisory_unlock) advisory_recheck_ = true;

  auto& server = *server_;
  if (fx.set && fx.statements == 1 && !fx.set_name.empty()) {
    // Settled when its transaction ends; the server is marked at once so it is reset for others.
    auto& applied = server.applied_sql_[fx.set_name];
    pending_sets_.push_back({fx.set_name, std::string(sql),
                             applied.empty() ? std::nullopt : std::optional<std::string>(applied)});
    applied = std::string(sql);
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
  if (fx.discard_all || fx.deallocate_all) {
    statements_->clear();
    server.statements_.prepared.clear();
    server.statements_.generation.clear();
  }
  if (fx.deallocate && fx.statements == 1) {
    if (auto id = statements_->find(fx.name)) {
      // A protocol-level statement deallocated with SQL: it lives under pgrelay's name here.
      v.prepare_first = *id;
      v.replacement_sql = "DEALLOCATE " + core::server_statement_name(*id);
      statements_->forget(fx.name);
    }
  }
  return v;
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

std::string client_session::session_sync_sql(server_connection& server) {
  std::string sql;
  for (auto it = server.applied_sql_.begin(); it != server.applied_sql_.end();) {
    auto mine = sql_sets_.find(it->first);
    if (mine != sql_sets_.end() && mine->second == it->second) {
      ++it;
      continue;
    }
    if (core::is_plain_param_name(it->first)) sql += "RESET " + it->first + ";";
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

awaitable<bool> client_session::advisory_locks_held() {
  auto err = co_await server_->run_internal(
      "SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid() LIMIT 1",
      millis(5000));
  co_return err || server_->internal_rows_ > 0;
}

}  // namespace pgrelay::proxy
