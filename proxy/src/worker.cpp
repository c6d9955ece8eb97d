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

pool* worker::pool_for(const std::string& database, const std::string& user) {
  auto key = std::make_pair(database, user);
  if (auto it = pools_.find(key); it != pools_.end()) return it->second.get();
  const auto& cfg = *shared_.config;
  auto db = cfg.databases.find(database);
  if (db == cfg.databases.end()) return nullptr;
  server_target target{db->second.primary, db->second.server_database.empty() ? database : db->second.server_database,
                       db->second.server_user.empty() ? user : db->second.server_user, db->second.server_password};
  auto p = std::make_unique<pool>(io_.get_executor(), database, user, cfg.pool_for(database, user), std::move(target),
                                  shared_.budget_for(database, user), shared_.worker_count > 1);
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
