#include "pgrelay/core/session_ledger.hpp"

#include <utility>

namespace pgrelay::core {

std::optional<pin_reason> pin_reason_named(std::string_view name) {
  for (const auto& row : pin_reasons) {
    if (row.name == name) return row.reason;
  }
  return std::nullopt;
}

void session_ledger::start(param_map wanted) { start(std::make_shared<const param_map>(std::move(wanted))); }

void session_ledger::start(std::shared_ptr<const param_map> wanted) {
  changed(nullptr);
  startup_wanted_ = std::move(wanted);
  shared_wanted_.reset();
  changed_wanted_.reset();
}

void session_ledger::share_wanted(std::shared_ptr<const param_map> same) {
  if (!same || *same != wanted()) return;  // not the same settings: keep what the ledger has
  shared_wanted_ = std::move(same);
  changed_wanted_.reset();
}

const param_map& session_ledger::no_params() {
  static const param_map none;
  return none;
}

param_map& session_ledger::wanted_to_change() {
  if (!changed_wanted_) {
    changed_wanted_ = std::make_unique<param_map>(wanted());
    shared_wanted_.reset();
  }
  return *changed_wanted_;
}

const std::string* session_ledger::replayed_set(std::string_view name) const {
  const auto& sets = sql_sets();
  auto it = sets.find(name);
  return it == sets.end() ? nullptr : &it->second;
}

const session_ledger::sql_set_map& session_ledger::sql_sets() const {
  static const sql_set_map none;
  return changes_ ? changes_->sql_sets : none;
}

pin_set session_ledger::pin(pin_set pins) {
  const pin_set added = pins & ~pins_;
  pins_ |= pins;
  return added;
}

void session_ledger::on_statement(const router::session_effects& fx, std::string_view sql, server_settings& server) {
  changed(&server);
  if (fx.advisory_unlock) advisory_recheck_ = true;
  if (fx.opaque) probe_due_ = true;
  if (fx.set && fx.statements == 1 && fx.set_value_unknown) {
    // set_config with a computed value: read back at the quiet point. Until then the server is
    // marked with a text no client's setting equals, so another client gets it reset.
    changes().verify_names.push_back(fx.set_name);
    server.applied_sql[fx.set_name] = "-- pgrelay: unverified";
    server.applied.erase(fx.set_name);
  } else if (fx.set && fx.statements == 1 && !fx.set_name.empty()) {
    // Settled when its transaction ends; the server is marked at once so it is reset for others.
    // A set_config call is replayed alone: the rest of its statement must not run again.
    auto replay = fx.set_by_function ? set_config_sql(fx.set_name, fx.set_value) : std::string(sql);
    auto& applied = server.applied_sql[fx.set_name];
    auto previous = applied.empty() ? std::nullopt : std::optional<std::string>(applied);
    changes().pending_sets.push_back({fx.set_name, replay, std::move(previous)});
    applied = std::move(replay);
    server.applied.erase(fx.set_name);
  }
  if (fx.reset) {
    if (changes_) changes_->sql_sets.erase(fx.set_name);
    // Back to the startup value, or to none; a ledger that holds that already copies nothing.
    const auto& startup = startup_wanted();
    const auto& current = wanted();
    auto was = startup.find(fx.set_name);
    auto now = current.find(fx.set_name);
    if (was != startup.end()) {
      if (now == current.end() || now->second != was->second) wanted_to_change()[fx.set_name] = was->second;
    } else if (now != current.end()) {
      wanted_to_change().erase(fx.set_name);
    }
    server.applied_sql.erase(fx.set_name);
    server.applied.erase(fx.set_name);
  }
  if (fx.reset_all || fx.discard_all) {
    if (changes_) {
      changes_->sql_sets.clear();
      changes_->pending_sets.clear();
    }
    shared_wanted_.reset();
    changed_wanted_.reset();
    server.discarded();
    restore_startup_ = true;
  }
}

void session_ledger::on_command_complete(std::string_view command) {
  if (command == "ROLLBACK") rollback_seen_ = true;
}

void session_ledger::on_error() {
  if (has_pending_sets()) pending_doomed_ = true;
}

void session_ledger::on_ready_for_query(char status, server_settings* server) {
  const bool rollback = std::exchange(rollback_seen_, false);
  if (!has_pending_sets()) return;
  if (status != 'I') {
    // ROLLBACK TO SAVEPOINT: some of the transaction's SETs may be undone; which, only the
    // server knows. It is asked when the transaction is over.
    if (rollback) pending_uncertain_ = true;
    return;
  }
  if (rollback) {
    pending_doomed_ = true;  // the whole transaction rolled back
  } else if (pending_uncertain_) {
    // Committed after a partial rollback: the server alone knows which of them stand.
    auto& c = *changes_;
    for (auto& p : c.pending_sets) c.verify_names.push_back(p.name);
    c.pending_sets.clear();
    pending_doomed_ = pending_uncertain_ = false;
    return;
  }
  settle(server);
}

void session_ledger::settle(server_settings* server) {
  changed(server);
  pending_uncertain_ = false;
  if (!changes_) {
    pending_doomed_ = false;
    return;
  }
  auto& c = *changes_;
  if (!pending_doomed_) {
    for (auto& p : c.pending_sets) c.sql_sets[p.name] = std::move(p.sql);
  } else if (server) {
    // Nothing of it happened on the server: forget the marks, newest first.
    for (auto it = c.pending_sets.rbegin(); it != c.pending_sets.rend(); ++it) {
      if (it->previous) {
        server->applied_sql[it->name] = *it->previous;
      } else {
        server->applied_sql.erase(it->name);
      }
    }
  }
  c.pending_sets.clear();
  pending_doomed_ = false;
}

void session_ledger::on_parameter_status(const std::string& name, std::string_view value, server_settings& server) {
  // While RESET ALL's effect is pending, reports are the server going back to the client's
  // startup values, which restore_startup applies anyway.
  if (is_server_fact(name) || restore_startup_) return;
  changed(&server);
  const auto& current = wanted();
  if (auto w = current.find(name); w == current.end() || w->second != value) {
    wanted_to_change()[name] = std::string(value);
  }
  server.applied[name] = std::string(value);
}

quiet_step session_ledger::next_quiet_step() const {
  if (pins_ != 0) {
    return pins_ == bit(pin_reason::advisory_lock) && advisory_recheck_ ? quiet_step::check_advisory_locks
                                                                        : quiet_step::keep;
  }
  if (probe_due_) return quiet_step::probe;
  if (changes_ && !changes_->verify_names.empty()) return quiet_step::verify_settings;
  if (restore_startup_) return quiet_step::restore_startup;
  return quiet_step::release;
}

void session_ledger::advisory_locks_checked(bool held) {
  advisory_recheck_ = false;
  if (!held) pins_ = 0;
}

pin_set session_ledger::probe_answered(std::span<const std::string> rows, server_settings& server) {
  changed(&server);
  probe_due_ = false;
  advisory_recheck_ = false;  // the probe just looked at the locks
  pin_set found = 0;
  std::vector<std::pair<std::string, std::string>> settings;
  for (std::size_t i = 0; i + 2 < rows.size(); i += 3) {
    if (rows[i] == "set") {
      settings.emplace_back(normalize_param_name(rows[i + 1]), rows[i + 2]);
    } else if (auto reason = pin_reason_named(rows[i + 1])) {
      found |= bit(*reason);
    }
  }
  // Settings the session changed are the client's own: replayed on its next server, reset before
  // anyone else uses this one.
  server.reset_all_due = true;
  for (auto& [name, value] : settings) adopt_setting(name, value, server);
  pins_ |= found;
  return found;
}

void session_ledger::adopt_setting(const std::string& name, const std::string& value, server_settings& server) {
  changed(&server);
  const auto& current = wanted();
  if (auto w = current.find(name); w != current.end()) {
    if (w->second != value) wanted_to_change()[name] = value;
    server.applied[name] = value;
    if (!sql_sets().contains(name)) return;
  }
  auto replay = set_config_sql(name, value);
  changes().sql_sets[name] = replay;
  server.applied_sql[name] = std::move(replay);
  server.applied.erase(name);
}

void session_ledger::record_verified(std::span<const std::string> names, std::span<const std::string> values,
                                     server_settings& server) {
  changed(&server);
  for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) {
    auto replay = "SELECT pg_catalog.set_config(" + quote_literal(names[i]) + ", " + quote_literal(values[i]) +
                  ", false)";
    changes().sql_sets[names[i]] = replay;
    server.applied_sql[names[i]] = std::move(replay);
  }
}

