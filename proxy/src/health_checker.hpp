// The health and lag checker: one thread that polls every routed database's primary and
// replicas with libpq each `routing.check_interval` and publishes an immutable
// router::topology per database. It owns the replica states; everyone else reads snapshots.
//
// - One persistent connection per server (application_name pgrelay-health, connect_timeout=2,
//   statement_timeout = min(2s, max(check_interval, 500ms))); a failed connect or query marks the
//   server unreachable and the next round reconnects. A query also has a client-side deadline
//   (the same budget), so a server that stops answering cannot stall the thread.
// - Credentials: routing.health_user/health_password, else server_user with server_password
//   (or the variable named by server_password_env, read here: the proxy may read the
//   environment, conf may not).
// - Unreachable servers keep their last known LSNs (reachable=false): an unreachable primary's
//   last position stays the reference for replica lag instead of dropping to 0.
// - Promotion: when the configured primary is reachable and reports in_recovery, and a replica
//   reports not in recovery, that replica becomes the acting primary (topology.primary is its
//   sample, primary_name its name) and is left out of the replicas; the demoted primary is not
//   added as a replica (it has no configured roles or limits). An unreachable primary does not
//   trigger this: without a positive "I am a standby" we do not move writes (split brain).
// - Replay delay: not now() - pg_last_xact_replay_timestamp() (which counts a long transaction
//   on an idle primary as delay and mixes two hosts' clocks) but router::wal_history: the time
//   since this checker first saw the primary at a position the replica has not replayed yet.
//   0 when the replica replayed all the primary had at the last check (idle primary: 0).
// - Every 10 rounds (and on the first), at once after functions_may_have_changed() (a worker
//   saw DDL go through, or a replica refuse a statement as writing), and whenever a cheap
//   fingerprint of pg_proc read every round changed (a function created behind pgrelay's back),
//   the user-defined VOLATILE functions are read from the acting primary into
//   topology.volatile_functions; on failure the previous list is kept.
// - A position_prober per routed database with replicas refreshes the primary's position and
//   the replicas' replay within milliseconds of a write (topology.live), between the rounds.
// - Every round, a cheap fingerprint of pg_trigger, pg_policy, pg_rewrite, pg_attrdef,
//   pg_namespace and the pg_class rows of the relations already known risky is read from the
//   acting primary; when it changed, the relations whose use runs user code (triggers, RLS
//   policies, views/rules and column defaults calling functions outside pg_catalog) are read
//   again and, if they differ, published (router::risky_relations) and logged. A trigger or view
//   created on the primary is thus seen within one check interval (plus the query).
// - Databases with routing.enabled false get no topology and no replica is polled; their
//   primary is still asked for the risky relations each check interval, for transaction
//   pooling's isolation (one connection, application_name pgrelay-health).
// - Servers are polled one after another: a refused connection fails at once, but a
//   black-holed address costs up to connect_timeout (2s) per round for its database.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pgrelay/conf/config.hpp"
#include "pgrelay/router/hidden_code.hpp"
#include "pgrelay/router/live_positions.hpp"
#include "pgrelay/router/topology.hpp"

namespace pgrelay::proxy {

class position_prober;

class health_checker {
 public:
  using publish_fn = std::function<void(router::topology_ptr)>;
  using publish_relations_fn =
      std::function<void(const std::string& db, std::shared_ptr<const router::risky_relations>)>;

  // `publish` is called from the checker's thread after every round of a routed database;
  // `publish_relations` when a database's risky relations were read for the first time or changed.
  health_checker(std::shared_ptr<const conf::config> cfg, publish_fn publish,
                 publish_relations_fn publish_relations = {});
  ~health_checker();  // stops
  health_checker(const health_checker&) = delete;
  health_checker& operator=(const health_checker&) = delete;

  void start();
  // DDL went through: the next round of every database re-reads the volatile functions.
  // Callable from any thread.
  void functions_may_have_changed();
  // Wakes the thread and joins it: returns once the server round in progress (if any) ends.
  void stop();

  // The latest topology published for a database (client-facing name); null before the first.
  router::topology_ptr snapshot(const std::string& db) const;

 private:
  struct database_state;

  void run();
  // One database's round, when it is due (or the functions are stale); false when stop()
  // cut the round short.
  bool check(database_state& db, bool functions_stale, const std::function<bool()>& is_stopping);
  void publish_topology(const std::string& db, router::topology_ptr topo);
  void wait_until_due(const std::vector<database_state>& dbs);
  bool stopping() const;
  void publish_risky(const std::string& db, std::shared_ptr<const router::risky_relations> risky);

  std::shared_ptr<const conf::config> cfg_;
  publish_fn publish_;
  publish_relations_fn publish_relations_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::atomic<bool> functions_stale_{false};
  std::map<std::string, router::topology_ptr> latest_;
  // Per routed database with replicas, made before start() and never changed after: the
  // positions its prober publishes (every topology of it points to them) and the prober.
  std::map<std::string, std::shared_ptr<router::live_positions>> live_;
  std::vector<std::unique_ptr<position_prober>> probers_;
};

}  // namespace pgrelay::proxy
