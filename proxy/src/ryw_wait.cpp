// The slow paths of routing a read: waiting a few milliseconds for a replica to replay the
// writes a read must see (routing.read_your_writes_wait), and taking back a read a replica
// refused so that the primary answers it (the decision itself is core::classify_replica_answer).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "client_session.hpp"
#include "pgrelay/core/unit_classification.hpp"
#include "health_checker.hpp"
#include "pgrelay/protocol/frame.hpp"
#include "pgrelay/protocol/messages.hpp"
#include "pgrelay/router/called_functions.hpp"
#include "pgrelay/router/live_positions.hpp"
#include "worker.hpp"

namespace pgrelay::proxy {

namespace pr = pgrelay::protocol;

namespace {

// The first look soon (a replica on the same network replays within a millisecond or two), then
// less and less often: a read that waits the whole budget costs a handful of timer wake-ups,
// not one per 200 µs.
constexpr auto first_replay_poll = std::chrono::microseconds(200);
constexpr auto max_replay_poll = std::chrono::microseconds(2000);

}  // namespace

awaitable<router::decision> client_session::wait_for_replay(const router::classification& unit,
                                                            router::session_view view, std::int64_t shared_write,
                                                            std::uint64_t pick, router::decision d) {
  const auto deadline = clock::now() + links().db().routing.read_your_writes_wait;
  // Held here: a topology published during the wait replaces the session's topology, not these positions.
  auto live = links().topology()->live;
  io_timer timer(socket_.get_executor());
  clock::duration gap = first_replay_poll;
  for (;;) {
    live->want(view.min_lsn == core::write_floor::unknown ? 0 : view.min_lsn);
    const auto now = clock::now();
    if (now >= deadline) co_return d;
    timer.expires_at(std::min(deadline, now + gap));
    gap = std::min<clock::duration>(gap * 2, max_replay_poll);
    co_await timer.async_wait(use_tuple);
    if (links().stale(config_.get())) links().refresh(*config_, *stats_);
    if (!links().topology() || !links().ryw_active()) co_return d;
    view.min_lsn = core_.routing.floor.floor(links().topology().get(), shared_write);
    const auto& db = links().db();
    router::routing_settings settings{db.routing.enabled, links().ryw_active(),
                                      db.routing.fallback == conf::no_replica_fallback::primary, links().rules()};
    d = router::route(unit, view, links().topology().get(), settings, clock::now(), pick);
    if (d.reason != router::route_reason::read_your_writes) co_return d;
  }
}

core::replica_refusal client_session::replica_refused() const {
  // Only an autocommit read held back whole, of which nothing reached the client, and of which
  // the saved copy holds all the replica was sent.
  if (!server_ || !core_.running().replay.may_judge_refusal(pool_ != primary_pool_)) return core::replica_refusal::none;
  return core::classify_replica_answer(server_->read_buf().data());
}

void client_session::learn_from_refusal() {
  const bool read_only = core_.routing.refusal == core::replica_refusal::read_only;
  ++stats_->routes[static_cast<std::size_t>(read_only ? router::route_reason::retried_read_only
                                                      : router::route_reason::retried_recovery_conflict)];
  worker_.shared().replica_fallbacks.fetch_add(1, std::memory_order_relaxed);
  if (!read_only) {
    spdlog::info("client {}: replica {} cancelled a read (conflict with recovery); retrying on the primary", peer_,
                 server_->address().to_string());
    return;
  }
  // The statement wrote through a function not known as writing: every function it calls
  // counts as writing from now on, on every worker, and the catalogue is read again.
  std::vector<std::string> names;
  std::string_view data = core_.running().replay.bytes();
  std::size_t pos = 0;
  bool parsed_unnamed = false;
  while (pos < data.size()) {
    auto r = pr::decode_frame(data.substr(pos));
    if (r.status != pr::decode_status::ok) break;
    pos += r.msg.size();
    auto text = core::statement_text(r.msg, parsed_unnamed, [this](std::string_view name) { return prepared_sql(name); });
    if (!text.sql) continue;
    for (auto& n : router::user_functions_called(*text.sql)) {
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(std::move(n));
    }
  }
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  spdlog::info("client {}: replica {} refused a read as writing (25006); retrying on the primary; functions now "
               "known as writing: {}", peer_, server_->address().to_string(), list.empty() ? "none found" : list);
  if (!names.empty()) {
    for (auto* w : worker_.shared().workers) {
      if (w == &worker_) {
        w->learn_writing_functions(core_.who.database, names);
      } else {
        asio::post(w->io(), [w, db = core_.who.database, names] { w->learn_writing_functions(db, names); });
      }
    }
  }
  if (auto* checker = worker_.shared().checker.load(std::memory_order_relaxed)) checker->functions_may_have_changed();
}

}  // namespace pgrelay::proxy
