// Worker: pools are created lazily per (database, user); budgets are shared across workers.
#include "worker.hpp"

#include <spdlog/spdlog.h>

#include "listener.hpp"

namespace pgrelay::proxy {

std::shared_ptr<pool_budget> shared_state::budget_for(const std::string& database, const std::string& user) {
  std::lock_guard lock(budgets_mutex_);
  auto& b = budgets_[{database, user}];
  if (!b) b = std::make_shared<pool_budget>();
  return b;
}

worker::worker(std::size_t index, shared_state& shared) : shared_(shared), index_(index) {}

pool* worker::pool_for(const std::string& database, const std::string& user, const std::string& target) {
  auto key = std::make_tuple(database, user, target);
  if (auto it = pools_.find(key); it != pools_.end()) return it->second.get();
  const auto& cfg = *shared_.config;
  auto db = cfg.databases.find(database);
  if (db == cfg.databases.end()) return nullptr;
  const conf::endpoint* address = target == "primary" ? &db->second.primary : nullptr;
  for (const auto& r : db->second.replicas) {
    if (r.name == target) address = &r.address;
  }
  if (!address) return nullptr;
  server_target st{*address, db->second.server_database.empty() ? database : db->second.server_database,
                   db->second.server_user.empty() ? user : db->second.server_user, db->second.server_password, {}};
  auto p = std::make_unique<pool>(io_.get_executor(), database, user, cfg.pool_for(database, user), std::move(st),
                                  shared_.budget_for(database, user + "@" + target), shared_.worker_count > 1);
  auto* raw = p.get();
  pools_.emplace(key, std::move(p));
  asio::co_spawn(io_, raw->maintain(), [database, user](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("pool upkeep for {}/{} stopped: {}", database, user, ex.what());
    }
  });
  return raw;
}

core::statement_registry& worker::statements_for(const std::string& database, const std::string& user) {
  auto& r = registries_[{database, user}];
  if (!r) r = std::make_unique<core::statement_registry>();
  return *r;
}

const router::topology* worker::topology_for(const std::string& database) const {
  auto it = topologies_.find(database);
  return it == topologies_.end() ? nullptr : it->second.get();
}

void worker::set_topology(router::topology_ptr t) {
  auto name = t->database;
  topologies_[name] = std::move(t);
}

const router::function_catalog& worker::catalog_for(const std::string& database) {
  auto& entry = catalogs_[database];
  auto it = topologies_.find(database);
  if (it == topologies_.end()) return router::builtin_functions();
  if (entry.from != it->second) {
    // A new snapshot: rebuild only when the learned function list changed.
    if (!entry.from || entry.from->volatile_functions != it->second->volatile_functions) {
      entry.catalog = router::make_catalog(it->second->volatile_functions, {}, {});
      classify_cache_.clear();
    }
    entry.from = it->second;
  }
  return entry.catalog;
}

// Acceptors close before io_ goes away, whether or not stop() ran.
worker::~worker() { listeners_.clear(); }

void worker::start_listening() {
  const auto& cfg = *shared_.config;
  for (const auto& ep : cfg.listen) {
    if (ep.is_unix() && index_ != 0) continue;  // one acceptor per Unix path
    listeners_.push_back(start_listener(*this, ep));
  }
}

void worker::run() { io_.run(); }

void worker::stop() {
  asio::post(io_, [this] {
    listeners_.clear();
    for (auto& [key, p] : pools_) p->stop();
    io_.stop();
  });
}

}  // namespace pgrelay::proxy
