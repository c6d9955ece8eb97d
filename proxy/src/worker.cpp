// Worker: pools are created lazily per (database, user); budgets are shared across workers.
#include "worker.hpp"

#include "client_session.hpp"
#include "routing_inputs.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include "listener.hpp"

namespace pgrelay::proxy {

std::shared_ptr<pool_budget> shared_state::budget_for(const std::string& database, const std::string& user) {
  std::lock_guard lock(budgets_mutex_);
  auto& b = budgets_[{database, user}];
  if (!b) b = std::make_shared<pool_budget>();
  return b;
}

std::shared_ptr<core::limit_counter> shared_state::database_limit(const std::string& database) {
  std::lock_guard lock(limits_mutex_);
  auto& c = database_limits_[database];
  if (!c) c = std::make_shared<core::limit_counter>();
  return c;
}

std::shared_ptr<core::limit_counter> shared_state::user_limit(const std::string& user) {
  std::lock_guard lock(limits_mutex_);
  auto& c = user_limits_[user];
  if (!c) c = std::make_shared<core::limit_counter>();
  return c;
}

std::optional<std::string> shared_state::cached_verifier(const std::string& database, const std::string& user,
                                                         conf::duration ttl) {
  std::lock_guard lock(verifiers_mutex_);
  return verifiers_.find(database, user, clock::now(), ttl);
}

void shared_state::cache_verifier(const std::string& database, const std::string& user, const std::string& verifier) {
  std::lock_guard lock(verifiers_mutex_);
  verifiers_.store(database, user, verifier, clock::now());
}

void shared_state::forget_verifier(const std::string& database, const std::string& user) {
  std::lock_guard lock(verifiers_mutex_);
  verifiers_.forget(database, user);
}

namespace {

// Where a pool of `database`/`user` on `target` ("primary" or a replica's name) connects, and as
// whom: server_user (fixed) or the client's own role with its pass-through keys.
std::optional<server_target> target_for(const conf::config& cfg, const tls_ptr& tls, const std::string& database,
                                        const std::string& user, const std::string& target,
                                        const std::shared_ptr<const protocol::scram_passthrough_keys>& keys,
                                        const std::string& keys_source) {
  auto db = cfg.databases.find(database);
  if (db == cfg.databases.end()) return std::nullopt;
  const conf::endpoint* address = target == "primary" ? &db->second.primary : nullptr;
  for (const auto& r : db->second.replicas) {
    if (r.name == target) address = &r.address;
  }
  if (!address) return std::nullopt;
  const bool passthrough = db->second.login == conf::server_login::passthrough;
  server_target t{*address, db->second.server_database.empty() ? database : db->second.server_database,
                  passthrough || db->second.server_user.empty() ? user : db->second.server_user,
                  passthrough ? std::string{} : db->second.server_password,
                  {}, tls, cfg.tls.server_allow_password_without_tls};
  if (passthrough) {
    t.needs_keys = true;
    t.passthrough = keys;
    t.passthrough_source = keys_source;
  }
  return t;
}

// The limits a pool of `database`/`user` counts against.
server_limits limits_for(shared_state& shared, const conf::config& cfg, const std::string& database,
                         const std::string& user) {
  server_limits l;
  l.database = shared.database_limit(database);
  l.user = shared.user_limit(user);
  auto db = cfg.databases.find(database);
  l.database_max = db != cfg.databases.end() && db->second.max_db_connections != 0 ? db->second.max_db_connections
                                                                                   : cfg.max_db_connections;
  l.user_max = cfg.max_user_connections;
  return l;
}

}  // namespace

worker::worker(std::size_t index, shared_state& shared)
    : config_(shared.config), users_(shared.users), tls_(shared.tls), shared_(shared), index_(index) {}

void worker::set_config(std::shared_ptr<const conf::config> cfg, std::shared_ptr<const users_map> users, tls_ptr tls) {
  config_ = std::move(cfg);
  ++routing_epoch_;
  users_ = std::move(users);
  tls_ = std::move(tls);
  // Pools keep their servers; new limits apply from the next checkout. Pools of databases or
  // servers that are gone stay until their clients leave (their sessions hold the old config).
  for (auto& [key, p] : pools_) {
    const auto& [database, user, target] = key;
    const auto& k = login_keys_[{database, user}];
    auto st = target_for(*config_, tls_, database, user, target, k.keys, k.source);
    if (!st) continue;
    p->update_settings(config_->pool_for(database, user));
    p->set_limits(limits_for(shared_, *config_, database, user));
    p->update_target(std::move(*st));
  }
}

void worker::set_login_keys(const std::string& database, const std::string& user,
                            std::shared_ptr<const protocol::scram_passthrough_keys> keys, std::string source) {
  auto& k = login_keys_[{database, user}];
  if (k.keys && keys && *k.keys == *keys && k.source == source) return;
  k.keys = std::move(keys);
  k.source = std::move(source);
  for (auto& [key, p] : pools_) {
    const auto& [db, u, target] = key;
    if (db != database || u != user) continue;
    if (auto st = target_for(*config_, tls_, db, u, target, k.keys, k.source)) p->update_target(std::move(*st));
  }
}

std::unique_ptr<server_connection> worker::take_auth_connection(const std::string& key) {
  auto it = auth_connections_.find(key);
  if (it == auth_connections_.end()) return nullptr;
  auto c = std::move(it->second);
  auth_connections_.erase(it);
  if (c->looks_dead()) return nullptr;
  return c;
}

void worker::keep_auth_connection(const std::string& key, std::unique_ptr<server_connection> c) {
  auto& slot = auth_connections_[key];
  if (slot) {
    c->close();  // one kept per source: concurrent lookups opened more, which go now
    return;
  }
  slot = std::move(c);
}

bool worker::evict_idle_for(const pool& asking) {
  for (auto& [key, p] : pools_) {
    if (p.get() == &asking) continue;
    if (p->database() != asking.database() && p->user() != asking.user()) continue;
    if (p->close_one_idle()) return true;
  }
  return false;
}

pool* worker::pool_for(const std::string& database, const std::string& user, const std::string& target) {
  auto key = std::make_tuple(database, user, target);
  if (auto it = pools_.find(key); it != pools_.end()) return it->second.get();
  const auto& cfg = *config_;
  const auto& k = login_keys_[{database, user}];
  auto st = target_for(cfg, tls_, database, user, target, k.keys, k.source);
  if (!st) return nullptr;
  auto p = std::make_unique<pool>(io_.get_executor(), database, user, cfg.pool_for(database, user), std::move(*st),
                                  shared_.budget_for(database, user + "@" + target), shared_.worker_count > 1);
  p->set_limits(limits_for(shared_, cfg, database, user));
  p->set_evictor([this](const pool& asking) { return evict_idle_for(asking); });
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

router::topology_ptr worker::topology_for(const std::string& database) const {
  auto it = topologies_.find(database);
  return it == topologies_.end() ? nullptr : it->second;
}

void worker::set_topology(router::topology_ptr t) {
  auto name = t->database;
  topologies_[name] = std::move(t);
  ++routing_epoch_;
}

const router::function_catalog& worker::catalog_for(const std::string& database) {
  auto& entry = catalogs_[database];
  auto cfg = current_config();
  auto it = topologies_.find(database);
  router::topology_ptr topo = it == topologies_.end() ? nullptr : it->second;
  if (entry.config == cfg && entry.from == topo) return entry.catalog;
  // A new snapshot arrives every check interval; the catalog (and the classification cache built
  // on it) changes only when the learned functions or the config do.
  static const std::vector<std::string> none;
  const auto& learned = topo ? topo->volatile_functions : none;
  const auto& before = entry.from ? entry.from->volatile_functions : none;
  if (!entry.config || entry.config != cfg || learned != before) {
    auto db = cfg->databases.find(database);
    auto fresh = db == cfg->databases.end() ? router::make_catalog(learned, {}, {})
                                            : function_catalog_for(db->second, topo.get());
    if (auto l = learned_writes_.find(database); l != learned_writes_.end()) fresh.writes.insert(l->second.begin(), l->second.end());
    if (!entry.config || fresh.writes != entry.catalog.writes || fresh.read_only != entry.catalog.read_only) {
      entry.catalog = std::move(fresh);
      classify_cache_.clear();
    }
  }
  entry.from = std::move(topo);
  entry.config = std::move(cfg);
  return entry.catalog;
}

void worker::learn_writing_functions(const std::string& database, const std::vector<std::string>& names) {
  auto& learned = learned_writes_[database];
  bool added = false;
  for (const auto& n : names) added = learned.insert(n).second || added;
  if (!added) return;
  if (auto it = catalogs_.find(database); it != catalogs_.end()) it->second.catalog.writes.insert(names.begin(), names.end());
  classify_cache_.clear();
}

std::span<const router::routing_rule> worker::rules_for(const std::string& database) {
  auto& entry = rules_[database];
  auto cfg = current_config();
  if (entry.config == cfg) return entry.rules;
  entry.config = cfg;
  auto db = cfg->databases.find(database);
  entry.rules = db == cfg->databases.end() ? std::vector<router::routing_rule>{} : router_rules(db->second.routing);
  return entry.rules;
}

// Sockets and timers close before io_ goes away, whether or not stop() ran: io_ is declared
// after the members that own them, so it would be destroyed first.
worker::~worker() {
  listeners_.clear();
  auth_connections_.clear();
  for (auto& [key, p] : pools_) p->stop();
}

void worker::add_session(client_session& s) { sessions_.push_back(s); }

void worker::remove_session(client_session& s) { sessions_.erase(sessions_.iterator_to(s)); }

std::vector<client_session*> worker::all_sessions() {
  std::vector<client_session*> all;
  for (auto& s : sessions_) all.push_back(&s);
  return all;
}

void worker::start_listening() {
  const auto& cfg = *config_;
  for (const auto& ep : cfg.listen) {
    if (ep.is_unix() && index_ != 0) continue;  // one acceptor per Unix path
    listeners_.push_back(start_listener(*this, ep));
  }
}

void worker::run() { io_.run(); }

void worker::start_park_sweep() {
  park_sweep_.emplace(io_);
  sweep_idle_sessions();
}

void worker::sweep_idle_sessions() {
  park_sweep_->expires_after(park_sweep_interval);
  park_sweep_->async_wait([this](error_code ec) {
    if (ec || shared_.shutting_down) return;
    for (auto& s : sessions_) s.offer_park();
    if (index_ == 0) trim_heap_after_logins();
    sweep_idle_sessions();
  });
}

void worker::trim_heap_after_logins() {
  if (!heap_trim_.due(shared_.logins_begun.load(std::memory_order_relaxed),
                      shared_.pending_logins.load(std::memory_order_relaxed)))
    return;
  const auto started = clock::now();
  malloc_trim(0);
  spdlog::debug("heap trimmed after logins in {} us",
                std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - started).count());
}

worker_snapshot worker::snapshot() const {
  worker_snapshot snap;
  const auto now = clock::now();
  std::map<const pool*, pool_view*> by_pool;
  for (const auto& [key, p] : pools_) {
    const auto& [database, user, target] = key;
    pool_view v;
    v.database = database;
    v.user = user;
    v.target = target;
    v.mode = p->settings().mode == conf::pool_mode::session ? "session" : "transaction";
    v.cl_waiting = p->waiting_count();
    v.sv_active = p->active_count();
    v.sv_idle = p->idle_count();
    v.size = p->current_limit();  // the adaptive limit with size: auto
    v.max_clients = p->settings().max_clients;
    v.maxwait_us = static_cast<std::uint64_t>(p->oldest_wait(now).count());
    snap.pools.push_back(std::move(v));
    for (const auto& s : p->idle_servers()) {
      snap.servers.push_back(server_view{database, user, target, s->address().to_string(), "idle", s->backend_pid(), s->id(),
                                         std::chrono::duration<double>(now - s->created()).count(),
                                         tls_description(s->stream().native())});
    }
  }
  for (std::size_t i = 0; i < snap.pools.size(); ++i) {
    auto it = pools_.find({snap.pools[i].database, snap.pools[i].user, snap.pools[i].target});
    by_pool[it->second.get()] = &snap.pools[i];
  }
  for (const auto& session : sessions_) {
    const auto* s = &session;
    auto v = s->view();
    if (v.database.empty()) continue;  // still logging in
    if (auto it = by_pool.find(s->home_pool()); it != by_pool.end() && v.state != "waiting") ++it->second->cl_active;
    if (const auto* srv = s->server()) {
      auto it = by_pool.find(s->server_pool());
      server_view sv{v.database, v.user, it != by_pool.end() ? it->second->target : "", srv->address().to_string(), "active",
                     srv->backend_pid(), srv->id(), std::chrono::duration<double>(now - srv->created()).count(),
                     tls_description(srv->stream().native())};
      snap.servers.push_back(std::move(sv));
    }
    snap.clients.push_back(std::move(v));
  }
  snap.stats = stats_;
  snap.topologies = topologies_;
  return snap;
}

void worker::resume(const std::string& database) {
  if (database.empty()) {
    paused_.clear();
  } else {
    paused_.erase(database);
  }
}

std::size_t worker::sessions_with_server(const std::string& database) const {
  std::size_t n = 0;
  for (const auto& s : sessions_) {
    if (s.holds_server() && (database.empty() || s.database() == database)) ++n;
  }
  return n;
}

void worker::kill(const std::string& database) {
  std::vector<client_session*> victims;
  for (auto& s : sessions_) {
    if (s.database() == database) victims.push_back(&s);
  }
  for (auto* s : victims) s->terminate("terminating connection due to administrator command (KILL)");
  for (auto& [key, p] : pools_) {
    if (std::get<0>(key) == database) p->close_idle();
  }
}

void worker::terminate_all() {
  const auto all = all_sessions();
  for (auto* s : all) s->terminate("terminating connection due to administrator command");
}

void worker::begin_shutdown() {
  listeners_.clear();
  if (park_sweep_) park_sweep_->cancel();  // else the loop never runs out of work
  const auto all = all_sessions();
  for (auto* s : all) s->on_shutdown();
}

void worker::stop() {
  asio::post(io_, [this] {
    listeners_.clear();
    if (park_sweep_) park_sweep_->cancel();
    // A compactly parked session keeps itself alive: no pending operation of Asio's holds it.
    const auto all = all_sessions();
    for (auto* s : all) s->drop_compact_park();
    for (auto& [key, p] : pools_) p->stop();
    io_.stop();
  });
}

worker::effects_entry& worker::effects_of(std::string_view sql) {
  auto it = effects_cache_.find(sql);
  if (it != effects_cache_.end()) return it->second;
  if (effects_cache_.size() >= 4096) effects_cache_.clear();
  effects_entry entry;
  entry.fx = router::analyze_session_effects(sql, &entry.relations);
  return effects_cache_.emplace(std::string(sql), std::move(entry)).first->second;
}

std::shared_ptr<protocol::scram_login_secret> worker::login_secret(std::string_view verifier) {
  if (auto it = login_secrets_.find(verifier); it != login_secrets_.end()) return it->second;
  auto parsed = protocol::parse_scram_verifier(verifier);
  if (!parsed) return nullptr;
  // Bounded like the other per-text caches: auth.query may name many roles over time, and a
  // changed password leaves its old verifier behind.
  if (login_secrets_.size() >= 1024) login_secrets_.clear();
  auto secret = std::make_shared<protocol::scram_login_secret>(std::move(*parsed));
  login_secrets_.emplace(std::string(verifier), secret);
  return secret;
}

}  // namespace pgrelay::proxy
