// One shared-nothing worker: an io_context on its own thread with its own listeners and pools.
// What workers share (config, users, cancel keys, pool budgets) lives in shared_state.
#pragma once

#include "pgrelay/core/pin_reasons.hpp"

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <functional>
#include <chrono>
#include <vector>
#include <span>
#include <string>
#include <string_view>
#include <thread>

#include "cancel_registry.hpp"
#include "net.hpp"
#include "parked_sockets.hpp"
#include "session_list.hpp"
#include "write_floors.hpp"
#include "pgrelay/conf/config.hpp"
#include "pgrelay/conf/users.hpp"
#include "pgrelay/core/connection_limits.hpp"
#include "pgrelay/core/heap_trim.hpp"
#include "pgrelay/core/prepared_statements.hpp"
#include "pgrelay/core/verifier_cache.hpp"
#include "pgrelay/router/cache_key.hpp"
#include "pgrelay/router/classify.hpp"
#include "pgrelay/router/function_catalog.hpp"
#include "pgrelay/router/hidden_code.hpp"
#include "pgrelay/router/route.hpp"
#include "pgrelay/router/session_effects.hpp"
#include "pgrelay/router/topology.hpp"
#include <tuple>
#include "pool.hpp"
#include "stats.hpp"
#include <set>
#include <unordered_map>

namespace pgrelay::proxy {

// A session idle through a whole sweep interval (1 to 2 of them) gives up its read buffer and
// coroutine frames (client_session::offer_park). Longer: idle clients hold more memory for longer;
// shorter: a client that pauses between requests pays a park and a wake more often.
inline constexpr millis park_sweep_interval{1000};

using users_map = std::map<std::string, conf::user_entry>;

class worker;

// A copy of one worker's state for the console and /metrics, taken on that worker's thread.
struct pool_view {
  std::string database, user, target, mode;
  std::uint32_t cl_active = 0, cl_waiting = 0, sv_active = 0, sv_idle = 0, size = 0, max_clients = 0;
  std::uint64_t maxwait_us = 0;
};
struct client_view {
  std::string user, database, address, application_name, state, server;
  double connected_seconds = 0;
  std::uint64_t transactions = 0;
  std::int32_t pid = 0;
  std::uint32_t pins = 0;
  std::string tls;  // "TLSv1.3/TLS_AES_256_GCM_SHA384", empty in plaintext
};
struct server_view {
  std::string database, user, target, address, state;
  std::int32_t backend_pid = 0;
  std::uint64_t id = 0;
  double age_seconds = 0;
  std::string tls;
};
struct worker_snapshot {
  std::vector<pool_view> pools;
  std::vector<client_view> clients;
  std::vector<server_view> servers;
  std::map<std::string, database_stats> stats;
  std::map<std::string, router::topology_ptr> topologies;
};

// Operator actions the console and signals share; set by app.cpp, called on any worker's loop.
struct control_hooks {
  std::function<std::string()> reload;  // empty string: applied; else the diagnostics
  std::function<void()> shutdown;       // graceful, as SIGTERM
  asio::any_io_executor executor;       // where reload runs (it may block on file and health I/O)
};

struct shared_state {
  std::shared_ptr<const conf::config> config;
  std::shared_ptr<const users_map> users;
  tls_ptr tls;
  std::vector<worker*> workers;
  control_hooks control;
  std::atomic<std::uint64_t> live_sessions{0};
  std::atomic<std::uint64_t> parked_sessions{0};  // idle, waiting with no read buffer and no coroutine
  std::atomic<std::uint64_t> parked_compactly{0};  // of those, the ones whose socket is out of Asio's reactor
  std::atomic<std::uint32_t> pending_logins{0};  // accepted, not yet authenticated (max_pending_logins)
  std::atomic<std::uint64_t> reloads{0};
  std::atomic<std::uint64_t> reload_failures{0};
  std::chrono::system_clock::time_point started_at = std::chrono::system_clock::now();
  cancel_registry cancels;
  std::size_t worker_count = 1;
  std::atomic<std::uint64_t> logins_begun{0};  // every login() since start (heap_trim_policy)
  std::atomic<bool> shutting_down{false};
  std::atomic<std::uint64_t> replication_connections{0};
  std::atomic<std::uint64_t> replica_fallbacks{0};  // reads retried on the primary
  write_floors floors;  // read-your-writes scopes user and database
  std::array<std::atomic<std::uint64_t>, core::pin_reason_count> pins_by_reason{};  // indexed by pin_reason

  // The health checker, while one runs: workers tell it when DDL went through.
  std::atomic<class health_checker*> checker{nullptr};

  std::shared_ptr<pool_budget> budget_for(const std::string& database, const std::string& user);
  // max_db_connections / max_user_connections counters, one per database and per user.
  std::shared_ptr<core::limit_counter> database_limit(const std::string& database);
  std::shared_ptr<core::limit_counter> user_limit(const std::string& user);