std::string session_ledger::sync_sql(server_settings& server) const {
  const auto& key = settings_key();
  if (!server.reset_all_due && server.synced_for == key) return {};
  std::string sql;
  if (server.reset_all_due) {
    // Custom settings left by opaque code cannot be listed, only all reset; what this client
    // wants is applied again below.
    sql = "RESET ALL;";
    server.reset_all_due = false;
    server.discarded();
  }
  const auto& sets = sql_sets();
  for (auto it = server.applied_sql.begin(); it != server.applied_sql.end();) {
    auto mine = sets.find(it->first);
    if (mine != sets.end() && mine->second == it->second) {
      ++it;
      continue;
    }
    sql += reset_sql(it->first);
    server.applied.erase(it->first);
    it = server.applied_sql.erase(it);
  }
  sql += plan_param_sync(wanted(), server.baseline, server.applied);
  for (const auto& [name, text] : sets) {
    auto& applied = server.applied_sql[name];
    if (applied == text) continue;
    sql += text;
    sql += ";";
    applied = text;
    server.applied.erase(name);
  }
  server.synced_for = key;
  return sql;
}

void session_ledger::adopt_reported(const param_map& reported, server_settings& server) {
  changed(&server);
  // The server's spelling of the client's values becomes the client's; equal ones need no copy
  // of shared startup settings.
  for (const auto& [name, value] : reported) {
    const auto& current = wanted();
    auto w = current.find(name);
    if (w == current.end()) continue;
    if (w->second != value) wanted_to_change()[name] = value;
    server.applied[name] = value;
  }
}

namespace {

void append_sized(std::string& out, std::string_view part) {
  out += std::to_string(part.size());
  out += ':';
  out += part;
}

}  // namespace

const std::string& session_ledger::settings_key() const {
  if (!key_.empty()) return key_;
  key_ = "w";  // never empty, so an unknown server's empty synced_for never matches
  for (const auto& [name, value] : wanted()) {
    append_sized(key_, name);
    append_sized(key_, value);
  }
  key_ += 's';
  for (const auto& [name, sql] : sql_sets()) {
    append_sized(key_, name);
    append_sized(key_, sql);
  }
  return key_;
}

}  // namespace pgrelay::core
