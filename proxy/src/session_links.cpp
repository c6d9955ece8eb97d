#include "session_links.hpp"

#include "worker.hpp"

namespace pgrelay::proxy {

bool session_links::stale(const conf::config* config) const {
  return epoch_ != worker_.routing_epoch() || config_ != config;
}

void session_links::refresh(const conf::config& config, database_stats& stats) {
  stats_ = &stats;
  epoch_ = worker_.routing_epoch();
  config_ = &config;
  db_ = &config.databases.at(who_.database);
  topo_ = worker_.topology_for(who_.database);
  catalog_ = &worker_.catalog_for(who_.database);
  rules_ = worker_.rules_for(who_.database);
  targets_.clear();
  (void)target_for(topo_ ? topo_->primary_name : std::string("primary"));
  const auto scope = db_->routing.read_your_writes;
  // A session-mode client reads only from the primary, but its writes count for the other
  // users of the database (a migrator's, say); for its own user they would change nothing.
  const bool counted = !who_.session_mode || scope == conf::read_your_writes_scope::database;
  ryw_active_ = counted && db_->routing.enabled && scope != conf::read_your_writes_scope::off &&
                !db_->replicas.empty();
  // The slot's lookup takes a lock: once per configuration, not at every topology.
  if (slot_config_ == config_) return;
  slot_config_ = config_;
  scope_slot_ = nullptr;
  auto& floors = worker_.shared().floors;
  if (ryw_active_ && scope == conf::read_your_writes_scope::user) scope_slot_ = &floors.slot(who_.database, who_.user);
  if (ryw_active_ && scope == conf::read_your_writes_scope::database) scope_slot_ = &floors.slot(who_.database, {});
}

session_links::target& session_links::target_for(const std::string& name) {
  for (auto& t : targets_) {
    if (t.name == name) return t;
  }
  return targets_.emplace_back(
      target{name, worker_.pool_for(who_.database, who_.user, name), &stats_->routes_to[name]});
}

const router::risky_relations* session_links::risky_relations() {
  if (risky_epoch_ != worker_.risky_epoch()) {
    risky_ = worker_.risky_relations_for(who_.database);
    risky_epoch_ = worker_.risky_epoch();
  }
  return risky_;
}

}  // namespace pgrelay::proxy