  // auth.query verifiers, shared by the workers (a login is not the hot path).
  std::optional<std::string> cached_verifier(const std::string& database, const std::string& user, conf::duration ttl);
  void cache_verifier(const std::string& database, const std::string& user, const std::string& verifier);
  void forget_verifier(const std::string& database, const std::string& user);

 private:
  std::mutex verifiers_mutex_;
  core::verifier_cache verifiers_;
  std::mutex limits_mutex_;
  std::map<std::string, std::shared_ptr<core::limit_counter>> database_limits_;
  std::map<std::string, std::shared_ptr<core::limit_counter>> user_limits_;
  std::mutex budgets_mutex_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<pool_budget>> budgets_;
};

class worker {
  // Declared before io_ so they outlive it: destroying io_ destroys the session coroutines,
  // which may still hand servers back to their pools.
  std::map<std::tuple<std::string, std::string, std::string>, std::unique_ptr<pool>> pools_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<core::statement_registry>> registries_;
  // One idle auth.query connection per auth source (address/database/user), reused by logins.
  std::map<std::string, std::unique_ptr<server_connection>> auth_connections_;
  // Pass-through: the keys of the latest client of (database, user) that proved itself, and
  // where its verifier came from; the pools of that pair log in with them.
  struct login_keys {
    std::shared_ptr<const protocol::scram_passthrough_keys> keys;
    std::string source;
  };
  std::map<std::pair<std::string, std::string>, login_keys> login_keys_;
  std::map<std::string, router::topology_ptr> topologies_;
  struct catalog_entry {
    router::topology_ptr from;
    std::shared_ptr<const conf::config> config;
    router::function_catalog catalog;
  };
  std::map<std::string, catalog_entry> catalogs_;
  std::map<std::string, std::set<std::string>> learned_writes_;  // by learn_writing_functions
  struct rules_entry {
    std::shared_ptr<const conf::config> config;
    std::vector<router::routing_rule> rules;
  };
  std::map<std::string, rules_entry> rules_;
  std::vector<std::shared_ptr<void>> listeners_;
  std::shared_ptr<const conf::config> config_;
  std::shared_ptr<const users_map> users_;
  tls_ptr tls_;
  std::set<std::string> paused_;

 public:
  worker(std::size_t index, shared_state& shared);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  // The pool for a client of `database` as `user` on server `target` ("primary" or a replica's
  // name), created on first use; nullptr if the database or server is not configured.
  pool* pool_for(const std::string& database, const std::string& user, const std::string& target = "primary");
  // An idle auth.query connection for `key`, or nullptr; and giving one back (kept if none is).
  std::unique_ptr<server_connection> take_auth_connection(const std::string& key);
  void keep_auth_connection(const std::string& key, std::unique_ptr<server_connection> c);
  // Pass-through: a client of (database, user) proved itself; the pools of that pair log in to
  // Postgres with these keys from now on.
  void set_login_keys(const std::string& database, const std::string& user,
                      std::shared_ptr<const protocol::scram_passthrough_keys> keys, std::string source);
  // A sibling pool (same database or same user) on this worker closes one idle server, freeing a
  // max_db_connections / max_user_connections slot for `asking`; false if none had one.
  bool evict_idle_for(const pool& asking);
  // Named statements of a (database, user)'s clients, shared across its servers.
  core::statement_registry& statements_for(const std::string& database, const std::string& user);
  // The checker's latest view of a database, or nullptr before its first report.
  router::topology_ptr topology_for(const std::string& database) const;
  void set_topology(router::topology_ptr t);
  // Function catalog: built-in list, volatile functions learned by the latest topology, and the
  // database's YAML overrides.
  const router::function_catalog& catalog_for(const std::string& database);
  // A replica refused a statement as writing (25006): the functions it calls count as writing
  // on this worker from now on, until the process ends (the catalogue refresh that follows
  // lists them too, once they are VOLATILE in pg_proc).
  void learn_writing_functions(const std::string& database, const std::vector<std::string>& names);
  // The database's routing rules in the router's terms (rebuilt when the config changes).
  std::span<const router::routing_rule> rules_for(const std::string& database);
  // The configuration this worker serves now; replaced on reload (on this worker's loop).
  const std::shared_ptr<const conf::config>& current_config() const { return config_; }
  void set_config(std::shared_ptr<const conf::config> cfg, std::shared_ptr<const users_map> users, tls_ptr tls);
  const std::shared_ptr<const users_map>& current_users() const { return users_; }
  const tls_ptr& current_tls() const { return tls_; }
  // On this worker's thread: a copy of its pools, clients, servers and counters.
  worker_snapshot snapshot() const;
  // PAUSE/RESUME: new requests of a paused database wait (all databases when `database` is empty).
  void pause(const std::string& database) { paused_.insert(database); }
  void resume(const std::string& database);
  const std::set<std::string>& paused_databases() const { return paused_; }
  bool paused(const std::string& database) const {
    return !paused_.empty() && (paused_.contains(database) || paused_.contains(""));
  }
  // How many of this worker's sessions of `database` hold a server now (all when empty).
  std::size_t sessions_with_server(const std::string& database) const;
  // KILL: ends every session of `database` now with 57P01.
  void kill(const std::string& database);
  // Graceful shutdown: stop accepting; idle sessions end now, busy ones at their next quiet point.
  void begin_shutdown();
  // Ends every session now with 57P01 (SIGINT, or the shutdown timeout).
  void terminate_all();
  void start_listening();
  // Every park_sweep_interval, asks the sessions that waited idle through a whole interval to
  // park (client_session::offer_park). Stopped by begin_shutdown and stop.
  void start_park_sweep();
  void run();  // blocks: the worker's event loop
  void stop();

