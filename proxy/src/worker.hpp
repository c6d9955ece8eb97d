// One shared-nothing worker: an io_context on its own thread with its own listeners and pools.
// What workers share (config, users, cancel keys, pool budgets) lives in shared_state.
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>

#include "cancel_registry.hpp"
#include "net.hpp"
#include "pgrelay/conf/config.hpp"
#include "pgrelay/conf/users.hpp"
#include "pgrelay/core/prepared_statements.hpp"
#include "pgrelay/router/cache_key.hpp"
#include "pgrelay/router/classify.hpp"
#include "pgrelay/router/function_catalog.hpp"
#include "pgrelay/router/route.hpp"
#include "pgrelay/router/session_effects.hpp"
#include "pgrelay/router/topology.hpp"
#include <tuple>
#include "pool.hpp"
#include <unordered_map>

namespace pgrelay::proxy {

using users_map = std::map<std::string, conf::user_entry>;

struct shared_state {
  std::shared_ptr<const conf::config> config;
  std::shared_ptr<const users_map> users;
  cancel_registry cancels;
  std::size_t worker_count = 1;
  std::atomic<std::uint64_t> clients_total{0};
  std::atomic<bool> shutting_down{false};
  std::atomic<std::uint64_t> replication_connections{0};
  std::atomic<std::uint64_t> replica_fallbacks{0};  // reads retried on the primary
  std::array<std::atomic<std::uint64_t>, 7> pins_by_reason{};  // indexed by pin_reason
  std::array<std::atomic<std::uint64_t>, router::route_reason_count> routes_by_reason{};  // indexed by router::route_reason

  // The health checker, while one runs: workers tell it when DDL went through.
  std::atomic<class health_checker*> checker{nullptr};

  std::shared_ptr<pool_budget> budget_for(const std::string& database, const std::string& user);

 private:
  std::mutex budgets_mutex_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<pool_budget>> budgets_;
};

class worker {
  // Declared before io_ so they outlive it: destroying io_ destroys the session coroutines,
  // which may still hand servers back to their pools.
  std::map<std::tuple<std::string, std::string, std::string>, std::unique_ptr<pool>> pools_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<core::statement_registry>> registries_;
  std::map<std::string, router::topology_ptr> topologies_;
  struct catalog_entry {
    router::topology_ptr from;
    std::shared_ptr<const conf::config> config;
    router::function_catalog catalog;
  };
  std::map<std::string, catalog_entry> catalogs_;
  struct rules_entry {
    std::shared_ptr<const conf::config> config;
    std::vector<router::routing_rule> rules;
  };
  std::map<std::string, rules_entry> rules_;
  std::vector<std::shared_ptr<void>> listeners_;
  std::shared_ptr<const conf::config> config_;

 public:
  worker(std::size_t index, shared_state& shared);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  // The pool for a client of `database` as `user` on server `target` ("primary" or a replica's
  // name), created on first use; nullptr if the database or server is not configured.
  pool* pool_for(const std::string& database, const std::string& user, const std::string& target = "primary");
  // Named statements of a (database, user)'s clients, shared across its servers.
  core::statement_registry& statements_for(const std::string& database, const std::string& user);
  // The checker's latest view of a database, or nullptr before its first report.
  const router::topology* topology_for(const std::string& database) const;
  void set_topology(router::topology_ptr t);
  // Function catalog: built-in list, volatile functions learned by the latest topology, and the
  // database's YAML overrides.
  const router::function_catalog& catalog_for(const std::string& database);
  // The database's routing rules in the router's terms (rebuilt when the config changes).
  std::span<const router::routing_rule> rules_for(const std::string& database);
  // The configuration this worker serves now; replaced on reload (on this worker's loop).
  const std::shared_ptr<const conf::config>& current_config() const { return config_; }
  void set_config(std::shared_ptr<const conf::config> cfg);
  void start_listening();
  void run();  // blocks: the worker's event loop
  void stop();

  asio::io_context io_{1};
  // Session effects by statement text (bounded): the parser runs once per distinct text.
  std::unordered_map<std::string, router::session_effects> effects_cache_;
  // Classifications by literal-free statement text, emptied when the function catalog changes.
  router::classification_cache classify_cache_;
  std::uint64_t route_counter_ = 0;  // spreads reads over replicas
  shared_state& shared_;
  std::size_t index_;

};

}  // namespace pgrelay::proxy
