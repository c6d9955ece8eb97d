// Where a request unit goes: the router classifies its statements and picks the primary or an
// eligible replica; after a write, the client's reads wait for replicas to replay its commit.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

#include "client_session.hpp"
#include "pgrelay/core/unit_classification.hpp"
#include "pgrelay/protocol/errors.hpp"
#include "pgrelay/protocol/writer.hpp"
#include "pgrelay/router/cache_key.hpp"
#include "pgrelay/router/live_positions.hpp"
#include "pgrelay/router/route.hpp"
#include "health_checker.hpp"
#include "pool.hpp"
#include "worker.hpp"

namespace pgrelay::proxy {

namespace pr = pgrelay::protocol;

std::optional<std::string_view> client_session::prepared_sql(std::string_view name) const {
  auto id = statements_ ? statements_->find(name) : std::nullopt;
  const auto* def = id ? registry_->find(*id) : nullptr;
  if (!def) return std::nullopt;
  return std::string_view{def->sql};
}

router::classification client_session::classify_unit() {
  const auto& catalog = *routes_.catalog;
  return core::classify_unit(
      in_.data(), [this](std::string_view name) { return prepared_sql(name); },
      [&](std::string_view sql) { return worker_.classify(sql, catalog); });
}

void client_session::follow_reload() {
  const auto& latest = worker_.current_config();
  if (latest != config_ && latest->databases.contains(database_)) config_ = latest;
}

std::optional<std::chrono::milliseconds> client_session::staleness_budget() {
  const auto* set = ledger_.replayed_set("pgrelay.max_lag");
  if (!set) return std::nullopt;
  if (*set != staleness_sql_) {
    // Parsed once per distinct SET; a value that is not a duration sets no budget.
    staleness_sql_ = *set;
    staleness_ = router::parse_staleness(router::analyze_session_effects(staleness_sql_).set_value);
    if (!staleness_) spdlog::info("client {}: ignoring pgrelay.max_lag: not a duration (e.g. '2s', '500ms')", peer_);
  }
  return staleness_;
}

void client_session::refresh_routes() {
  auto& r = routes_;
  r.epoch = worker_.routing_epoch();
  r.config = config_.get();
  r.db = &db_config();
  r.topo = worker_.topology_for(database_);
  r.catalog = &worker_.catalog_for(database_);
  r.rules = worker_.rules_for(database_);
  r.targets.clear();
  (void)route_target_for(r.topo ? r.topo->primary_name : std::string("primary"));
  const auto scope = r.db->routing.read_your_writes;
  // A session-mode client reads only from the primary, but its writes count for the other
  // users of the database (a migrator's, say); for its own user they would change nothing.
  const bool counted = !session_mode_ || scope == conf::read_your_writes_scope::database;
  ryw_active_ = counted && r.db->routing.enabled && scope != conf::read_your_writes_scope::off &&
                !r.db->replicas.empty();
  // The slot's lookup takes a lock: once per configuration, not at every topology.
  if (slot_config_ == r.config) return;
  slot_config_ = r.config;
  scope_slot_ = nullptr;
  if (ryw_active_ && scope == conf::read_your_writes_scope::user) scope_slot_ = &worker_.shared().floors.slot(database_, user_);
  if (ryw_active_ && scope == conf::read_your_writes_scope::database) scope_slot_ = &worker_.shared().floors.slot(database_, {});
}

client_session::route_target& client_session::route_target_for(const std::string& name) {
  for (auto& t : routes_.targets) {
    if (t.name == name) return t;
  }
  return routes_.targets.emplace_back(route_target{name, worker_.pool_for(database_, user_, name), &stats_->routes_to[name]});
}

pool* client_session::pool_without_routing() {
  unit_may_write_ = true;
  follow_reload();
  if (routes_.epoch != worker_.routing_epoch() || routes_.config != config_.get()) refresh_routes();
  if (session_mode_ || !statements_) return primary_pool_;
  const auto& db = *routes_.db;
  if (!db.routing.enabled || db.replicas.empty()) return routes_.targets[0].to;
  return nullptr;
}

awaitable<pool*> client_session::choose_pool() {
  const auto& db = *routes_.db;
  const auto* topo = routes_.topo.get();

  auto unit = classify_unit();
  router::routing_settings settings{db.routing.enabled, ryw_active_,
                                    db.routing.fallback == conf::no_replica_fallback::primary, routes_.rules};
  const auto& wanted = ledger_.wanted();
  auto app = wanted.find(std::string_view{"application_name"});
  // The scope's writes that finished before this read started: later ones need not be seen.
  const std::int64_t shared_write = scope_slot_ ? scope_slot_->load(std::memory_order_acquire) : 0;
  router::session_view view{write_floor_.floor(routes_.topo.get(), shared_write), staleness_budget(), user_,
                            app == wanted.end() ? std::string_view{} : std::string_view{app->second}};
  const auto pick = db.routing.balance == conf::replica_balance::session ? route_pick_ : worker_.next_route_pick();
  auto d = router::route(unit, view, topo, settings, clock::now(), pick);
  auto counted = d.reason;
  if (d.reason == router::route_reason::read_your_writes && db.routing.read_your_writes_wait.count() > 0 && topo &&
      topo->live) {
    d = co_await wait_for_replay(unit, view, shared_write, pick, std::move(d));
    counted = d.to_replica ? router::route_reason::read_your_writes_waited : d.reason;
  }
  auto& target = d.to_replica ? route_target_for(d.replica) : routes_.targets[0];
  ++stats_->routes[static_cast<std::size_t>(counted)];
  ++*target.routed;
  spdlog::debug("client {}: routed to {} ({})", peer_, target.name, router::to_string(d.reason));
  if (d.reason == router::route_reason::no_eligible_replica_error) {
    // Answered like any failed statement, so the client may retry later.
    pr::build::error_response(out_, pr::severity::error, pr::sqlstate::cannot_connect_now,
                              "no replica of database \"" + database_ + "\" is eligible for reads (lag or health)",
                              {}, "routing.fallback is error; set it to primary to read from the primary instead");
    pr::build::ready_for_query(out_, pr::transaction_status::idle);
    in_.consume(in_.size());
    (void)co_await write_client({});
    co_return nullptr;
  }
  // SET/RESET/DISCARD alone write no WAL the client could later miss on a replica: learning
  // a commit position for them would only keep the client's reads off lagging replicas.
  if (unit.why == router::write_reason::ddl_or_utility) {
    // CREATE/ALTER FUNCTION may have changed what writes: refresh the catalog off the hot path.
    if (auto* checker = worker_.shared().checker.load(std::memory_order_relaxed)) checker->functions_may_have_changed();
  }
  unit_may_write_ = !d.to_replica && (unit.begin || unit.kind == router::statement_kind::write ||
                                      unit.kind == router::statement_kind::parse_error);
  // An autocommit read may be replayed on the primary if its replica dies before answering.
  if (d.to_replica && !unit.begin) (void)replay_.keep(in_.data(), whole_unit_size() > 0);
  co_return target.to ? target.to : primary_pool_;
}

void client_session::note_write_finished(clock::time_point at) {
  if (!ryw_active_) return;
  if (scope_slot_) {
    router::atomic_max(*scope_slot_, router::ticks(at));
  } else {
    write_floor_.note_own_write(at);
  }
  if (routes_.topo && routes_.topo->live) routes_.topo->live->note_write(at);
}

}  // namespace pgrelay::proxy
