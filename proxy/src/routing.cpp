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
  auto id = core_.statements ? core_.statements->find(name) : std::nullopt;
  const auto* def = id ? registry_->find(*id) : nullptr;
  if (!def) return std::nullopt;
  return std::string_view{def->sql};
}

router::classification client_session::classify_unit() {
  const auto& catalog = links().catalog();
  return core::classify_unit(
      client_io_->in.data(), [this](std::string_view name) { return prepared_sql(name); },
      [&](std::string_view sql, bool simple_query) {
        return worker_.classify(
            sql, catalog, simple_query ? router::lookup_order::key_first : router::lookup_order::text_first);
      });
}

void client_session::follow_reload() {
  const auto& latest = worker_.current_config();
  if (latest != config_ && latest->databases.contains(core_.who.database)) config_ = latest;
}

std::optional<std::chrono::milliseconds> client_session::staleness_budget() {
  auto s = core_.routing.staleness_budget(core_.ledger);
  if (s.ignored_now) spdlog::info("client {}: ignoring pgrelay.max_lag: not a duration (e.g. '2s', '500ms')", peer_);
  return s.budget;
}

pool* client_session::pool_without_routing() {
  core_.routing.routed_without_decision();
  follow_reload();
  if (links().stale(config_.get())) links().refresh(*config_, *stats_);
  if (core_.who.session_mode || !core_.statements) return primary_pool_;
  const auto& db = links().db();
  if (!db.routing.enabled || db.replicas.empty()) return links().primary().to;
  return nullptr;
}

client_session::route_plan client_session::plan_route() {
  const auto& db = links().db();
  // Built in place: a classification assigned into the plan would move its strings.
  route_plan plan{links().topology().get(), classify_unit()};
  const router::routing_settings settings{db.routing.enabled, links().ryw_active(),
                                          db.routing.fallback == conf::no_replica_fallback::primary, links().rules()};
  // Only routing rules look at application_name: no lookup without them.
  std::string_view app;
  if (!settings.rules.empty()) {
    const auto& wanted = core_.ledger.wanted();
    if (auto it = wanted.find(std::string_view{"application_name"}); it != wanted.end()) app = it->second;
  }
  // The scope's writes that finished before this read started: later ones need not be seen.
  plan.shared_write = links().scope_slot() ? links().scope_slot()->load(std::memory_order_acquire) : 0;
  plan.view = router::session_view{core_.routing.floor.floor(plan.topo, plan.shared_write), staleness_budget(),
                                   core_.who.user, app};
  plan.pick = db.routing.balance == conf::replica_balance::session ? core_.routing.pick : worker_.next_route_pick();
  plan.d = router::route(plan.unit, plan.view, plan.topo, settings, clock::now(), plan.pick);
  return plan;
}

bool client_session::waits_for_replay(const route_plan& plan) {
  return plan.d.reason == router::route_reason::read_your_writes && links().db().routing.read_your_writes_wait.count() > 0 &&
         plan.topo && plan.topo->live;
}

session_links::target& client_session::count_route(const router::decision& d, router::route_reason counted) {
  auto& target = d.to_replica ? links().target_for(d.replica) : links().primary();
  ++stats_->routes[static_cast<std::size_t>(counted)];
  ++*target.routed;
  spdlog::debug("client {}: routed to {} ({})", peer_, target.name, router::to_string(d.reason));
  return target;
}

pool* client_session::follow_route(const router::classification& unit, const router::decision& d,
                                   const session_links::target& target) {
  // SET/RESET/DISCARD alone write no WAL the client could later miss on a replica: learning
  // a commit position for them would only keep the client's reads off lagging replicas.
  if (unit.why == router::write_reason::ddl_or_utility) {
    // CREATE/ALTER FUNCTION may have changed what writes: refresh the catalog off the hot path.
    if (auto* checker = worker_.shared().checker.load(std::memory_order_relaxed)) checker->functions_may_have_changed();
  }
  core_.routing.routed(unit, d);
  // An autocommit read may be replayed on the primary if its replica dies before answering.
  if (d.to_replica && !unit.begin) (void)core_.running().replay.keep(client_io_->in.data(), whole_unit_size() > 0);
  return target.to ? target.to : primary_pool_;
}

pool* client_session::route_at_once() {
  auto plan = plan_route();
  if (waits_for_replay(plan) || plan.d.reason == router::route_reason::no_eligible_replica_error) return nullptr;
  return follow_route(plan.unit, plan.d, count_route(plan.d, plan.d.reason));
}

awaitable<pool*> client_session::choose_pool() {
  auto plan = plan_route();
  auto counted = plan.d.reason;
  if (waits_for_replay(plan)) {
    plan.d = co_await wait_for_replay(plan.unit, plan.view, plan.shared_write, plan.pick, std::move(plan.d));
    counted = plan.d.to_replica ? router::route_reason::read_your_writes_waited : plan.d.reason;
  }
  const auto& target = count_route(plan.d, counted);
  if (plan.d.reason == router::route_reason::no_eligible_replica_error) {
    // Answered like any failed statement, so the client may retry later.
    pr::build::error_response(
        client_io_->out, pr::severity::error, pr::sqlstate::cannot_connect_now,
        "no replica of database \"" + core_.who.database + "\" is eligible for reads (lag or health)", {},
        "routing.fallback is error; set it to primary to read from the primary instead");
    pr::build::ready_for_query(client_io_->out, pr::transaction_status::idle);
    client_io_->in.consume(client_io_->in.size());
    (void)co_await write_client({});
    co_return nullptr;
  }
  co_return follow_route(plan.unit, plan.d, target);
}

void client_session::note_write_finished(clock::time_point at) {
  if (!links().ryw_active()) return;
  if (links().scope_slot()) {
    router::atomic_max(*links().scope_slot(), router::ticks(at));
  } else {
    core_.routing.floor.note_own_write(at);
  }
  const auto& topo = links().topology();
  if (topo && topo->live) topo->live->note_write(at);
}

}  // namespace pgrelay::proxy
