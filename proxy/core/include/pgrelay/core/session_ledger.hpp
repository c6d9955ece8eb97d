// A transaction-mode client's session state and what it owes the servers it borrows: settings
// to replay on the next server, SETs whose transaction has not ended yet, pins, and the checks a
// server needs before it may go back to its pool. Pure: the relay feeds it statement effects
// and server frames, asks it for the next step at a quiet point, and carries the step out.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pgrelay/core/session_params.hpp"
#include "pgrelay/core/session_pins.hpp"
#include "pgrelay/router/session_effects.hpp"

namespace pgrelay::core {

// What pgrelay has done to one server's settings since its login, so the next client's plan sets
// only what differs. Kept by the server connection, changed only through the ledger.
struct server_settings {
  param_map baseline;  // parameters reported at login
  param_map applied;   // parameters set beyond the baseline (plan_param_sync)
  std::map<std::string, std::string, std::less<>> applied_sql;  // SET statements replayed here, by setting
  // Opaque code ran here: it may have left custom (dotted) settings that no catalog view lists.
  bool reset_all_due = false;
  // The settings_key() of the client whose settings sync_sql last gave this server, as long as
  // nothing changed them since; empty: unknown. Most handovers go to a client with the same
  // settings as the last one, and then need no plan at all.
  std::string synced_for;

  // DISCARD ALL ran: nothing pgrelay set is left.
  void discarded() {
    applied.clear();
    applied_sql.clear();
    synced_for.clear();
  }
};

// What a server needs at a quiet point (tracker quiet, frames whole) before it changes hands,
// one step at a time; the driver reports each step's outcome back.
enum class quiet_step {
  check_advisory_locks,  // pinned by advisory locks only, and one was released: does it hold any?
  probe,                 // opaque code ran: read the server's state (probe_answered / probe_failed)
  verify_settings,       // read back settings_to_verify() (record_verified)
  restore_startup,       // RESET ALL / DISCARD ALL ran: sync, then report startup values to the client
  keep,                  // pinned: the server stays with this client
  release,               // nothing left: the server may go back
};

class session_ledger {
 public:
  // Login: the client's startup settings, which RESET ALL and DISCARD ALL return to. Clients
  // with the same settings may share one copy (the proxy's pool keeps one per set): the ledger
  // copies them only when the client changes one, and share_wanted() shares them again.
  void start(param_map wanted);
  void start(std::shared_ptr<const param_map> wanted);
  const param_map& wanted() const {
    return changed_wanted_ ? *changed_wanted_ : shared_wanted_ ? *shared_wanted_ : startup_wanted();
  }
  const param_map& startup_wanted() const { return startup_wanted_ ? *startup_wanted_ : no_params(); }
  // True when the ledger holds its own copy of wanted() (a change made it), which share_wanted
  // may replace by a shared one.
  bool owns_wanted() const { return changed_wanted_ != nullptr; }
  // `same` holds what wanted() holds (e.g. after a server respelled the startup values, equal for
  // every client with those): the ledger keeps it instead of its own copy.
  void share_wanted(std::shared_ptr<const param_map> same);
  // The client parks: the settings key (rebuilt when next asked for) keeps no storage.
  void release_key() { std::string().swap(key_); }
  // The SET statement replayed for `name` on each new server, if the client set it by SQL.
  const std::string* replayed_set(std::string_view name) const;

  // ---- statements, before they are sent -------------------------------------------------------
  // Adds pins; returns the reasons not held before.
  pin_set pin(pin_set pins);
  // What a statement the client sends does to its session (pins excepted: see pin()).
  void on_statement(const router::session_effects& fx, std::string_view sql, server_settings& server);
  // A statement whose effects cannot be seen ran: the server is probed at the quiet point.
  void probe_later() { probe_due_ = true; }

  // ---- server frames ---------------------------------------------------------------------------
  // Whether CommandComplete tags matter (a SET's transaction is open): else they need no parse.
  bool watches_command_tags() const { return has_pending_sets(); }
  void on_command_complete(std::string_view command);
  void on_error();
  // `server`: the server the transaction ran on, null when it is gone.
  void on_ready_for_query(char status, server_settings* server);
  // A ParameterStatus during the relay: the client changed a reported setting itself.
  void on_parameter_status(const std::string& name, std::string_view value, server_settings& server);