  // This worker's counters for `database` ("" for clients not logged in yet); stable address.
  database_stats& stats_for(const std::string& database) { return stats_[database]; }

  // One thread runs it and only that thread touches its sockets: other threads reach a worker
  // by posting.
  asio::io_context& io() { return io_; }
  shared_state& shared() { return shared_; }
  std::size_t index() const { return index_; }
  // Every live session on this worker, for KILL, shutdown and the console's views.
  void add_session(class client_session& s);
  void remove_session(class client_session& s);
  // The sockets of this worker's compactly parked clients (session_parking.cpp).
  parked_sockets& parked() { return parked_; }

  // Session effects by statement text (bounded): the parser runs once per distinct text. Looked
  // up by string_view, so a hit allocates nothing (any statement with a function call asks).
  struct effects_entry {
    router::session_effects fx;
    std::vector<router::relation_ref> relations;  // the relations the text names
    // Whether it names a risky relation, as decided against the set of version `judged_version`
    // (0: not yet): decided once per text and set, not per execution.
    std::uint64_t judged_version = 0;
    bool hidden = false;
  };
  effects_entry& effects_of(std::string_view sql);
  // Relations whose use runs user code, per database, as the health checker last published
  // them (nullptr: not read yet). risky_epoch() moves on every change, so sessions refresh their
  // pointer to their database's set without a lookup per statement.
  void set_risky_relations(const std::string& database, std::shared_ptr<const router::risky_relations> r) {
    risky_[database] = std::move(r);
    ++risky_epoch_;
  }
  const router::risky_relations* risky_relations_for(const std::string& database) const {
    auto it = risky_.find(database);
    return it == risky_.end() ? nullptr : it->second.get();
  }
  std::uint64_t risky_epoch() const { return risky_epoch_; }
  // A statement's classification, cached by literal-free text until the function catalog changes.
  const router::classification& classify(std::string_view sql, const router::function_catalog& catalog,
                                         router::lookup_order order) {
    return classify_cache_.get(sql, catalog, order);
  }
  // A verifier made ready for SCRAM logins, kept by its text (bounded): a login against a verifier
  // seen before neither parses it nor keys its HMACs again. nullptr when the text does not parse.
  std::shared_ptr<protocol::scram_login_secret> login_secret(std::string_view verifier);
  // Spreads reads over replicas: each call deals the next one.
  std::uint64_t next_route_pick() { return route_counter_++; }
  // Bumped by set_config and set_topology: sessions' session_links refresh when it moves.
  std::uint64_t routing_epoch() const { return routing_epoch_; }
  // relay_state.hpp: the states of finished relays, lent to the next relays on this worker.
  struct relay_spares;
  relay_spares& spare_relay_states();

 private:
  // Before io_: a session whose last owner is a pending handler ends when io_ is destroyed, and
  // unlinks itself then.
  session_list sessions_;
  // Scheduler locking stays on (other threads post here); the per-socket reactor locks are off.
  asio::io_context io_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::optional<asio::steady_timer> park_sweep_;  // after io_: destroyed before it
  parked_sockets parked_{io_};
  // After io_ too: a spare relay state may hold a timer.
  struct relay_spares_deleter {
    void operator()(relay_spares* s) const noexcept;
  };
  std::unique_ptr<relay_spares, relay_spares_deleter> relay_spares_;
  void sweep_idle_sessions();
  // Worker 0's sweep gives free heap pages back after a burst of logins (the heap is the
  // process's, so one worker asks for all).
  core::heap_trim_policy heap_trim_;
  void trim_heap_after_logins();
  std::map<std::string, database_stats> stats_;
  // A copy to iterate over while sessions end.
  std::vector<client_session*> all_sessions();
  struct text_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, effects_entry, text_hash, std::equal_to<>> effects_cache_;
  std::map<std::string, std::shared_ptr<const router::risky_relations>> risky_;
  std::uint64_t risky_epoch_ = 1;
  router::classification_cache classify_cache_;
  std::unordered_map<std::string, std::shared_ptr<protocol::scram_login_secret>, text_hash, std::equal_to<>>
      login_secrets_;
  std::uint64_t route_counter_ = 0;
  std::uint64_t routing_epoch_ = 1;
  shared_state& shared_;
  std::size_t index_;
};

}  // namespace pgrelay::proxy
