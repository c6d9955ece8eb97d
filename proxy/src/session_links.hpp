// What a client session looks up in its worker, kept until the worker's configuration or
// topology moves (its routing and risky epochs) rather than looked up per statement: the
// routing snapshot and the pools it names, whether read-your-writes applies and its shared
// slot, and the database's risky relations. Pools live as long as the worker and routes_to's
// nodes as long as its stats, so the pointers stay valid.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "pgrelay/conf/config.hpp"
#include "pgrelay/core/client_identity.hpp"
#include "pgrelay/router/function_catalog.hpp"
#include "pgrelay/router/hidden_code.hpp"
#include "pgrelay/router/route.hpp"
#include "pgrelay/router/topology.hpp"

namespace pgrelay::proxy {

class worker;
class pool;
struct database_stats;

class session_links {
 public:
  struct target {
    std::string name;
    pool* to = nullptr;               // nullptr: no pool for it (the primary pool is used)
    std::uint64_t* routed = nullptr;  // stats.routes_to[name]
  };

  // `who` outlives this object (both belong to one session).
  session_links(worker& w, const core::client_identity& who) : worker_(w), who_(who) {}

  // True when `config` or the worker's routing moved since refresh().
  bool stale(const conf::config* config) const;
  // Looks everything up again for a session following `config` and counting in `stats`.
  void refresh(const conf::config& config, database_stats& stats);
  // The target named `name`, added on first use. [0], primary(), is the primary.
  target& target_for(const std::string& name);
  target& primary() { return targets_[0]; }

  const conf::database_config& db() const { return *db_; }
  // Owned: the relay reads it (a write's position) after newer snapshots replaced it in the
  // worker, and the worker keeps an old snapshot only until another session refreshes.
  const router::topology_ptr& topology() const { return topo_; }
  const router::function_catalog& catalog() const { return *catalog_; }
  std::span<const router::routing_rule> rules() const { return rules_; }
  // Read-your-writes applies to this session.
  bool ryw_active() const { return ryw_active_; }
  // Scopes user and database: the shared slot of the scope (write_floors); else nullptr.
  std::atomic<std::int64_t>* scope_slot() const { return scope_slot_; }
  // This database's relations whose use runs user code; null until the checker first read them.
  const router::risky_relations* risky_relations();

 private:
  worker& worker_;
  const core::client_identity& who_;
  database_stats* stats_ = nullptr;
  std::uint64_t epoch_ = 0;  // the worker's routing epoch at refresh(); 0: not filled yet
  const conf::config* config_ = nullptr;
  const conf::database_config* db_ = nullptr;
  router::topology_ptr topo_;
  const router::function_catalog* catalog_ = nullptr;
  std::span<const router::routing_rule> rules_;
  std::vector<target> targets_;
  bool ryw_active_ = false;
  std::atomic<std::int64_t>* scope_slot_ = nullptr;
  const conf::config* slot_config_ = nullptr;  // the configuration scope_slot_ was found for
  const router::risky_relations* risky_ = nullptr;  // valid while risky_epoch_ is the worker's
  std::uint64_t risky_epoch_ = 0;
};

}  // namespace pgrelay::proxy