  // ---- quiet point -----------------------------------------------------------------------------
  quiet_step next_quiet_step() const;
  void advisory_locks_checked(bool held);
  // `rows`: (kind, name, value) triples of the probe's answer, `kind` 'pin' or 'set'. Returns the
  // pins found: too late to refuse, the state exists.
  pin_set probe_answered(std::span<const std::string> rows, server_settings& server);
  void probe_failed() { probe_due_ = false; }  // the server is closed: what it held is gone
  std::vector<std::string> take_settings_to_verify() {
    return changes_ ? std::exchange(changes_->verify_names, {}) : std::vector<std::string>{};
  }
  // `values[i]` is the server's current value of `names[i]`: from now on the client's own.
  void record_verified(std::span<const std::string> names, std::span<const std::string> values,
                       server_settings& server);
  void startup_restored() { restore_startup_ = false; }

  // ---- handing a server over -------------------------------------------------------------------
  // The SQL that gives `server` this client's settings, or "" when it has them. `server` is
  // updated to the state after it: a server where the SQL fails must be closed.
  std::string sync_sql(server_settings& server) const;
  // The server reported `reported` after a sync: its spelling of the client's values.
  void adopt_reported(const param_map& reported, server_settings& server);
  // Everything sync_sql gives a server, as one string: two clients with equal keys want the
  // same settings, so a server already in line with one needs nothing for the other.
  const std::string& settings_key() const;
  // The session keeps state on its server: it may not change hands (handover.hpp's session_state).
  bool holds_server() const {
    return pins_ != 0 && !(pins_ == bit(pin_reason::advisory_lock) && advisory_recheck_);
  }
  // The client left: must its server be cleaned (DISCARD ALL) before anyone else gets it?
  bool left_state_on_server() const { return pins_ != 0 || probe_due_; }
  pin_set pins() const { return pins_; }

 private:
  struct pending_set {
    std::string name;
    std::string sql;
    std::optional<std::string> previous;  // what the server had applied before, if anything
  };
  void settle(server_settings* server);
  void adopt_setting(const std::string& name, const std::string& value, server_settings& server);
  // Called by every change to the client's settings or to a server's record: the key is
  // rebuilt when next asked for, and the server is no longer known to be in line.
  void changed(server_settings* server) {
    key_.clear();
    if (server) server->synced_for.clear();
  }

  // What only a client that changed a setting has. Boxed, made by the first change: most
  // clients never make one, and every idle client keeps its ledger (96 bytes fewer each).
  using sql_set_map = std::map<std::string, std::string, std::less<>>;
  struct setting_changes {
    sql_set_map sql_sets;                    // SET statements to replay, by setting
    std::vector<pending_set> pending_sets;   // until their transaction ends
    std::vector<std::string> verify_names;   // settings to read back from the server
  };
  setting_changes& changes() {
    if (!changes_) changes_ = std::make_unique<setting_changes>();
    return *changes_;
  }
  const sql_set_map& sql_sets() const;  // empty when nothing was set
  bool has_pending_sets() const { return changes_ && !changes_->pending_sets.empty(); }

  static const param_map& no_params();
  // wanted(), to change: the ledger's own copy of it, made by the first change.
  param_map& wanted_to_change();
  std::shared_ptr<const param_map> startup_wanted_;  // null: none
  std::shared_ptr<const param_map> shared_wanted_;   // wanted(), shared; null: startup_wanted()
  std::unique_ptr<param_map> changed_wanted_;        // wanted(), the client's own copy
  std::unique_ptr<setting_changes> changes_;
  bool pending_doomed_ = false;     // an error or ROLLBACK undid them
  bool rollback_seen_ = false;      // a ROLLBACK tag: the next ReadyForQuery says which kind
  bool pending_uncertain_ = false;  // a ROLLBACK TO SAVEPOINT may have undone some of them
  bool restore_startup_ = false;    // RESET ALL / DISCARD ALL ran: re-apply startup values
  pin_set pins_ = 0;
  bool advisory_recheck_ = false;   // an unlock ran: the advisory pin may be over
  bool probe_due_ = false;
  mutable std::string key_;  // settings_key(), empty until asked for after a change
};

// The pin reason a probe row names ('advisory_lock' …), if any.
std::optional<pin_reason> pin_reason_named(std::string_view name);

}  // namespace pgrelay::core
